import { describe, expect, it } from 'vitest';
import { InvalidTokenError } from '../errors/invalid-token.error.js';
import { readCompactJws } from './compact-jws.js';

const readJwsHeader = (...args: Parameters<typeof readCompactJws>) => readCompactJws(...args).header;

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

describe('readCompactJws', () => {
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

  it('refuses non-canonical base64url: unused low bits of the last character must be zero', () => {
    const header = b64({ alg: 'RS256' });
    const payload = b64({ sub: 'x' });
    // 'QQ' is the canonical spelling of one byte 0x41; 'QR' decodes to the same byte.
    expect(readJwsHeader(`${header}.${payload}.QQ`, algs, false).alg).toBe('RS256');
    expect(reasonOf(() => readJwsHeader(`${header}.${payload}.QR`, algs, false))).toBe('malformed');
    expect(reasonOf(() => readJwsHeader(`${header}.${payload}.QUE`, algs, false))).toBeUndefined(); // 'AA'
    expect(reasonOf(() => readJwsHeader(`${header}.${payload}.QUF`, algs, false))).toBe('malformed');
    expect(reasonOf(() => readJwsHeader(`${header}.${payload}.QUFBQ`, algs, false))).toBe('malformed'); // length % 4 === 1
  });

  it('refuses duplicate member names in the header and in the claims set', () => {
    const raw = (header: string, payload: string) => `${b64(header)}.${b64(payload)}.c2ln`;
    expect(reasonOf(() => readJwsHeader(raw('{"alg":"none","alg":"RS256"}', '{"sub":"x"}'), algs, false))).toBe('malformed');
    expect(reasonOf(() => readJwsHeader(raw('{"alg":"RS256","alg":"none"}', '{"sub":"x"}'), algs, false))).toBe('malformed');
    expect(reasonOf(() => readJwsHeader(raw('{"alg":"RS256","\\u0061lg":"HS256"}', '{"sub":"x"}'), algs, false))).toBe('malformed');
    expect(reasonOf(() => readJwsHeader(raw('{"alg":"RS256"}', '{"aud":"a","aud":"b"}'), algs, false))).toBe('malformed');
    // A duplicate right after a string that ends in an escaped backslash, or holds an escaped quote.
    expect(reasonOf(() => readJwsHeader(raw('{"alg":"RS256"}', '{"s":"a\\\\","s":"b"}'), algs, false))).toBe('malformed');
    expect(reasonOf(() => readJwsHeader(raw('{"alg":"RS256"}', '{"s":"a\\"","s":"b"}'), algs, false))).toBe('malformed');
    // Nested objects may repeat names of the top level; strings may contain quotes and braces.
    expect(readJwsHeader(raw('{"alg":"RS256","x":{"alg":1,"k":"\\"}{,"}}', '{"user":{"sub":1},"sub":"x","s":"a\\\\"}'), algs, false).alg).toBe('RS256');
  });

  it('refuses claims sets that are not strict UTF-8 JSON objects', () => {
    const header = b64({ alg: 'RS256' });
    const bytes = (value: Buffer) => value.toString('base64url');
    for (const payload of [
      b64('[1,2]'),
      b64('"sub"'),
      b64('not json'),
      bytes(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"sub":"x"}')])), // BOM
      bytes(Buffer.from([0x7b, 0x22, 0x73, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])), // {"s":"\xff\xfe"}
    ]) {
      expect(reasonOf(() => readJwsHeader(`${header}.${payload}.c2ln`, algs, false)), payload).toBe('malformed');
    }
    const deep = `{"a":${'['.repeat(2000)}${']'.repeat(2000)},"sub":"x"}`;
    expect(readJwsHeader(`${header}.${b64(deep)}.c2ln`, algs, false).alg).toBe('RS256');
  });

  it('refuses ID tokens and logout tokens used as access tokens, whatever their typ says', () => {
    const reason = (payload: unknown, header: Record<string, unknown> = { alg: 'RS256', typ: 'JWT' }) => reasonOf(() => readJwsHeader(token(header, payload), algs, false));
    expect(reason({ sub: 'x', at_hash: 'h' })).toBe('type');
    expect(reason({ sub: 'x', c_hash: 'h' })).toBe('type');
    expect(reason({ sub: 'x', s_hash: 'h' })).toBe('type');
    expect(reason({ sub: 'x', nonce: 'n' })).toBe('type');
    expect(reason({ sub: 'x', events: { 'http://schemas.openid.net/event/backchannel-logout': {} } })).toBe('type');
    expect(reason({ sub: 'x', typ: 'ID' })).toBe('type');
    expect(reason({ sub: 'x', typ: 'Refresh' })).toBe('type');
    expect(reason({ sub: 'x', events: {} }, { alg: 'RS256', typ: 'logout+jwt' })).toBe('type');
    // Explicitly typed access tokens may carry a nonce (RFC 9068; older Keycloak copied it in).
    expect(reason({ sub: 'x', nonce: 'n' }, { alg: 'RS256', typ: 'at+jwt' })).toBeUndefined();
    expect(reason({ sub: 'x', nonce: 'n', typ: 'Bearer' })).toBeUndefined();
    expect(reason({ sub: 'x', at_hash: 'h' }, { alg: 'RS256', typ: 'at+jwt' })).toBe('type');
  });

  it('refuses nested JWTs (cty JWT)', () => {
    expect(reasonOf(() => readJwsHeader(token({ alg: 'RS256', cty: 'JWT' }), algs, false))).toBe('type');
    expect(reasonOf(() => readJwsHeader(token({ alg: 'RS256', cty: 42 }), algs, false))).toBe('type');
    expect(readJwsHeader(token({ alg: 'RS256', cty: 'json' }), algs, false).alg).toBe('RS256');
  });

  it('judges alg before anything in the claims set', () => {
    expect(reasonOf(() => readJwsHeader(`${b64({ alg: 'none' })}.${b64('junk')}.c2ln`, algs, false))).toBe('algorithm');
  });
});
