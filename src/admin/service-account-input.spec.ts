import { describe, expect, it } from 'vitest';
import { isClientId, parseRotateRequest, parseServiceAccountInput, parseServiceAccountRef, ServiceAccountInputError } from './service-account-input.js';

function problem(fn: () => unknown): { field: string; message: string; status: number } {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ServiceAccountInputError);
    const e = error as ServiceAccountInputError;
    return { field: e.field, message: (e.getResponse() as { message: string }).message, status: e.getStatus() };
  }
  throw new Error('expected a ServiceAccountInputError');
}

const valid = { name: 'orders-worker', scopes: ['orders:read'], audience: 'https://api.example.com' };

describe('parseServiceAccountInput', () => {
  it('accepts a valid body and copies what it keeps', () => {
    const scopes = ['orders:read', 'orders:write'];
    const input = parseServiceAccountInput({ ...valid, scopes });
    expect(input).toEqual({ ...valid, scopes });
    expect(input.scopes).not.toBe(scopes);
    expect(parseServiceAccountInput({ name: 'Orders Worker 2', scopes: ['a'] })).toEqual({ name: 'Orders Worker 2', scopes: ['a'] });
  });

  it('refuses bodies that are not plain objects', () => {
    for (const body of [undefined, null, 'x', 42, [], [valid], new Map(), new (class Body {})()]) {
      const { field, status } = problem(() => parseServiceAccountInput(body));
      expect(status).toBe(400);
      expect(field).toBe('body');
    }
  });

  it('names unknown fields, __proto__ and constructor included', () => {
    expect(problem(() => parseServiceAccountInput({ ...valid, admin: true }))).toMatchObject({ field: '"admin"', message: '"admin" is not a known field; allowed: name, scopes, audience' });
    // What JSON.parse makes of a "__proto__" key: an own property, not a prototype.
    const polluted = JSON.parse('{"name":"x","scopes":["a"],"__proto__":{"isAdmin":true}}') as object;
    expect(problem(() => parseServiceAccountInput(polluted)).field).toBe('"__proto__"');
    expect(problem(() => parseServiceAccountInput({ ...valid, constructor: 'x' })).field).toBe('"constructor"');
    expect(problem(() => parseServiceAccountInput({ ...valid, [Symbol('s')]: 1 })).field).toBe('body');
    expect(problem(() => parseServiceAccountInput({ ...valid, ['x'.repeat(500)]: 1 })).field).toBe('body');
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  });

  it('checks name: required string of the safe charset', () => {
    for (const name of [undefined, 42, ['a'], '', ' leading', 'tab\there', 'new\nline', 'x'.repeat(101), '../etc', 'a/b', 'ü', 'a..b']) {
      expect(problem(() => parseServiceAccountInput({ ...valid, name })).field).toBe('name');
    }
  });

  it('checks scopes: a non-empty array of RFC 6749 scope tokens, no duplicates', () => {
    expect(problem(() => parseServiceAccountInput({ ...valid, scopes: undefined })).field).toBe('scopes');
    expect(problem(() => parseServiceAccountInput({ ...valid, scopes: 'orders:read' })).field).toBe('scopes');
    expect(problem(() => parseServiceAccountInput({ ...valid, scopes: [] })).field).toBe('scopes');
    expect(problem(() => parseServiceAccountInput({ ...valid, scopes: Array.from({ length: 51 }, (_, i) => `s${i}`) })).field).toBe('scopes');
    for (const bad of ['has space', 'quote"', 'back\\slash', '', 'x'.repeat(129), 'ünïcode', 7, null, {}]) {
      expect(problem(() => parseServiceAccountInput({ ...valid, scopes: ['ok', bad] }))).toMatchObject({ field: 'scopes[1]', message: expect.stringContaining('must be a scope token') });
    }
    expect(problem(() => parseServiceAccountInput({ ...valid, scopes: ['a', 'a'] }))).toMatchObject({ field: 'scopes', message: 'scopes lists a scope twice' });
  });

  it('checks scopes against the provider-supported list when there is one', () => {
    expect(parseServiceAccountInput(valid, ['orders:read']).scopes).toEqual(['orders:read']);
    expect(problem(() => parseServiceAccountInput({ ...valid, scopes: ['orders:read', 'admin:all'] }, ['orders:read']))).toMatchObject({
      field: 'scopes[1]',
      message: 'scopes[1] "admin:all" is not a scope the Identity provider supports (supported: orders:read)',
    });
  });

  it('checks audience: an absolute URI without fragment', () => {
    expect(parseServiceAccountInput({ ...valid, audience: 'urn:example:api' }).audience).toBe('urn:example:api');
    for (const audience of ['', 'not a uri', '/relative', 'https://api.example.com/#frag', 42, null, 'https://x/' + 'a'.repeat(2048)]) {
      expect(problem(() => parseServiceAccountInput({ ...valid, audience })).field).toBe('audience');
    }
  });
});

describe('ids and names in paths', () => {
  it('accepts provider client ids and names', () => {
    for (const id of ['fsqinLpedmK4vl4gHUyY2uCez-ZJ3ERiP3egTtkTskd', 'orders-worker', '_x~y.z', 'Orders Worker']) expect(parseServiceAccountRef(id)).toBe(id);
    expect(isClientId('a.b')).toBe(true);
  });

  it('refuses traversal, separators, control characters and oversize refs', () => {
    for (const ref of ['..', '../..', '../../etc/passwd', 'a/../b', 'a..b', '.hidden', 'a/b', 'a\\b', '%2e%2e', 'a\0b', 'line\nbreak', 'x'.repeat(129), '', ' ', 'k:v', '*', undefined, 42]) {
      const { field, status } = problem(() => parseServiceAccountRef(ref));
      expect([field, status], String(ref)).toEqual(['id', 400]);
    }
  });

});

describe('parseRotateRequest', () => {
  it('defaults to revoking tokens and keeping the grace window', () => {
    expect(parseRotateRequest(undefined)).toEqual({ revokeTokens: true, invalidatePrevious: false });
    expect(parseRotateRequest({})).toEqual({ revokeTokens: true, invalidatePrevious: false });
    expect(parseRotateRequest({ revokeTokens: false, invalidatePrevious: true })).toEqual({ revokeTokens: false, invalidatePrevious: true });
  });

  it('names the field for anything else', () => {
    const fieldOf = (body: unknown, allowed?: Parameters<typeof parseRotateRequest>[1]) => {
      try {
        parseRotateRequest(body, allowed);
      } catch (error) {
        return (error as ServiceAccountInputError).field;
      }
      return undefined;
    };
    expect(fieldOf({ revokeTokens: 'false' })).toBe('revokeTokens');
    expect(fieldOf({ clientSecret: 'x' })).toBe('clientSecret');
    expect(fieldOf([true])).toBe('body');
    expect(fieldOf('text')).toBe('body');
    expect(fieldOf({ revokeTokens: false }, ['invalidatePrevious'])).toBe('revokeTokens');
  });
});
