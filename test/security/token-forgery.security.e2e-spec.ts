import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JwksService } from '../../src/index.js';
import { DevelopmentIdentityProvider } from '../../src/testing/index.js';
import { b64url, nowSeconds, partsOf, signRaw, signature, withSegment } from './support/craft.js';
import { SecretRegistry } from './support/secrets.js';
import { AUDIENCE, bearer, expectCleanRefusal, expectInvalidToken, PLATFORMS, startSecurityApp, type SecurityApp } from './support/security-app.js';

/**
 * RFC 8725 §2.1/§3.1 (algorithm), §3.10 (keys named by the token), RFC 7515 §4.1.11 (crit),
 * RFC 8725 §3.11 (explicit typing), and the signature bugs that broke other libraries
 * (CVE-2015-9235 HMAC/RSA confusion, CVE-2022-21449 psychic ECDSA signatures, CVE-2018-0114 jwk
 * header trust). Every forged token must get 401 invalid_token with a fixed description.
 */

/** P-256 group order n (SEC 2). */
const P256_N = Buffer.from('FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551', 'hex');

let idp: DevelopmentIdentityProvider;
let decoy: Server;
let decoyHits = 0;
let decoyUrl: string;
const secrets = new SecretRegistry();
const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
const attackerEc = generateKeyPairSync('ec', { namedCurve: 'P-256' });

beforeAll(async () => {
  idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
  secrets.privateKey(idp.signingKeyMaterial().privateKey, 'provider RSA key');
  secrets.privateKey(idp.signingKeyMaterial(idp.keys.find((k) => k.kty === 'EC')!.kid!).privateKey, 'provider EC key');
  // Where a token's jku / x5u points: any request here would be an SSRF.
  decoy = createServer((_req, res) => {
    decoyHits++;
    res.end(JSON.stringify({ keys: [{ ...attacker.publicKey.export({ format: 'jwk' }), kid: 'attacker' }] }));
  });
  await new Promise<void>((resolve) => decoy.listen(0, '127.0.0.1', resolve));
  decoyUrl = `http://127.0.0.1:${(decoy.address() as AddressInfo).port}/jwks.json`;
});

afterAll(async () => {
  await idp?.stop();
  await new Promise((resolve) => decoy?.close(resolve));
});

describe.each(PLATFORMS)('forged tokens on %s', (platform) => {
  let s: SecurityApp;
  let valid: string;
  let kid: string;
  let ecKid: string;

  beforeAll(async () => {
    s = await startSecurityApp(platform, () => ({ url: idp.issuer, audience: AUDIENCE }));
    valid = secrets.token(await idp.mintToken());
    kid = idp.signingKid;
    ecKid = idp.keys.find((k) => k.kty === 'EC')!.kid!;
  });

  afterAll(async () => {
    secrets.assertAbsent(s.logs.text, `${platform} logs`);
    await s?.close();
  });

  const get = (token: string) => s.http.get('/sec/any').set(bearer(token));
  const providerKey = () => idp.signingKeyMaterial().privateKey;
  const claims = () => partsOf(valid).payload;

  it('accepts the genuine token (the baseline every forgery below departs from)', async () => {
    expect((await get(valid)).status).toBe(200);
  });

  describe('algorithm', () => {
    it('refuses alg none in every casing, with and without a signature', async () => {
      const [, payload, sig] = valid.split('.');
      for (const alg of ['none', 'None', 'NONE', 'nOnE', 'none ']) {
        const header = b64url({ alg, typ: 'JWT', kid });
        expectInvalidToken(await get(`${header}.${payload}.${sig}`), 'algorithm', `${alg} signed`);
        expectInvalidToken(await get(`${header}.${payload}.`), 'malformed', `${alg} unsigned`);
      }
    });

    it('refuses HMAC tokens keyed with the provider public key in every encoding (CVE-2015-9235)', async () => {
      const publicKey = idp.signingKeyMaterial().publicKey;
      const jwk = idp.keys.find((k) => k.kid === kid)!;
      const encodings: Array<[string, string | Buffer]> = [
        ['PEM spki', publicKey.export({ format: 'pem', type: 'spki' }) as string],
        ['PEM pkcs1', publicKey.export({ format: 'pem', type: 'pkcs1' }) as string],
        ['PEM without trailing newline', (publicKey.export({ format: 'pem', type: 'spki' }) as string).trimEnd()],
        ['DER spki', publicKey.export({ format: 'der', type: 'spki' })],
        ['DER pkcs1', publicKey.export({ format: 'der', type: 'pkcs1' })],
        ['JWK text', JSON.stringify(jwk)],
        ['JWKS text', JSON.stringify({ keys: idp.keys })],
        ['JWK n', jwk.n!],
      ];
      for (const [label, secret] of encodings) {
        for (const alg of ['HS256', 'HS384', 'HS512'] as const) {
          const header = { alg, typ: 'JWT', kid };
          const input = `${b64url(header)}.${b64url(claims())}`;
          const token = `${input}.${signature(input, secret as Buffer, alg).toString('base64url')}`;
          expectInvalidToken(await get(token), 'algorithm', `${alg} ${label}`);
        }
      }
    });

    it('refuses algorithms off the allow-list even with a correct signature, and a missing or non-string alg', async () => {
      // Default allow-list: RS256, PS256, ES256. RS384 and RS512 verify fine with the key: still refused.
      for (const alg of ['RS384', 'RS512', 'ES384', 'ES512', 'PS384', 'EdDSA', 'HS256', 'RSA-OAEP', 'dir', '']) {
        const token = /^RS\d+$/.test(alg)
          ? signRaw({ alg, typ: 'JWT', kid }, claims(), providerKey(), alg as 'RS384' | 'RS512')
          : `${b64url({ alg, typ: 'JWT', kid })}.${valid.split('.')[1]}.${valid.split('.')[2]}`;
        expectInvalidToken(await get(token), 'algorithm', alg);
      }
      for (const alg of [undefined, null, 256, ['RS256'], { RS256: true }, true]) {
        const token = `${b64url({ alg, typ: 'JWT', kid })}.${valid.split('.')[1]}.${valid.split('.')[2]}`;
        expectInvalidToken(await get(token), 'algorithm', JSON.stringify(alg));
      }
    });

    it('refuses an allowed alg the key was not published for (the JWK says RS256; PS256 is refused)', async () => {
      const token = signRaw({ alg: 'PS256', typ: 'JWT', kid }, claims(), providerKey(), 'PS256');
      expectInvalidToken(await get(token), 'unknown_key');
      const ecAsRsa = signRaw({ alg: 'RS256', typ: 'JWT', kid: ecKid }, claims(), providerKey(), 'RS256');
      expectInvalidToken(await get(ecAsRsa), 'unknown_key');
    });
  });

  describe('keys', () => {
    it('refuses unknown kids and kids that look like paths, SQL, numbers, 4 KiB of text or carry CR/LF', async () => {
      const kids: unknown[] = [
        'no-such-key',
        '../../../../etc/passwd',
        '/dev/null',
        "' OR '1'='1' --",
        'x"; DROP TABLE keys; --',
        'a'.repeat(4096),
        'a\r\nX-Injected: 1',
        'a\nb',
        'tab\tkid',
        '',
        ' ',
        'é',
        '\u0000',
        42,
        0,
        -1,
        null,
        true,
        [kid],
        { kid },
        'constructor',
        '__proto__',
        'toString',
      ];
      for (const badKid of kids) {
        // Signed with the real key: only the kid is wrong.
        const token = signRaw({ alg: 'RS256', typ: 'JWT', kid: badKid }, claims(), providerKey(), 'RS256');
        secrets.token(token, 'forged token');
        expectInvalidToken(await get(token), 'unknown_key', JSON.stringify(badKid).slice(0, 40));
      }
    });

    it('never fetches nor trusts keys a token names or embeds (jwk, jku, x5u, x5c)', async () => {
      const attackerJwk = { ...attacker.publicKey.export({ format: 'jwk' }), kid: 'attacker', alg: 'RS256', use: 'sig' };
      const embedded: Array<Record<string, unknown>> = [
        { jwk: attackerJwk, kid: 'attacker' },
        { jwk: attackerJwk, kid },
        { jku: decoyUrl, kid: 'attacker' },
        { jku: decoyUrl, kid },
        { x5u: decoyUrl, kid: 'attacker' },
        { x5c: [attacker.publicKey.export({ format: 'der', type: 'spki' }).toString('base64')], kid: 'attacker' },
        { x5c: 'not-a-cert' },
        { jwk: null },
        { jku: '' },
      ];
      for (const extra of embedded) {
        const token = signRaw({ alg: 'RS256', typ: 'JWT', ...extra }, claims(), attacker.privateKey, 'RS256');
        expectInvalidToken(await get(token), 'embedded_key', Object.keys(extra).join());
      }
      expect(decoyHits).toBe(0);
    });

    it('refuses tokens signed by an attacker key under the provider kid, or under no kid', async () => {
      expectInvalidToken(await get(signRaw({ alg: 'RS256', typ: 'JWT', kid }, claims(), attacker.privateKey, 'RS256')), 'signature');
      expectInvalidToken(await get(signRaw({ alg: 'ES256', typ: 'JWT', kid: ecKid }, claims(), attackerEc.privateKey, 'ES256')), 'signature');
      expectInvalidToken(await get(signRaw({ alg: 'ES256', typ: 'JWT' }, claims(), attackerEc.privateKey, 'ES256')), 'signature');
    });

    it('accepts a kid-less token only when exactly one published key fits its alg', async () => {
      // One EC key is published: a kid-less ES256 token can only mean it.
      const noKid = await idp.mintToken({ alg: 'ES256', header: { kid: undefined } });
      expect(partsOf(noKid).header.kid).toBeUndefined();
      expect((await get(noKid)).status).toBe(200);
    });
  });

  describe('signatures', () => {
    it('refuses truncated, empty, extended, zeroed and foreign signatures', async () => {
      const [header, payload, sig] = valid.split('.') as [string, string, string];
      const cases: Array<[string, string]> = [
        ['half', `${header}.${payload}.${Buffer.from(sig, 'base64url').subarray(0, 128).toString('base64url')}`],
        ['one byte', `${header}.${payload}.AA`],
        ['extended', `${header}.${payload}.${sig}AAAA`],
        ['zeroed', `${header}.${payload}.${Buffer.alloc(256).toString('base64url')}`],
        ['all ones', `${header}.${payload}.${Buffer.alloc(256, 0xff).toString('base64url')}`],
        ['reversed', `${header}.${payload}.${Buffer.from(sig, 'base64url').reverse().toString('base64url')}`],
        ['another token\'s', `${header}.${payload}.${(await idp.mintToken({ claims: { jti: 'other' } })).split('.')[2]}`],
      ];
      for (const [label, token] of cases) expectInvalidToken(await get(token), 'signature', label);
      expectInvalidToken(await get(`${header}.${payload}.`), 'malformed', 'empty');
    });

    it('refuses an altered payload or header (privilege escalation by editing claims)', async () => {
      const payload = { ...claims(), scope: 'orders:read orders:write identity:admin', exp: nowSeconds() + 86_400 };
      expectInvalidToken(await get(withSegment(valid, 1, b64url(payload))), 'signature', 'payload');
      const header = { ...partsOf(valid).header, extra: 1 };
      expectInvalidToken(await get(withSegment(valid, 0, b64url(header))), 'signature', 'header');
    });

    it('refuses psychic ECDSA signatures r = s = 0 and r = s = n (CVE-2022-21449), all-ones and the DER encoding', async () => {
      const es = await idp.mintToken({ alg: 'ES256' });
      expect((await get(es)).status).toBe(200);
      const [header, payload] = es.split('.') as [string, string];
      const raw = (bytes: Buffer) => `${header}.${payload}.${bytes.toString('base64url')}`;
      const cases: Array<[string, string]> = [
        ['r = s = 0', raw(Buffer.alloc(64))],
        ['r = s = n', raw(Buffer.concat([P256_N, P256_N]))],
        ['r = n, s = 1', raw(Buffer.concat([P256_N, Buffer.alloc(31), Buffer.from([1])]))],
        ['all ones', raw(Buffer.alloc(64, 0xff))],
        ['DER', signRaw(partsOf(es).header, partsOf(es).payload, idp.signingKeyMaterial(ecKid).privateKey, 'ES256', { ecdsa: 'der' })],
        ['RSA-sized', raw(Buffer.alloc(256, 1))],
        ['short', raw(Buffer.alloc(32, 1))],
        ['one byte', raw(Buffer.from([1]))],
      ];
      for (const [label, token] of cases) expectInvalidToken(await get(token), 'signature', label);
    });

    it('refuses non-canonical base64url spellings of a valid signature (one signature, one token)', async () => {
      const [header, payload, sig] = valid.split('.') as [string, string, string];
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const last = alphabet.indexOf(sig.at(-1)!);
      // 256 bytes → 342 characters: the last one carries 4 unused bits, so 15 other spellings decode the same.
      for (const unused of [1, 2, 4, 8, 15]) {
        const spelled = `${header}.${payload}.${sig.slice(0, -1)}${alphabet[last ^ unused]}`;
        expect(Buffer.from(spelled.split('.')[2]!, 'base64url').equals(Buffer.from(sig, 'base64url'))).toBe(true);
        expectInvalidToken(await get(spelled), 'malformed', `unused bits ${unused}`);
      }
    });

    it('documents ECDSA malleability: s and n − s both verify, so the raw token is no replay key', async () => {
      const es = await idp.mintToken({ alg: 'ES256' });
      const sig = Buffer.from(es.split('.')[2]!, 'base64url');
      const n = BigInt(`0x${P256_N.toString('hex')}`);
      const s2 = n - BigInt(`0x${sig.subarray(32).toString('hex')}`);
      const twin = withSegment(es, 2, Buffer.concat([sig.subarray(0, 32), Buffer.from(s2.toString(16).padStart(64, '0'), 'hex')]).toString('base64url'));
      // Same header, same claims, same signer: the same token in meaning (SECURITY.md, "Token identity").
      expect((await get(twin)).status).toBe(200);
    });
  });

  describe('headers', () => {
    it('refuses unknown crit parameters and b64: false (RFC 7515 §4.1.11, RFC 7797)', async () => {
      for (const extra of [{ crit: ['exp'] }, { crit: [] }, { crit: ['b64'], b64: false }, { b64: false }, { b64: true }, { crit: 'b64' }]) {
        const token = signRaw({ alg: 'RS256', typ: 'JWT', kid, ...extra }, claims(), providerKey(), 'RS256');
        expectInvalidToken(await get(token), 'crit', JSON.stringify(extra));
      }
      // b64:false with the unencoded payload in the middle (RFC 7797 §5)
      const unencoded = `${b64url({ alg: 'RS256', kid, b64: false, crit: ['b64'] })}.${JSON.stringify(claims())}.${valid.split('.')[2]}`;
      expectCleanRefusal(await get(unencoded), unencoded, 'unencoded payload');
    });

    it('refuses other token types: logout, SET, DPoP proofs, nested JWTs', async () => {
      for (const header of [{ typ: 'logout+jwt' }, { typ: 'secevent+jwt' }, { typ: 'dpop+jwt' }, { typ: 'id_token+jwt' }, { typ: 'JWE' }, { typ: 42 }, { typ: '' }, { cty: 'JWT' }]) {
        const token = signRaw({ alg: 'RS256', typ: 'JWT', kid, ...header }, claims(), providerKey(), 'RS256');
        expectInvalidToken(await get(token), 'type', JSON.stringify(header));
      }
    });

    it('refuses an ID token and a logout token from the same issuer, signed with the same key and typed JWT', async () => {
      const now = nowSeconds();
      const idToken = { iss: idp.issuer, sub: 'W76xhMqQaZiqmOHzN3e6Q0', aud: AUDIENCE, exp: now + 300, iat: now, auth_time: now, nonce: 'n-0S6_WzA2Mj', at_hash: 'HK6E_P6Dh8Y93mRNtsDB1Q' };
      expectInvalidToken(await get(signRaw({ alg: 'RS256', typ: 'JWT', kid }, idToken, providerKey(), 'RS256')), 'type', 'ID token');
      const { at_hash: _drop, ...withNonceOnly } = idToken;
      expectInvalidToken(await get(signRaw({ alg: 'RS256', typ: 'JWT', kid }, withNonceOnly, providerKey(), 'RS256')), 'type', 'ID token with only a nonce');
      expectInvalidToken(await get(signRaw({ alg: 'RS256', typ: 'JWT', kid }, { ...idToken, nonce: undefined, at_hash: undefined, c_hash: 'x' }, providerKey(), 'RS256')), 'type', 'c_hash');
      const logout = { iss: idp.issuer, sub: 'sa:dev-service-account', aud: AUDIENCE, iat: now, exp: now + 120, jti: 'bWJq', sid: '08a5019c', events: { 'http://schemas.openid.net/event/backchannel-logout': {} } };
      expectInvalidToken(await get(signRaw({ alg: 'RS256', typ: 'JWT', kid }, logout, providerKey(), 'RS256')), 'type', 'logout token typed JWT');
      expectInvalidToken(await get(signRaw({ alg: 'RS256', typ: 'logout+jwt', kid }, logout, providerKey(), 'RS256')), 'type', 'logout token');
      const keycloakId = { ...claims(), typ: 'ID' };
      expectInvalidToken(await get(signRaw({ alg: 'RS256', typ: 'JWT', kid }, keycloakId, providerKey(), 'RS256')), 'type', 'Keycloak ID token');
    });

    it('refuses a header with a duplicated alg, whichever copy is the allowed one', async () => {
      const payload = JSON.stringify(claims());
      for (const header of [`{"alg":"none","alg":"RS256","kid":"${kid}"}`, `{"alg":"RS256","alg":"HS256","kid":"${kid}"}`, `{"alg":"RS256","kid":"nope","kid":"${kid}"}`]) {
        expectInvalidToken(await get(signRaw(header, payload, providerKey(), 'RS256')), 'malformed', header);
      }
    });
  });

  describe('verified-token cache', () => {
    // A token verified without a kid must not outlive the key that verified it: the strategy
    // records the kid of the key actually used, and dropKeys() also drops entries without one.
    let own: DevelopmentIdentityProvider;
    let app: SecurityApp;
    beforeAll(async () => {
      own = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
      app = await startSecurityApp(platform, () => ({ url: own.issuer, audience: AUDIENCE }));
    });
    afterAll(async () => {
      await app?.close();
      await own?.stop();
    });

    it('forgets a kid-less verification when its key leaves the JWKS', async () => {
      const ecKid = own.keys.find((k) => k.kty === 'EC')!.kid!;
      const call = (token: string) => app.http.get('/sec/any').set(bearer(token));
      const noKid = await own.mintToken({ kid: ecKid, alg: 'ES256', header: { kid: undefined }, claims: { jti: 'cached' } });
      expect((await call(noKid)).status).toBe(200); // verified and cached
      own.retireKey(ecKid);
      await app.app.get(JwksService).refresh('scheduled');
      const fresh = await own.mintToken({ kid: ecKid, alg: 'ES256', header: { kid: undefined }, claims: { jti: 'fresh' } });
      expectInvalidToken(await call(fresh), 'unknown_key'); // the key is gone: a new verification fails ...
      expectInvalidToken(await call(noKid), 'unknown_key'); // ... and so must the cached one (today: 200)
    });
  });
});
