import { describe, expect, it } from 'vitest';
import { InvalidTokenError } from '../errors/invalid-token.error.js';
import { readJwsHeader } from './jws-header.js';

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const token = (header: unknown, payload: unknown = { sub: 'x' }, signature = 'c2ln') => `${b64(header)}.${b64(payload)}.${signature}`;

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof InvalidTokenError) return error.reason;
    throw error;
  }
  return undefined;
}

describe('readJwsHeader', () => {
  const algs = ['RS256', 'ES256'] as const;

  it('accepts JWT and at+jwt typed RS256 headers', () => {
    expect(readJwsHeader(token({ alg: 'RS256', typ: 'JWT', kid: 'k1' }), algs, false)).toEqual({ alg: 'RS256', typ: 'JWT', kid: 'k1' });
    expect(readJwsHeader(token({ alg: 'ES256', typ: 'application/at+jwt' }), algs, false).alg).toBe('ES256');
  });

  it('refuses none, HMAC and algorithms off the allow-list, in any casing', () => {
    for (const alg of ['none', 'None', 'NONE', 'HS256', 'RS512', 'rs256', 42, undefined]) {
      expect(reasonOf(() => readJwsHeader(token({ alg }), algs, false)), String(alg)).toBe('algorithm');
    }
  });

  it('never trusts embedded or remote keys', () => {
    for (const param of ['jwk', 'jku', 'x5u', 'x5c']) {
      expect(reasonOf(() => readJwsHeader(token({ alg: 'RS256', [param]: 'x' }), algs, false))).toBe('embedded_key');
    }
  });

  it('refuses crit and b64 (no extensions are understood)', () => {
    expect(reasonOf(() => readJwsHeader(token({ alg: 'RS256', crit: ['exp'] }), algs, false))).toBe('crit');
    expect(reasonOf(() => readJwsHeader(token({ alg: 'RS256', b64: false }), algs, false))).toBe('crit');
  });

  it('refuses other token types, and plain JWT when at+jwt is required', () => {
    expect(reasonOf(() => readJwsHeader(token({ alg: 'RS256', typ: 'logout+jwt' }), algs, false))).toBe('type');
    expect(reasonOf(() => readJwsHeader(token({ alg: 'RS256', typ: 'JWT' }), algs, true))).toBe('type');
    expect(reasonOf(() => readJwsHeader(token({ alg: 'RS256' }), algs, true))).toBe('type');
    expect(readJwsHeader(token({ alg: 'RS256', typ: 'at+jwt' }), algs, true).typ).toBe('at+jwt');
  });

  it('refuses kids that are not short printable strings', () => {
    for (const kid of [42, '', 'a'.repeat(4096), 'a\r\nb', 'a b']) {
      expect(reasonOf(() => readJwsHeader(token({ alg: 'RS256', kid }), algs, false)), JSON.stringify(kid).slice(0, 20)).toBe('unknown_key');
    }
  });

  it('refuses anything but three base64url segments with a JSON object header', () => {
    const good = token({ alg: 'RS256' });
    const malformed = [
      'a.b',
      `${good}.x.y`,
      `${good}.`,
      `.${good}`,
      good.replace(/\.c2ln$/, '.'),
      `${b64({ alg: 'RS256' })}=.${b64({})}.sig`,
      `${b64({ alg: 'RS256' }).replace(/_/g, '/')}+.${b64({})}.sig`,
      `${b64('[1,2]')}.${b64({})}.sig`,
      `${b64('not json')}.${b64({})}.sig`,
      `${b64('null')}.${b64({})}.sig`,
    ];
    for (const t of malformed) expect(reasonOf(() => readJwsHeader(t, algs, false)), t).toBe('malformed');
  });
});
