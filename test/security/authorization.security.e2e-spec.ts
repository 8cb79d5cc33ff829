import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevelopmentIdentityProvider } from '../../src/testing/index.js';
import { nowSeconds, partsOf, signRaw } from './support/craft.js';
import { SecretRegistry } from './support/secrets.js';
import {
  AUDIENCE,
  bearer,
  expectBareChallenge,
  expectInsufficientScope,
  expectInvalidRequest,
  expectInvalidToken,
  PLATFORMS,
  startSecurityApp,
  type SecurityApp,
} from './support/security-app.js';

/**
 * Authorization confusion (genuinely signed tokens whose claims try to say more than they do)
 * and transport (RFC 6750 §2: the Authorization header only, §3: the answers).
 */

let idp: DevelopmentIdentityProvider;
const secrets = new SecretRegistry();

beforeAll(async () => {
  idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
  secrets.privateKey(idp.signingKeyMaterial().privateKey);
});

afterAll(async () => {
  await idp?.stop();
});

describe.each(PLATFORMS)('authorization and transport on %s', (platform) => {
  let s: SecurityApp;
  let service: Record<string, unknown>;
  let user: Record<string, unknown>;

  beforeAll(async () => {
    s = await startSecurityApp(platform, () => ({ url: idp.issuer, audience: AUDIENCE }));
    service = partsOf(await idp.mintToken()).payload;
    user = partsOf(await idp.mintToken({ kind: 'user' })).payload;
  });

  afterAll(async () => {
    secrets.assertAbsent(s.logs.text, `${platform} logs`);
    // Nothing the hostile claims said reached a prototype.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('roles');
    await s?.close();
  });

  const sign = (payload: unknown) => secrets.token(signRaw({ alg: 'RS256', typ: 'JWT', kid: idp.signingKid }, payload, idp.signingKeyMaterial().privateKey, 'RS256'));
  const fresh = (base: Record<string, unknown>, changes: Record<string, unknown>): Record<string, unknown> => ({ ...base, iat: nowSeconds(), exp: nowSeconds() + 300, ...changes });
  const call = (path: string, token: string) => s.http.get(path).set(bearer(token));

  describe('scopes and roles', () => {
    it('reads scope as a space-separated string; an array counts element by element', async () => {
      expect((await call('/sec/orders', sign(fresh(service, { scope: 'orders:read' })))).status).toBe(200);
      expect((await call('/sec/orders', sign(fresh(service, { scope: ['orders:read'] })))).status).toBe(200);
    });

    it('never splits an array element holding two scopes, nor a tab- or comma-separated string', async () => {
      for (const scope of [['orders:read orders:write'], 'orders:read\torders:write', 'orders:read,orders:write', 'orders:read;orders:write', 'orders:read\norders:write', 'orders:read\u00a0orders:write']) {
        const token = sign(fresh(service, { scope }));
        expectInsufficientScope(await call('/sec/orders', token), JSON.stringify(scope));
        expectInsufficientScope(await call('/sec/orders-write', token), JSON.stringify(scope));
      }
    });

    it('compares scopes exactly: no case folding, prefixes, substrings or wildcards', async () => {
      for (const scope of ['ORDERS:READ', 'Orders:Read', 'orders', 'orders:', 'orders:read-all', 'xorders:read', 'orders:*', '*', ' orders:reads', 'orders:read\u0000']) {
        expectInsufficientScope(await call('/sec/orders', sign(fresh(service, { scope }))), scope);
      }
      for (const scope of [42, true, { 'orders:read': true }, null]) {
        expectInsufficientScope(await call('/sec/orders', sign(fresh(service, { scope }))), JSON.stringify(scope));
      }
    });

    it('reads roles only from user.roles (s3db), never a top-level roles claim', async () => {
      const { user: profile, ...rest } = user as { user: Record<string, unknown> };
      const token = sign(fresh(rest, { roles: ['admin'], user: { ...profile, roles: ['viewer'] } }));
      expectInsufficientScope(await call('/sec/admin', token));
      expect((await call('/sec/admin', sign(fresh(user, {})))).status).toBe(200);
    });

    it('reads a role string holding one name as that role', async () => {
      const profile = user.user as Record<string, unknown>;
      expect((await call('/sec/admin', sign(fresh(user, { user: { ...profile, roles: 'admin' } })))).status).toBe(200);
      expectInsufficientScope(await call('/sec/admin', sign(fresh(user, { user: { ...profile, roles: 'ADMIN' } }))));
      expectInsufficientScope(await call('/sec/admin', sign(fresh(user, { user: { ...profile, roles: ['admin,viewer'] } }))));
    });

    // Roles are read with asRoleList(), never the scope reader: a roles *string* is one role, so
    // "viewer admin" does not grant admin. Roles are multi-valued (RFC 9068 §2.2.3.1, SCIM: JSON
    // arrays); a string naming two roles is as ambiguous as an array element holding two.
    it('never splits a roles string into several roles', async () => {
      const profile = user.user as Record<string, unknown>;
      expectInsufficientScope(await call('/sec/admin', sign(fresh(user, { user: { ...profile, roles: 'viewer admin' } }))));
    });

    it('keeps users off service routes and service accounts off user routes', async () => {
      const userToken = sign(fresh(user, {}));
      const serviceToken = sign(fresh(service, {}));
      expectInsufficientScope(await call('/sec/service', userToken));
      expectInsufficientScope(await call('/sec/user', serviceToken));
      expect((await call('/sec/user', userToken)).status).toBe(200);
      expect((await call('/sec/service', serviceToken)).status).toBe(200);
      // A user token that only *calls* itself a service account by subject prefix is one (s3db rule) ...
      expect((await call('/sec/service', sign(fresh(service, { token_use: undefined, service_account: undefined })))).body.kind).toBe('service');
    });

    it('refuses a token claiming to be both a user and a service account', async () => {
      const both = [
        fresh(user, { service_account: service.service_account }),
        fresh(service, { user: user.user }),
        fresh(user, { token_use: 'user', sub: 'sa:dev-service-account' }),
        fresh(service, { token_use: 'admin' }),
        fresh(service, { token_use: ['user', 'service'] }),
      ];
      for (const claims of both) expectInvalidToken(await call('/sec/any', sign(claims)), 'ambiguous_identity', JSON.stringify(claims.token_use));
    });

    it('ignores __proto__ and constructor keys in claims and keeps the global prototype clean', async () => {
      const profile = user.user as Record<string, unknown>;
      const text = JSON.stringify(fresh(user, { scope: 'orders:read', user: { ...profile, roles: ['viewer'] } }))
        .replace('"user":{', '"user":{"__proto__":{"roles":["admin"],"polluted":true},')
        .replace('{', '{"__proto__":{"polluted":true,"isAdmin":true,"scope":"identity:admin"},"constructor":{"prototype":{"polluted":true}},"prototype":{"isAdmin":true},');
      const token = sign(text);
      const response = await call('/sec/proto', token);
      expect(response.status, response.text).toBe(200);
      expect(response.body).toMatchObject({ polluted: null, isAdmin: null, roles: ['viewer'], scopes: ['orders:read'] });
      expect(response.body.claimNames).toEqual(expect.arrayContaining(['__proto__', 'constructor', 'prototype']));
      expect(response.body.objectPrototypeKeys).toBe(Object.getOwnPropertyNames(Object.prototype).length);
      expectInsufficientScope(await call('/sec/admin', token));
      expectInsufficientScope(await call('/sec/orders-write', token));
      // The same claims through a POST with a hostile JSON body.
      const post = await s.http
        .post('/sec/any')
        .set(bearer(token))
        .set('content-type', 'application/json')
        .send('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}');
      expect([200, 400]).toContain(post.status); // Fastify refuses __proto__ bodies with 400; Express keeps it an own key
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  });

  describe('transport (RFC 6750 §2)', () => {
    let token: string;
    beforeAll(async () => {
      token = secrets.token(await idp.mintToken());
    });

    it('answers a bare challenge with no credentials, Basic, or a token outside the Authorization header', async () => {
      expectBareChallenge(await s.http.get('/sec/any'), 'none');
      expectBareChallenge(await s.http.get('/sec/any').set('Authorization', 'Basic ZGV2LXNlcnZpY2UtYWNjb3VudDpzZWNyZXQ='), 'Basic');
      expectBareChallenge(await s.http.get('/sec/any').set('Authorization', `Token ${token}`), 'another scheme');
      expectBareChallenge(await s.http.get('/sec/any').set('Authorization', `Bearertoken${token}`), 'no separator');
      expectBareChallenge(await s.http.get(`/sec/any?access_token=${token}`), 'query string');
      expectBareChallenge(await s.http.post('/sec/any').type('form').send({ access_token: token }), 'form body');
      expectBareChallenge(await s.http.post('/sec/any').send({ access_token: token }), 'JSON body');
      expectBareChallenge(await s.http.get('/sec/any').set('Cookie', `access_token=${token}`), 'cookie');
      expectBareChallenge(await s.http.get('/sec/any').set('X-Access-Token', token), 'custom header');
    });

    it('refuses two Authorization headers, even when both carry the same valid token', async () => {
      expectInvalidRequest(await s.http.get('/sec/any').set('Authorization', [`Bearer ${token}`, `Bearer ${token}`] as unknown as string), 'same twice');
      expectInvalidRequest(await s.http.get('/sec/any').set('Authorization', ['Basic eDp5', `Bearer ${token}`] as unknown as string), 'Basic then Bearer');
      expectInvalidRequest(await s.http.get('/sec/any').set('Authorization', [`Bearer ${token}`, 'Bearer x.y.z'] as unknown as string), 'two tokens');
    });

    it('reads the scheme case-insensitively with one or more spaces', async () => {
      for (const header of [`Bearer ${token}`, `bearer ${token}`, `BEARER ${token}`, `bEaReR ${token}`, `Bearer    ${token}`]) {
        expect((await s.http.get('/sec/any').set('Authorization', header)).status, header.slice(0, 12)).toBe(200);
      }
    });

    it('answers 400 invalid_request for tabs, an empty token, junk after the token, quotes, commas', async () => {
      for (const header of ['Bearer', 'Bearer ', 'Bearer      ', `Bearer\t${token}`, `Bearer \t${token}`, `Bearer ${token} x`, `Bearer ${token},Bearer ${token}`, `Bearer "${token}"`, 'Bearer é', `Bearer ${token}\u00a0`]) {
        expectInvalidRequest(await s.http.get('/sec/any').set('Authorization', header), JSON.stringify(header.slice(0, 12)));
      }
    });
  });
});
