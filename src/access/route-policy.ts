import type { Reflector } from '@nestjs/core';
import { InsufficientScopeError } from '../errors/insufficient-scope.error.js';
import type { Identity } from '../identity/identity.js';
import { IDENTITY_PUBLIC, IDENTITY_REQUIREMENTS, type RouteRequirement } from './route-requirements.js';

/** What a route demands, computed once per handler. */
export interface RoutePolicy {
  readonly isPublic: boolean;
  readonly requirements: readonly RouteRequirement[];
}

const policies = new WeakMap<object, WeakMap<object, RoutePolicy>>();


/** Reads (and memoises per controller class and handler) the decorators of a route. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export function routePolicy(reflector: Reflector, controller: Function, handler: Function): RoutePolicy {
  let byHandler = policies.get(controller);
  if (!byHandler) policies.set(controller, (byHandler = new WeakMap()));
  let policy = byHandler.get(handler);
  if (!policy) {
    const onClass = (reflector.get<RouteRequirement[]>(IDENTITY_REQUIREMENTS, controller) ?? []);
    const onHandler = (reflector.get<RouteRequirement[]>(IDENTITY_REQUIREMENTS, handler) ?? []);
    const handlerPublic = reflector.get<boolean>(IDENTITY_PUBLIC, handler) === true;
    const classPublic = reflector.get<boolean>(IDENTITY_PUBLIC, controller) === true;
    // A public method overrides its controller; a public controller yields to a method's own demands.
    const isPublic = handlerPublic || (classPublic && onHandler.length === 0);
    policy = Object.freeze({ isPublic, requirements: Object.freeze(isPublic ? [] : [...onClass, ...onHandler]) });
    byHandler.set(handler, policy);
  }
  return policy;
}

/** Throws 403 insufficient_scope for the first requirement the identity does not meet. */
export function authorize(identity: Identity, requirements: readonly RouteRequirement[]): void {
  for (const requirement of requirements) {
    if (requirement.type === 'authenticated') {
      if (requirement.kind && requirement.kind !== identity.kind) {
        throw new InsufficientScopeError(undefined, requirement.kind === 'service' ? 'This route is for service accounts only' : 'This route is for users only');
      }
      continue;
    }
    const held = requirement.type === 'scope' ? identity.scopes : identity.roles;
    const ok = requirement.mode === 'all' ? requirement.values.every((v) => held.has(v)) : requirement.values.some((v) => held.has(v));
    if (ok) continue;
    const noun = requirement.type === 'scope' ? 'scope' : 'role';
    const missing = requirement.mode === 'all' ? requirement.values.filter((v) => !held.has(v)) : requirement.values;
    const description = requirement.mode === 'all' ? `Missing required ${noun}: ${missing.join(' ')}` : `Requires one of the ${noun}s: ${missing.join(' ')}`;
    throw new InsufficientScopeError(requirement.type === 'scope' ? routeScopes(requirements) : undefined, description);
  }
}

/** Every scope the route names (class and method decorators together): the `scope` of a 403 challenge (RFC 6750 §3, MCP). */
function routeScopes(requirements: readonly RouteRequirement[]): string {
  const scopes = new Set<string>();
  for (const requirement of requirements) if (requirement.type === 'scope') for (const value of requirement.values) scopes.add(value);
  return [...scopes].join(' ');
}
