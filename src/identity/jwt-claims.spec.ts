import { describe, expect, it } from 'vitest';
import { asNameList, asRoleList, nonAccessTokenMarker, readClaim } from './jwt-claims.js';

describe('readClaim', () => {
  it('follows own properties only', () => {
    const claims = JSON.parse('{"__proto__":{"roles":["root"]},"user":{"roles":["r"]}}');
    expect(readClaim(claims, 'roles')).toBeUndefined();
    expect(readClaim(claims, 'user.roles')).toEqual(['r']);
    expect(readClaim(claims, 'constructor.name')).toBeUndefined();
    expect(readClaim(claims, '__proto__.roles')).toEqual(['root']); // an own key named __proto__, not the prototype
    expect(readClaim({}, 'toString')).toBeUndefined();
  });
});

describe('asNameList', () => {
  it('splits strings on spaces only and never splits array entries', () => {
    expect(asNameList('a b  c')).toEqual(['a', 'b', 'c']);
    expect(asNameList('a\tb')).toEqual([]);
    expect(asNameList('a,b')).toEqual(['a,b']);
    expect(asNameList(['a', 'b c', 'd"e', '', 7, null])).toEqual(['a']);
    expect(asNameList({ 0: 'a' })).toEqual([]);
  });
});

describe('nonAccessTokenMarker', () => {
  it('names what makes a claims set an ID token or a logout token', () => {
    expect(nonAccessTokenMarker({ sub: 'x', scope: 'a' }, false)).toBeUndefined();
    expect(nonAccessTokenMarker({ events: {} }, true)).toBe('events');
    expect(nonAccessTokenMarker({ at_hash: 'x' }, true)).toBe('at_hash');
    expect(nonAccessTokenMarker({ typ: 'ID' }, false)).toBe('typ');
    expect(nonAccessTokenMarker({ nonce: 'n' }, false)).toBe('nonce');
    expect(nonAccessTokenMarker({ nonce: 'n' }, true)).toBeUndefined();
    expect(nonAccessTokenMarker({ nonce: 'n', typ: 'Bearer' }, false)).toBeUndefined();
  });
});

describe('asRoleList', () => {
  it('reads a string as one role, never as a space-separated list', () => {
    expect(asRoleList('admin')).toEqual(['admin']);
    expect(asRoleList('viewer admin')).toEqual([]);
    expect(asRoleList('')).toEqual([]);
    expect(asRoleList(['viewer', 'admin', 'a b'])).toEqual(['viewer', 'admin']);
    expect(asRoleList(undefined)).toEqual([]);
  });
});
