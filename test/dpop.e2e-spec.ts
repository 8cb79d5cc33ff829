import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import * as oauth from 'oauth4webapi';
import { register } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { InvalidTokenError, TokenAuthenticator } from '../src/index.js';
import { DPOP_AUDIENCE as AUDIENCE, DpopTestController, startDpopApp, type ListeningDpopApp } from './support/dpop-app.js';
import { dpopClient, dpopFetch, dpopToken, proof, type DpopClient } from './support/dpop-client.js';
import { PLATFORMS } from './support/platforms.js';

const ALGS = 'algs="ES256 EdDSA Ed25519 PS256 RS256"';
const REALM = `realm="${AUDIENCE}"`;
const WINDOW = 60;
const now = () => Math.floor(Date.now() / 1000);

/** The exact RFC 9449 §7.1 answer to a refused proof: 401, the DPoP challenge with the error, the Bearer one beside it. */
async function expectProofRefused(response: Response, description: string, schemes: 'both' | 'dpop' = 'both') {
  const body = await response.text();
  expect(response.status, body).toBe(401);
  const dpop = `DPoP ${REALM}, error="invalid_dpop_proof", error_description="${description}", ${ALGS}`;
  expect(response.headers.get('www-authenticate')).toBe(schemes === 'both' ? `Bearer ${REALM}, ${dpop}` : dpop);
  expect(JSON.parse(body)).toMatchObject({ statusCode: 401, error: 'invalid_dpop_proof', message: description });
}

function dpopHeaders(token: string, proofs: string | string[]): Headers {
  const headers = new Headers({ authorization: `DPoP ${token}` });
  for (const value of Array.isArray(proofs) ? proofs : [proofs]) headers.append('DPoP', value);
  return headers;
}

describe.each(PLATFORMS)('DPoP (RFC 9449) on %s', (platform) => {
  let idp: DevelopmentIdentityProvider;
  let allowed: ListeningDpopApp;
  let required: ListeningDpopApp;
  let c: DpopClient;
  let token: string;

  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
    allowed = await startDpopApp(platform, { url: idp.issuer, audience: AUDIENCE, jwksCooldown: 0, dpop: { mode: 'allowed', iatWindow: WINDOW } });
    required = await startDpopApp(platform, { url: idp.issuer, audience: AUDIENCE, jwksCooldown: 0, dpop: { mode: 'required' } });
    c = await dpopClient(idp);
    token = await dpopToken(c, { scopes: ['orders:read', 'orders:write'] });
  });

  afterAll(async () => {
    await allowed?.close();
    await required?.close();
    await idp?.stop();
  });

  /** GET /orders on the allowed app with this proof (a fresh valid one by default). */
  async function getOrders(proofs?: string | string[], app = allowed, accessToken = token): Promise<Response> {
    const value = proofs ?? (await proof(c, { htu: `${app.url}/orders`, token: accessToken }));
    return fetch(`${app.url}/orders`, { headers: dpopHeaders(accessToken, value) });
  }

  describe('a real client (oauth4webapi) against the development provider', () => {
    it('gets a DPoP-bound token and calls the API with proofs, on every request', async () => {
      expect(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).cnf).toEqual({ jkt: c.thumbprint });
      for (let i = 0; i < 3; i++) {
        const response = await dpopFetch(c, token, 'GET', `${allowed.url}/me`);
        expect(response.status).toBe(200);
        expect(await response.json()).toEqual({ subject: 'sa:dev-service-account', bound: true });
      }
      const post = await dpopFetch(c, token, 'POST', `${allowed.url}/orders`);
      expect(post.status).toBe(201);
    });

    it('works with Ed25519 keys too, and with RSA (PS256) proofs', async () => {
      const ed = await dpopClient(idp, 'Ed25519');
      expect((await dpopFetch(ed, await dpopToken(ed, { scopes: ['orders:read'] }), 'GET', `${allowed.url}/orders`)).status).toBe(200);
      // The provider, stock oidc-provider, takes ES256/Ed25519/EdDSA proofs only: a PS256-bound token is minted.
      const rsa = await dpopClient(idp, 'PS256');
      const bound = await idp.mintToken({ claims: { scope: 'orders:read', cnf: { jkt: rsa.thumbprint } } });
      expect((await dpopFetch(rsa, bound, 'GET', `${allowed.url}/orders`)).status).toBe(200);
    });

    it('checks the proof on a verified-token cache hit too: a replayed or missing proof is refused', async () => {
      const first = await proof(c, { htu: `${allowed.url}/orders`, token });
      expect((await getOrders(first)).status).toBe(200); // token cached from here on
      await expectProofRefused(await getOrders(first), 'The DPoP proof was already used');
      const bare = await fetch(`${allowed.url}/orders`, { headers: { authorization: `DPoP ${token}` } });
      await expectProofRefused(bare, 'A DPoP proof is required: send exactly one DPoP header');
      expect((await getOrders()).status).toBe(200);
    });

    it('still checks scopes: 403 insufficient_scope in the DPoP scheme', async () => {
      const readOnly = await dpopToken(c, { scopes: ['orders:read'] });
      const value = await proof(c, { htm: 'POST', htu: `${allowed.url}/orders`, token: readOnly });
      const response = await fetch(`${allowed.url}/orders`, { method: 'POST', headers: dpopHeaders(readOnly, value) });
      expect(response.status).toBe(403);
      expect(response.headers.get('www-authenticate')).toBe(`DPoP ${REALM}, error="insufficient_scope", error_description="Missing required scope: orders:write", scope="orders:write", ${ALGS}`);
    });
  });

  describe('RFC 9449 §4.3: one refusal per check', () => {
    it('no DPoP header', async () => {
      await expectProofRefused(await fetch(`${allowed.url}/orders`, { headers: { authorization: `DPoP ${token}` } }), 'A DPoP proof is required: send exactly one DPoP header');
    });

    it('two DPoP headers, on two lines or folded into one', async () => {
      const one = await proof(c, { htu: `${allowed.url}/orders`, token });
      const two = await proof(c, { htu: `${allowed.url}/orders`, token });
      // fetch folds repeated fields into one line ("a, b"); node:http sends an array as two lines.
      await expectProofRefused(await getOrders([one, two]), 'Send exactly one DPoP header');
      const twoLines = await new Promise<{ status: number; challenge: string | undefined }>((resolve, reject) => {
        const { port } = new URL(allowed.url);
        request({ host: '127.0.0.1', port, path: '/orders', headers: { authorization: `DPoP ${token}`, dpop: [one, two] } }, (response) => {
          response.resume();
          resolve({ status: response.statusCode!, challenge: response.headers['www-authenticate'] });
        })
          .on('error', reject)
          .end();
      });
      expect(twoLines.status).toBe(401);
      expect(twoLines.challenge).toContain('error_description="Send exactly one DPoP header"');
    });

    it('not a JWS', async () => {
      for (const bad of ['not-a-jwt', 'a.b', 'a.b.c.d', 'eyJ9.e30.', '%%%.%%%.%%%', `${'A'.repeat(100)}.${'B'.repeat(100)}.C`]) {
        await expectProofRefused(await getOrders(bad), 'The DPoP proof is not a well-formed JWS');
      }
    });

    it('too large', async () => {
      await expectProofRefused(await getOrders(`${'a'.repeat(9000)}.b.c`), 'The DPoP proof is too large');
    });

    it('typ other than dpop+jwt', async () => {
      await expectProofRefused(await getOrders(await proof(c, { htu: `${allowed.url}/orders`, token, typ: 'JWT' })), 'The DPoP proof must have typ dpop+jwt');
    });

    it('an alg outside the allow-list, a MAC, or none', async () => {
      const es512 = await generateKeyPair('ES512', { extractable: true });
      const jwk = await exportJWK(es512.publicKey);
      await expectProofRefused(await getOrders(await proof(c, { htu: `${allowed.url}/orders`, token, alg: 'ES512', jwk, signWith: es512.privateKey })), 'The DPoP proof is signed with an algorithm that is not allowed');
      const hmac = await proof(c, { htu: `${allowed.url}/orders`, token, alg: 'HS256', jwk: { kty: 'oct', k: 'c2VjcmV0' }, signWith: new TextEncoder().encode('secret-secret-secret-secret-secret') });
      await expectProofRefused(await getOrders(hmac), 'The DPoP proof is signed with an algorithm that is not allowed');
      const none = `${Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: 'none', jwk: c.publicJwk })).toString('base64url')}.${Buffer.from(JSON.stringify({ jti: randomUUID(), htm: 'GET', htu: `${allowed.url}/orders`, iat: now() })).toString('base64url')}.AA`;
      await expectProofRefused(await getOrders(none), 'The DPoP proof is signed with an algorithm that is not allowed');
    });

    it('no jwk, or one that does not fit the alg', async () => {
      await expectProofRefused(await getOrders(await proof(c, { htu: `${allowed.url}/orders`, token, jwk: null })), 'The DPoP proof header must carry a usable public jwk that fits its alg');
      await expectProofRefused(await getOrders(await proof(c, { htu: `${allowed.url}/orders`, token, jwk: { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' } })), 'The DPoP proof header must carry a usable public jwk that fits its alg');
      const rsa = await dpopClient(idp, 'PS256');
      await expectProofRefused(await getOrders(await proof(c, { htu: `${allowed.url}/orders`, token, jwk: rsa.publicJwk })), 'The DPoP proof header must carry a usable public jwk that fits its alg');
    });

    it('a jwk with private key members', async () => {
      const privateJwk = await exportJWK(c.keyPair.privateKey);
      await expectProofRefused(await getOrders(await proof(c, { htu: `${allowed.url}/orders`, token, jwk: privateJwk })), 'The DPoP proof jwk contains private key material');
    });

    it('a signature that does not verify with the jwk', async () => {
      const other = await generateKeyPair('ES256');
      await expectProofRefused(await getOrders(await proof(c, { htu: `${allowed.url}/orders`, token, signWith: other.privateKey })), 'The DPoP proof signature is invalid');
    });

    it('missing required claims', async () => {
      for (const claim of ['jti', 'htm', 'htu', 'iat', 'ath']) {
        const value = await proof(c, { htu: `${allowed.url}/orders`, token, claims: { [claim]: undefined } });
        await expectProofRefused(await getOrders(value), 'The DPoP proof must carry jti, htm, htu and iat claims and the ath of the access token');
      }
    });

    it('htm other than the request method', async () => {
      await expectProofRefused(await getOrders(await proof(c, { htm: 'POST', htu: `${allowed.url}/orders`, token })), 'The DPoP proof htm does not match the request method');
    });

    it('htu other than the request URL (query and fragment ignored)', async () => {
      await expectProofRefused(await getOrders(await proof(c, { htu: `${allowed.url}/me`, token })), 'The DPoP proof htu does not match the request URL');
      await expectProofRefused(await getOrders(await proof(c, { htu: `https://evil.example.com/orders`, token })), 'The DPoP proof htu does not match the request URL');
      const withQuery = await proof(c, { htu: `${allowed.url.toUpperCase().replace('HTTP://', 'http://')}/orders?page=2#top`, token });
      expect((await fetch(`${allowed.url}/orders?page=3`, { headers: dpopHeaders(token, withQuery) })).status).toBe(200);
    });

    it('iat 1 s outside the window, in the past and in the future', async () => {
      await expectProofRefused(await getOrders(await proof(c, { htu: `${allowed.url}/orders`, token, iat: now() - WINDOW - 1 })), 'The DPoP proof iat is outside the accepted window');
      await expectProofRefused(await getOrders(await proof(c, { htu: `${allowed.url}/orders`, token, iat: now() + WINDOW + 2 })), 'The DPoP proof iat is outside the accepted window');
      expect((await getOrders(await proof(c, { htu: `${allowed.url}/orders`, token, iat: now() - WINDOW + 2 }))).status).toBe(200);
    });

    it('ath of another token', async () => {
      const other = await dpopToken(c, { scopes: ['orders:read'] });
      await expectProofRefused(await getOrders(await proof(c, { htu: `${allowed.url}/orders`, token: other })), 'The DPoP proof ath does not match the access token');
    });

    it('a valid proof by a key other than the one the token is bound to', async () => {
      const stranger = await dpopClient(idp);
      await expectProofRefused(await getOrders(await proof(stranger, { htu: `${allowed.url}/orders`, token })), 'The DPoP proof key is not the key the access token is bound to');
    });

    it('a jti seen before (same replica)', async () => {
      const value = await proof(c, { htu: `${allowed.url}/orders`, token });
      expect((await getOrders(value)).status).toBe(200);
      await expectProofRefused(await getOrders(value), 'The DPoP proof was already used');
      // The same jti from the same key, in a new proof: still a replay.
      await expectProofRefused(await getOrders(await proof(c, { htu: `${allowed.url}/orders`, token, jti: JSON.parse(Buffer.from(value.split('.')[1]!, 'base64url').toString()).jti })), 'The DPoP proof was already used');
    });
  });

  describe('RFC 9449 §7: schemes', () => {
    it('a DPoP-bound token sent as Bearer is refused (no downgrade), with both challenges', async () => {
      const response = await fetch(`${allowed.url}/orders`, { headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe(
        `Bearer ${REALM}, error="invalid_token", error_description="The access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof, never as a Bearer token", DPoP ${REALM}, ${ALGS}`,
      );
    });

    it('a token bound some other way (cnf without jkt, e.g. mTLS x5t#S256) sent as Bearer is refused, cache hit or not', async () => {
      const mtls = await idp.mintToken({ claims: { cnf: { 'x5t#S256': 'abc' } } });
      for (let i = 0; i < 2; i++) {
        const response = await fetch(`${allowed.url}/orders`, { headers: { authorization: `Bearer ${mtls}` } });
        expect(response.status).toBe(401);
        expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"');
      }
      const odd = await idp.mintToken({ claims: { cnf: { jkt: 42 } } });
      expect((await fetch(`${allowed.url}/orders`, { headers: { authorization: `Bearer ${odd}` } })).status).toBe(401);
    });

    it('a Bearer token sent with the DPoP scheme is refused, even with a valid proof', async () => {
      const bearer = await idp.serviceAccountToken({ scopes: ['orders:read'] });
      const response = await getOrders(await proof(c, { htu: `${allowed.url}/orders`, token: bearer }), allowed, bearer);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe(
        `Bearer ${REALM}, DPoP ${REALM}, error="invalid_token", error_description="The access token is not DPoP-bound: a Bearer token cannot be sent with the DPoP scheme", ${ALGS}`,
      );
      expect((await fetch(`${allowed.url}/orders`, { headers: { authorization: `Bearer ${bearer}` } })).status).toBe(200);
    });

    it('both schemes are offered when both are accepted; only DPoP when it is required', async () => {
      expect((await fetch(`${allowed.url}/orders`)).headers.get('www-authenticate')).toBe(`Bearer ${REALM}, DPoP ${REALM}, ${ALGS}`);
      expect((await fetch(`${required.url}/orders`)).headers.get('www-authenticate')).toBe(`DPoP ${REALM}, ${ALGS}`);
      const bearer = await idp.serviceAccountToken({ scopes: ['orders:read'] });
      const refused = await fetch(`${required.url}/orders`, { headers: { authorization: `Bearer ${bearer}` } });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe(
        `DPoP ${REALM}, error="invalid_token", error_description="This resource requires a DPoP-bound access token sent with the DPoP scheme and a DPoP proof", ${ALGS}`,
      );
      expect((await dpopFetch(c, token, 'GET', `${required.url}/orders`)).status).toBe(200);
      await expectProofRefused(await fetch(`${required.url}/orders`, { headers: { authorization: `DPoP ${token}` } }), 'A DPoP proof is required: send exactly one DPoP header', 'dpop');
    });

    it('answers bad input with RFC 6750/9449 errors and precise descriptions, never a 500', async () => {
      const cases: Array<[Record<string, string>, number, string]> = [
        [{ authorization: 'DPoP' }, 400, 'Malformed Authorization header: the DPoP access token is empty'],
        [{ authorization: 'DPoP    ' }, 400, 'Malformed Authorization header: the DPoP access token is empty'],
        [{ authorization: 'DPoP a b' }, 400, "Malformed Authorization header: use 'DPoP <token>'"],
        [{ authorization: 'DPoP\ttoken' }, 400, "Malformed Authorization header: use 'DPoP <token>'"],
        [{ authorization: `DPoP ${'a'.repeat(9000)}` }, 401, 'The access token is too large'],
        [{ authorization: 'DPoP not.a.jwt', dpop: 'x' }, 401, 'The access token is malformed'],
        [{ authorization: `DPoP ${token}`, dpop: '' }, 401, 'A DPoP proof is required: send exactly one DPoP header'],
        [{ authorization: `DPoP ${token}`, dpop: '...' }, 401, 'The DPoP proof is not a well-formed JWS'],
        [{ authorization: `DPoP ${token}`, dpop: `${Buffer.from('{"typ":"dpop+jwt","alg":"ES256","jwk":[]}').toString('base64url')}.e30.AA` }, 401, 'The DPoP proof header must carry a usable public jwk that fits its alg'],
        [{ authorization: `DPoP ${token}`, dpop: `${Buffer.from('[1]').toString('base64url')}.e30.AA` }, 401, 'The DPoP proof is not a well-formed JWS'],
        [{ authorization: `DPoP ${token}`, dpop: `${Buffer.from('{"typ":"dpop+jwt","alg":"RS256","jwk":{"kty":"RSA","n":"AQAB","e":"AQAB"}}').toString('base64url')}.e30.AA` }, 401, 'The DPoP proof header must carry a usable public jwk that fits its alg'],
        [{ authorization: `DPoP ${token}`, dpop: `${Buffer.from('{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"","y":""}}').toString('base64url')}.e30.AA` }, 401, 'The DPoP proof header must carry a usable public jwk that fits its alg'],
        [{ authorization: `DPoP ${token}`, dpop: `${Buffer.from('{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"oct","k":"AAAA"}}').toString('base64url')}.e30.AA` }, 401, 'The DPoP proof jwk contains private key material'],
        [{ authorization: `DPoP ${token}`, 'x-test': 'x', dpop: `${Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: {}, crit: ['exp'] })).toString('base64url')}.e30.AA` }, 401, 'The DPoP proof header must carry a usable public jwk that fits its alg'],
      ];
      // Random proofs: printable ASCII, and three segments of base64url (or JSON) noise.
      const noise = (n: number, alphabet: string) => Array.from({ length: n }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join('');
      const b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      for (let i = 0; i < 40; i++) {
        const value = i % 2 === 0 ? noise(1 + (i % 97), '!#$%&()*+-./:;<=>?@[]^_{|}~ABCabc012') : [noise(i, b64), Buffer.from(noise(i, '{}[]":,01truefalsenul')).toString('base64url'), noise(3, b64)].join('.');
        const response = await fetch(`${allowed.url}/orders`, { headers: { authorization: `DPoP ${token}`, dpop: value } });
        expect(response.status, value).toBe(401);
        expect(response.headers.get('www-authenticate'), value).toMatch(/DPoP realm="[^"]*", error="invalid_dpop_proof", error_description="[^"]+"/);
      }
      for (const [headers, status, description] of cases) {
        const response = await fetch(`${allowed.url}/orders`, { headers });
        const body = (await response.json()) as { message: string };
        expect(response.status, JSON.stringify(headers).slice(0, 80)).toBe(status);
        expect(body.message).toBe(description);
        expect(response.headers.get('www-authenticate')).toContain(`error_description="${description}"`);
      }
    });
  });

  describe('server nonces (RFC 9449 §9)', () => {
    let withNonce: ListeningDpopApp;
    beforeAll(async () => {
      withNonce = await startDpopApp(platform, { url: idp.issuer, audience: AUDIENCE, dpop: { mode: 'allowed', nonce: { rotationSeconds: 5 } } });
    });
    afterAll(() => withNonce?.close());

    it('challenges a proof without a nonce with use_dpop_nonce; the client retries with it', async () => {
      const first = await fetch(`${withNonce.url}/orders`, { headers: dpopHeaders(token, await proof(c, { htu: `${withNonce.url}/orders`, token })) });
      expect(first.status).toBe(401);
      const nonce = first.headers.get('dpop-nonce');
      expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(first.headers.get('www-authenticate')).toBe(`Bearer ${REALM}, DPoP ${REALM}, error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof", ${ALGS}`);
      const retried = await fetch(`${withNonce.url}/orders`, { headers: dpopHeaders(token, await proof(c, { htu: `${withNonce.url}/orders`, token, nonce: nonce! })) });
      expect(retried.status).toBe(200);

      const stale = await fetch(`${withNonce.url}/orders`, { headers: dpopHeaders(token, await proof(c, { htu: `${withNonce.url}/orders`, token, nonce: 'not-a-nonce-we-gave' })) });
      expect(stale.status).toBe(401);
      expect(stale.headers.get('www-authenticate')).toContain('error="use_dpop_nonce"');
      expect(stale.headers.get('dpop-nonce')).toBe(nonce);
    });

    it('oauth4webapi follows the nonce challenge by itself (isDPoPNonceError, one retry)', async () => {
      const fresh = await dpopClient(idp);
      const bound = await dpopToken(fresh, { scopes: ['orders:read'] });
      await expect(oauth.protectedResourceRequest(bound, 'GET', new URL(`${withNonce.url}/orders`), new Headers(), null, { [oauth.allowInsecureRequests]: true, DPoP: fresh.handle })).rejects.toSatisfy(oauth.isDPoPNonceError);
      expect((await dpopFetch(fresh, bound, 'GET', `${withNonce.url}/orders`)).status).toBe(200);
    });

    it('puts the current nonce on every 2xx answer', async () => {
      const nonce = (await fetch(`${withNonce.url}/orders`, { headers: dpopHeaders(token, await proof(c, { htu: `${withNonce.url}/orders`, token })) })).headers.get('dpop-nonce')!;
      const ok = await fetch(`${withNonce.url}/orders`, { headers: dpopHeaders(token, await proof(c, { htu: `${withNonce.url}/orders`, token, nonce })) });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('dpop-nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    });
  });

  describe('htu behind a proxy', () => {
    let prefixed: ListeningDpopApp;
    let forwarded: ListeningDpopApp;
    beforeAll(async () => {
      prefixed = await startDpopApp(platform, { url: idp.issuer, audience: AUDIENCE, dpop: { mode: 'allowed', publicUrl: 'https://api.example.com/gateway/' } });
      forwarded = await startDpopApp(platform, { url: idp.issuer, audience: AUDIENCE, dpop: { mode: 'allowed', trustProxyHeaders: true } });
    });
    afterAll(async () => {
      await prefixed?.close();
      await forwarded?.close();
    });

    it('publicUrl: htu is the public URL with the prefix the proxy strips', async () => {
      const good = await proof(c, { htu: 'https://api.example.com/gateway/orders', token });
      expect((await fetch(`${prefixed.url}/orders`, { headers: dpopHeaders(token, good) })).status).toBe(200);
      const direct = await proof(c, { htu: `${prefixed.url}/orders`, token });
      await expectProofRefused(await fetch(`${prefixed.url}/orders`, { headers: dpopHeaders(token, direct) }), 'The DPoP proof htu does not match the request URL');
    });

    it('trusted X-Forwarded-Proto/Host/Prefix rebuild the URL; untrusted ones are ignored', async () => {
      const forwardedHeaders = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com', 'x-forwarded-prefix': '/gateway' };
      const good = await proof(c, { htu: 'https://api.example.com/gateway/orders', token });
      const headers = dpopHeaders(token, good);
      for (const [name, value] of Object.entries(forwardedHeaders)) headers.set(name, value);
      expect((await fetch(`${forwarded.url}/orders`, { headers })).status).toBe(200);
      const untrusted = dpopHeaders(token, await proof(c, { htu: 'https://api.example.com/gateway/orders', token }));
      for (const [name, value] of Object.entries(forwardedHeaders)) untrusted.set(name, value);
      await expectProofRefused(await fetch(`${allowed.url}/orders`, { headers: untrusted }), 'The DPoP proof htu does not match the request URL');
      const bad = dpopHeaders(token, await proof(c, { htu: 'https://api.example.com/gateway/orders', token }));
      bad.set('x-forwarded-host', 'api.example.com/evil?');
      await expectProofRefused(await fetch(`${forwarded.url}/orders`, { headers: bad }), 'The DPoP proof htu does not match the request URL');
    });
  });

  describe('@RequireDpop()', () => {
    let off: ListeningDpopApp;
    beforeAll(async () => {
      off = await startDpopApp(platform, { url: idp.issuer, audience: AUDIENCE });
    });
    afterAll(() => off?.close());

    it('with dpop off, a DPoP-bound token is refused as Bearer and the DPoP scheme is not read', async () => {
      const response = await fetch(`${off.url}/orders`, { headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe(`Bearer ${REALM}, error="invalid_token", error_description="The access token is DPoP-bound, and this resource does not accept DPoP"`);
      expect((await fetch(`${off.url}/orders`, { headers: dpopHeaders(token, await proof(c, { htu: `${off.url}/orders`, token })) })).headers.get('www-authenticate')).toBe(`Bearer ${REALM}`);
    });

    it('the token path applies it when given the route (TokenAuthenticator.identify(request, context))', async () => {
      const authenticator = off.app.get(TokenAuthenticator);
      const handler = DpopTestController.prototype.dpopOnly;
      const route = { getType: () => 'http', getClass: () => DpopTestController, getHandler: () => handler, switchToHttp: () => ({ getRequest: () => undefined, getResponse: () => undefined }) } as never;
      const host = new URL(off.url).host;
      const requestWith = (authorization: string, dpop?: string) => ({
        method: 'GET',
        url: '/dpop-only',
        headers: { host, authorization, ...(dpop ? { dpop } : {}) },
        rawHeaders: ['Host', host, 'Authorization', authorization, ...(dpop ? ['DPoP', dpop] : [])],
      });
      const bearer = await idp.serviceAccountToken({ scopes: ['orders:read'] });
      const refused = await authenticator.authenticate(requestWith(`Bearer ${bearer}`), route).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(InvalidTokenError);
      expect((refused as InvalidTokenError).headers('ignored')['WWW-Authenticate']).toBe(
        `DPoP ${REALM}, error="invalid_token", error_description="This resource requires a DPoP-bound access token sent with the DPoP scheme and a DPoP proof", ${ALGS}`,
      );
      // The same Bearer token elsewhere, without the route: accepted (mode off).
      expect((await authenticator.authenticate(requestWith(`Bearer ${bearer}`))).subject).toBe('sa:dev-service-account');
      const value = await proof(c, { htu: `${off.url}/dpop-only`, token });
      expect((await authenticator.authenticate(requestWith(`DPoP ${token}`, value), route)).subject).toBe('sa:dev-service-account');
    });

    it('forces DPoP on its route whatever the mode', async () => {
      const bearer = await idp.serviceAccountToken({ scopes: ['orders:read'] });
      const refused = await fetch(`${off.url}/dpop-only`, { headers: { authorization: `Bearer ${bearer}` } });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toContain(`DPoP ${REALM}, error="invalid_token"`);
      expect((await fetch(`${off.url}/orders`, { headers: { authorization: `Bearer ${bearer}` } })).status).toBe(200);
      expect((await dpopFetch(c, token, 'GET', `${off.url}/dpop-only`)).status).toBe(200);
    });

  });

  describe('metrics', () => {
    it('counts identity_dpop_proofs_total by result', async () => {
      const counted = await startDpopApp(platform, { url: idp.issuer, audience: AUDIENCE, metrics: true, dpop: { mode: 'allowed' } });
      try {
        const read = async (result: string) => (await register.getSingleMetric('identity_dpop_proofs_total')!.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
        const [accepted, replay] = [await read('accepted'), await read('replay')];
        const value = await proof(c, { htu: `${counted.url}/orders`, token });
        expect((await getOrders(value, counted)).status).toBe(200);
        expect((await getOrders(value, counted)).status).toBe(401);
        expect(await read('accepted')).toBe(accepted + 1);
        expect(await read('replay')).toBe(replay + 1);
      } finally {
        await counted.close();
      }
    });
  });
});
