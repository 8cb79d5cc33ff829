import { describe, expect, it } from 'vitest';
import type { RoutePolicy } from '../access/route-policy.js';
import { toRequirement, type RouteRequirement } from '../access/route-requirements.js';
import { MAX_SCOPE_ALTERNATIVES, routeSecurity, scopeAlternatives } from './route-security.js';

const policy = (requirements: RouteRequirement[], isPublic = false): RoutePolicy => ({ isPublic, requirements });
const all = (...values: string[]) => toRequirement('scope', values);
const any = (...values: string[]) => toRequirement('scope', [{ any: values }]);

describe('routeSecurity', () => {
  it('is public with @Public, whatever the guards', () => {
    expect(routeSecurity(policy([], true), { global: true, alwaysAuthenticates: true })).toMatchObject({ access: 'public', scopeSets: [] });
  });

  it('is open without decorators, global or a guard of ours; authenticated with any of them', () => {
    expect(routeSecurity(policy([]), { global: false }).access).toBe('open');
    expect(routeSecurity(policy([]), { global: true })).toMatchObject({ access: 'authenticated', scopeSets: [[]], mayForbid: false });
    expect(routeSecurity(policy([]), { global: false, alwaysAuthenticates: true }).access).toBe('authenticated');
  });

  it('may forbid with scopes, roles and kinds, not with a plain @Authenticated', () => {
    expect(routeSecurity(policy([{ type: 'authenticated' }]), { global: false }).mayForbid).toBe(false);
    expect(routeSecurity(policy([{ type: 'authenticated', kind: 'user' }]), { global: false }).mayForbid).toBe(true);
    expect(routeSecurity(policy([toRequirement('role', ['admin'])]), { global: false })).toMatchObject({ mayForbid: true, scopeSets: [[]] });
    expect(routeSecurity(policy([]), { global: false, guardRequirements: [all('identity:admin')] })).toMatchObject({ access: 'authenticated', scopeSets: [['identity:admin']] });
  });
});

describe('scopeAlternatives', () => {
  it('adds "all" scopes to every set and multiplies the sets by "any" scopes', () => {
    expect(scopeAlternatives([all('b', 'a')])).toEqual([['a', 'b']]);
    expect(scopeAlternatives([all('a'), any('b', 'c')])).toEqual([['a', 'b'], ['a', 'c']]);
    expect(scopeAlternatives([any('a', 'b'), any('c', 'd')])).toEqual([['a', 'c'], ['a', 'd'], ['b', 'c'], ['b', 'd']]);
  });

  it('drops sets that contain a smaller one', () => {
    expect(scopeAlternatives([any('a', 'b'), any('a', 'c')])).toEqual([['a'], ['b', 'c']]);
  });

  it('falls back to the scopes every alternative needs when there are too many', () => {
    const many = Array.from({ length: 6 }, (_, i) => any(`x${i}`, `y${i}`));
    expect(2 ** 6).toBeGreaterThan(MAX_SCOPE_ALTERNATIVES);
    expect(scopeAlternatives([all('base'), ...many])).toEqual([['base']]);
  });
});
