import type { RoutePolicy } from '../access/route-policy.js';
import type { RouteRequirement } from '../access/route-requirements.js';

/**
 * How a route is guarded, as the document describes it:
 * - `public`: `@Public()`, open even under `global: true`;
 * - `open`: no identity decorator, no guard of ours (without `global: true`): left as the app documents it;
 * - `authenticated`: a valid token is needed, and maybe scopes, roles or a kind of identity.
 */
export type RouteAccess = 'public' | 'open' | 'authenticated';

export interface RouteSecurity {
  readonly access: RouteAccess;
  /**
   * OAuth2 scopes, as alternatives: a token holding every scope of any one set is let in (scope-wise).
   * `[[]]` when the route needs no scope; empty unless `access` is `authenticated`.
   */
  readonly scopeSets: readonly (readonly string[])[];
  /** Every requirement the guard checks (decorators, then a guard's own), for the `x-identity-requirements` extension. */
  readonly requirements: readonly RouteRequirement[];
  /** Whether the route can answer 403 (a scope, a role or a kind of identity is required). */
  readonly mayForbid: boolean;
}

/** How a route's guards were found to apply, beside its decorators. */
export interface RouteGuarding {
  /** The module's `global: true`: every undecorated route needs a token. */
  readonly global: boolean;
  /** `@UseGuards(IdentityGuard)` (or a subclass that always authenticates) on the route or its controller. */
  readonly alwaysAuthenticates?: boolean;
  /** Requirements a guard checks from configuration rather than decorators (the admin guard's scope). */
  readonly guardRequirements?: readonly RouteRequirement[];
}

/** Above this many alternatives (products of `{ any: [...] }` requirements), only the scopes every alternative needs are listed. */
export const MAX_SCOPE_ALTERNATIVES = 32;

/** What a route demands, from the policy our guard reads (`routePolicy`) and the guards found on it. */
export function routeSecurity(policy: RoutePolicy, guarding: RouteGuarding): RouteSecurity {
  if (policy.isPublic) return Object.freeze({ access: 'public', scopeSets: [], requirements: [], mayForbid: false });
  const requirements = [...policy.requirements, ...(guarding.guardRequirements ?? [])];
  const authenticated = guarding.global || guarding.alwaysAuthenticates === true || requirements.length > 0;
  if (!authenticated) return Object.freeze({ access: 'open', scopeSets: [], requirements: [], mayForbid: false });
  return Object.freeze({
    access: 'authenticated',
    scopeSets: scopeAlternatives(requirements),
    requirements: Object.freeze(requirements),
    mayForbid: requirements.some((r) => r.type !== 'authenticated' || r.kind !== undefined),
  });
}

/**
 * The scope sets that satisfy every scope requirement: `@RequireScope('a', 'b')` adds both to each
 * set, `@RequireScope({ any: ['a', 'b'] })` doubles the sets (one with `a`, one with `b`). Sets are
 * sorted and deduplicated; a set that contains another is dropped (the smaller one suffices).
 */
export function scopeAlternatives(requirements: readonly RouteRequirement[]): readonly (readonly string[])[] {
  let sets: string[][] = [[]];
  const common = new Set<string>();
  for (const requirement of requirements) {
    if (requirement.type !== 'scope') continue;
    if (requirement.mode === 'all' || requirement.values.length === 1) {
      for (const value of requirement.values) common.add(value);
      sets = sets.map((set) => [...set, ...requirement.values]);
    } else {
      sets = sets.flatMap((set) => requirement.values.map((value) => [...set, value]));
    }
    if (sets.length > MAX_SCOPE_ALTERNATIVES * 4) break;
  }
  let unique = dedupe(sets);
  if (unique.length > MAX_SCOPE_ALTERNATIVES) unique = [[...common].sort()];
  return Object.freeze(unique.map((set) => Object.freeze(set)));
}

function dedupe(sets: string[][]): string[][] {
  const normalised = new Map<string, string[]>();
  for (const set of sets) {
    const sorted = [...new Set(set)].sort();
    normalised.set(sorted.join(' '), sorted);
  }
  const all = [...normalised.values()].sort((a, b) => a.length - b.length || a.join(' ').localeCompare(b.join(' ')));
  // A set that includes a smaller one adds nothing: whoever holds it also holds the smaller one.
  return all.filter((set, index) => !all.slice(0, index).some((smaller) => smaller.length < set.length && smaller.every((s) => set.includes(s))));
}
