import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevelopmentIdentityProvider } from '../../src/testing/index.js';
import { b64url, nowSeconds, partsOf, signRaw, withSegment } from './support/craft.js';
import { SecretRegistry } from './support/secrets.js';
import {
  AUDIENCE,
  bearer,
  expectCleanRefusal,
  expectInvalidRequest,
  expectInvalidToken,
  PLATFORMS,
  startSecurityApp,
  type SecurityApp,
} from './support/security-app.js';

/**
 * RFC 7519 §4.1 / RFC 9068 §4 claim checks (iss, aud, exp, nbf, iat) with the default 5 s clock
 * tolerance, and the parsing edge cases of RFC 7515 §7.1 / RFC 7519 §7.2: every token below is
 * signed with the provider's real key, so only the claim or the encoding is wrong.
 */

let idp: DevelopmentIdentityProvider;
let other: DevelopmentIdentityProvider;
const secrets = new SecretRegistry();

beforeAll(async () => {
  [idp, other] = await Promise.all([DevelopmentIdentityProvider.start({ audience: AUDIENCE }), DevelopmentIdentityProvider.start({ audience: AUDIENCE })]);
  secrets.privateKey(idp.signingKeyMaterial().privateKey);
  secrets.privateKey(other.signingKeyMaterial().privateKey, 'other issuer key');
});

afterAll(async () => {
  await Promise.all([idp?.stop(), other?.stop()]);
});

describe.each(PLATFORMS)('claims and parsing on %s', (platform) => {
  let s: SecurityApp;
  let base: Record<string, unknown>;

  beforeAll(async () => {
    s = await startSecurityApp(platform, () => ({ url: idp.issuer, audience: AUDIENCE }));
    base = partsOf(await idp.mintToken()).payload;
  });

  afterAll(async () => {
    secrets.assertAbsent(s.logs.text, `${platform} logs`);
    await s?.close();
  });

  const get = (token: string) => s.http.get('/sec/any').set(bearer(token));
  /** The provider's real header and key, over any payload (object, raw JSON text or raw bytes). */
  const signed = (payload: unknown, header: unknown = { alg: 'RS256', typ: 'JWT', kid: idp.signingKid }) =>
    secrets.token(signRaw(header, payload, idp.signingKeyMaterial().privateKey, 'RS256'));
  const claims = (changes: Record<string, unknown>) => {
    const payload: Record<string, unknown> = { ...base, iat: nowSeconds(), exp: nowSeconds() + 300, ...changes };
    for (const [name, value] of Object.entries(changes)) if (value === undefined) delete payload[name];
    return payload;
  };

  describe('issuer', () => {
    it('refuses a wrong, missing, array, trailing-slash or case-changed iss', async () => {
      for (const iss of ['https://evil.example.com', `${idp.issuer}/`, idp.issuer.toUpperCase(), `${idp.issuer} `, [idp.issuer], { iss: idp.issuer }, null, 1, '']) {
        expectInvalidToken(await get(signed(claims({ iss }))), 'issuer', JSON.stringify(iss));
      }
      expectInvalidToken(await get(signed(claims({ iss: undefined }))), 'issuer', 'missing');
    });

    it("refuses a token signed by another issuer's key, whatever iss and kid it claims", async () => {
      expectInvalidToken(await get(await other.mintToken()), 'unknown_key', 'other issuer as itself');
      expectInvalidToken(await get(await other.mintToken({ claims: { iss: idp.issuer } })), 'unknown_key', 'other issuer claiming ours');
      const forged = signRaw({ alg: 'RS256', typ: 'JWT', kid: idp.signingKid }, claims({}), other.signingKeyMaterial().privateKey, 'RS256');
      expectInvalidToken(await get(forged), 'signature', 'our kid, their key');
    });
  });

  describe('audience', () => {
    it('refuses a wrong, missing, empty, substring or superstring aud', async () => {
      const wrong: unknown[] = [
        'https://other.example.com',
        'https://api.example',
        'https://api.example.com/',
        'https://api.example.com.evil.com',
        'HTTPS://API.EXAMPLE.COM',
        ` ${AUDIENCE}`,
        '',
        [],
        [''],
        ['https://other.example.com'],
        [[AUDIENCE]],
        { aud: AUDIENCE },
        null,
        42,
      ];
      for (const aud of wrong) expectInvalidToken(await get(signed(claims({ aud }))), 'audience', JSON.stringify(aud));
      expectInvalidToken(await get(signed(claims({ aud: undefined }))), 'audience', 'missing');
    });

    it('accepts an aud array that contains this API (RFC 7519 §4.1.3)', async () => {
      expect((await get(signed(claims({ aud: ['https://other.example.com', AUDIENCE] })))).status).toBe(200);
    });
  });

  describe('time', () => {
    it('refuses expired tokens and tokens just past the clock tolerance; accepts just inside it', async () => {
      const now = nowSeconds();
      expectInvalidToken(await get(signed(claims({ exp: now - 3600 }))), 'expired', 'an hour ago');
      expectInvalidToken(await get(signed(claims({ exp: now - 7 }))), 'expired', 'just past the 5 s tolerance');
      expect((await get(signed(claims({ exp: now - 2 })))).status, 'just inside the tolerance').toBe(200);
    });

    it('refuses nbf and iat in the future beyond the tolerance; accepts them within it', async () => {
      const now = nowSeconds();
      expectInvalidToken(await get(signed(claims({ nbf: now + 60 }))), 'not_yet_valid');
      expect((await get(signed(claims({ nbf: now + 2 })))).status).toBe(200);
      expectInvalidToken(await get(signed(claims({ iat: now + 60 }))), 'issued_in_future');
      expect((await get(signed(claims({ iat: now + 2 })))).status).toBe(200);
    });

    it('refuses exp, nbf and iat of the wrong type, absurd lifetimes and a missing exp', async () => {
      for (const exp of [String(nowSeconds() + 300), true, false, null, [nowSeconds() + 300], { exp: 1 }, 1e300, nowSeconds() + 11 * 365 * 86_400]) {
        expectInvalidToken(await get(signed(claims({ exp }))), 'claims', JSON.stringify(exp));
      }
      expectInvalidToken(await get(signed(claims({ exp: undefined }))), 'claims', 'missing exp');
      // 1e400 is Infinity once parsed; NaN and Infinity cannot be written in JSON otherwise.
      const infinite = JSON.stringify(claims({})).replace(/"exp":\d+/, '"exp":1e400');
      expectInvalidToken(await get(signed(infinite)), 'claims', 'exp 1e400');
      expectInvalidToken(await get(signed(claims({ nbf: 'yesterday' }))), 'claims', 'nbf string');
      expectInvalidToken(await get(signed(claims({ iat: '0' }))), 'claims', 'iat string');
    });
  });

  describe('parsing', () => {
    it('refuses padding, standard base64, non-canonical base64 and whitespace inside', async () => {
      const valid = signed(claims({}));
      const [h, p, sig] = valid.split('.') as [string, string, string];
      expectInvalidToken(await get(`${valid}=`), 'malformed', 'trailing padding');
      expectInvalidToken(await get(`${valid}==`), 'malformed', 'trailing padding');
      expectInvalidRequest(await get(`${h}=.${p}.${sig}`), 'padding inside');
      const standard = `${h}.${p}.${sig.replace(/-/g, '+').replace(/_/g, '/')}`;
      if (standard !== valid) expectInvalidToken(await get(standard), 'malformed', 'standard base64');
      // The header's last character with an unused bit set decodes to the same JSON.
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      if (h.length % 4 !== 0) {
        const spelled = `${h.slice(0, -1)}${alphabet[alphabet.indexOf(h.at(-1)!) ^ 1]}`;
        expectInvalidToken(await get(`${spelled}.${p}.${sig}`), 'malformed', 'non-canonical header');
      }
      expectInvalidRequest(await get(`${h}.${p.slice(0, 10)} ${p.slice(10)}.${sig}`), 'space inside');
      expectInvalidRequest(await get(`${h}.${p}\t.${sig}`), 'tab inside');
    });

    it('refuses anything but three segments: four, five (JWE), JSON serialization, one', async () => {
      const valid = signed(claims({}));
      const [h, p, sig] = valid.split('.') as [string, string, string];
      const jwe = `${b64url({ alg: 'RSA-OAEP', enc: 'A256GCM', kid: idp.signingKid })}.${'A'.repeat(342)}.${'A'.repeat(16)}.${p}.${'A'.repeat(22)}`;
      for (const [label, token] of [
        ['four', `${valid}.${sig}`],
        ['five (JWE)', jwe],
        ['two', `${h}.${p}`],
        ['one', h],
        ['leading dot', `.${valid}`],
        ['double dot', `${h}..${sig}`],
      ] as const) {
        expectInvalidToken(await get(token), 'malformed', label);
      }
      const json = JSON.stringify({ payload: p, signatures: [{ protected: h, signature: sig }] });
      expectInvalidRequest(await get(json), 'JSON serialization');
      // Base64 of it is a syntactically valid b64token (RFC 6750 §2.1) but no compact JWS.
      expectInvalidToken(await get(Buffer.from(json).toString('base64')), 'malformed', 'JSON serialization in base64');
    });

    it('refuses signed payloads that are not JSON objects: text, arrays, strings, invalid UTF-8, a BOM', async () => {
      const objectText = JSON.stringify(claims({}));
      for (const [label, payload] of [
        ['text', 'hello'],
        ['array', JSON.stringify([claims({})])],
        ['JSON string', JSON.stringify(objectText)],
        ['null', 'null'],
        ['number', '42'],
        ['empty', ''],
        ['BOM', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(objectText)])],
        ['invalid UTF-8', Buffer.from(objectText.replace('"sub":"', '"sub":"\u0001').replace('\u0001', ''), 'utf8').fill(0xff, 10, 11)],
        ['overlong UTF-8', Buffer.concat([Buffer.from(objectText.slice(0, -1)), Buffer.from(',"x":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')])],
        ['lone surrogate', Buffer.concat([Buffer.from(objectText.slice(0, -1)), Buffer.from(',"x":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')])],
        ['trailing garbage', `${objectText}x`],
      ] as const) {
        expectInvalidToken(await get(signed(payload)), 'malformed', label);
      }
    });

    it('refuses duplicate claim names (no reader can see another aud or exp than we checked)', async () => {
      const text = JSON.stringify(claims({ aud: 'https://other.example.com' }));
      const duplicated = text.replace('{', `{"aud":"${AUDIENCE}",`); // first aud ours, last aud theirs
      expectInvalidToken(await get(signed(duplicated)), 'malformed', 'aud twice');
      const expTwice = JSON.stringify(claims({})).replace('{', '{"exp":1,');
      expectInvalidToken(await get(signed(expTwice)), 'malformed', 'exp twice');
      const headerTwice = `{"alg":"RS256","typ":"JWT","kid":"${idp.signingKid}","typ":"JWT"}`;
      expectInvalidToken(await get(signed(claims({}), headerTwice)), 'malformed', 'typ twice in the header');
    });

    it('handles deep nesting without a stack overflow', async () => {
      const depth = 2500; // as deep as fits the default 8 KiB limit
      const nested = JSON.stringify(claims({})).replace('{', `{"deep":${'['.repeat(depth)}${']'.repeat(depth)},`);
      const response = await get(signed(nested));
      expect(response.status).toBe(200);
      const tooDeep = JSON.stringify(claims({})).replace('{', `{"deep":${'{"a":'.repeat(900)}1${'}'.repeat(900)},`);
      expect([200, 401]).toContain((await get(signed(tooDeep))).status);
    });

    it('refuses oversized tokens by length, before any decoding', async () => {
      const valid = signed(claims({ padding: 'x'.repeat(7000) }));
      expect(valid.length).toBeGreaterThan(8192);
      expectInvalidToken(await get(valid), 'too_large', 'a genuine but oversized token');
      expectInvalidToken(await get('a'.repeat(8193)), 'too_large', 'not even a JWT');
      expectInvalidToken(await get(`${'!'.repeat(9000)}`.replace(/!/g, 'a')), 'too_large');
      // Past Node's 16 KiB header limit the HTTP server answers 431 itself: still no 500, no crash.
      const huge = await get('a'.repeat(20_000)).catch((error: Error) => error);
      if (!(huge instanceof Error)) expect([400, 431]).toContain(huge.status);
      expect((await get(signed(claims({})))).status, 'the server still answers').toBe(200);
    });

    it('never answers 500 and never echoes any of these tokens', async () => {
      const valid = signed(claims({}));
      for (const token of [withSegment(valid, 1, b64url('[]')), withSegment(valid, 0, b64url('{}')), withSegment(valid, 0, b64url('{"alg":"RS256","kid":{"$ne":null}}'))]) {
        expectCleanRefusal(await get(token), token);
      }
    });
  });
});
