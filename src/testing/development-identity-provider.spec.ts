import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWK, type JWTPayload } from 'jose';
import { DevelopmentIdentityProvider } from './index.js';

type Json = Record<string, any>;

const AUDIENCE = 'https://api.example.com';

async function getJson(url: string, init?: RequestInit): Promise<{ status: number; headers: Headers; body: Json }> {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as Json) : {} };
}

function form(params: Record<string, string>): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  };
}

function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;
}

/** Verifies against the JWKS fetched over HTTP, like a resource server would. */
async function verify(idp: DevelopmentIdentityProvider, token: string, audience = AUDIENCE): Promise<JWTPayload> {
  const jwks = (await getJson(`${idp.issuer}/.well-known/jwks.json`)).body as { keys: JWK[] };
  const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: idp.issuer, audience });
  return payload;
}

describe('DevelopmentIdentityProvider', () => {
  let idp: DevelopmentIdentityProvider;

  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({
      audience: AUDIENCE,
      clients: [
        {
          clientId: 'orders-worker',
          clientSecret: 'orders-worker-secret',
          name: 'Orders Worker',
          scopes: ['orders:read'],
          tenantId: 't1',
          tokenEndpointAuthMethod: 'client_secret_post',
        },
      ],
    });
  });

  afterAll(async () => {
    await idp?.stop();
  });

  const serviceTokenRequest = (params: Record<string, string>) =>
    getJson(`${idp.issuer}/oauth/token`, form({ client_id: 'orders-worker', client_secret: 'orders-worker-secret', ...params }));

  it('listens on 127.0.0.1 with an issuer without trailing slash', () => {
    expect(idp.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(idp.port).toBeGreaterThan(0);
  });

  describe('metadata', () => {
    it('serves the s3db document with exactly the upstream fields', async () => {
      const { status, headers, body } = await getJson(`${idp.issuer}/.well-known/s3db-identity.json`);
      expect(status).toBe(200);
      expect(headers.get('cache-control')).toBe('public, max-age=3600');
      const issuer = idp.issuer;
      expect(Object.keys(body).sort()).toEqual(
        [
          'version', 'issuedAt', 'cacheTtl', 'issuer', 'discoveryUrl', 'jwksUrl', 'authorizationUrl', 'tokenUrl',
          'userinfoUrl', 'introspectionUrl', 'revocationUrl', 'supportedScopes', 'supportedGrantTypes',
          'supportedResponseTypes', 'resources', 'clientRegistration',
        ].sort(),
      );
      expect(body).toMatchObject({
        version: 1,
        cacheTtl: 3600,
        issuer,
        discoveryUrl: `${issuer}/.well-known/openid-configuration`,
        jwksUrl: `${issuer}/.well-known/jwks.json`,
        authorizationUrl: `${issuer}/oauth/authorize`,
        tokenUrl: `${issuer}/oauth/token`,
        userinfoUrl: `${issuer}/oauth/userinfo`,
        introspectionUrl: `${issuer}/oauth/introspect`,
        revocationUrl: `${issuer}/oauth/revoke`,
        supportedResponseTypes: ['code'],
        resources: { users: 'users', tenants: 'tenants', clients: 'clients' },
        clientRegistration: { url: `${issuer}/oauth/register`, supportedAuth: ['client_secret_basic', 'client_secret_post'] },
      });
      expect(Math.abs(Date.parse(body['issuedAt']) - Date.now())).toBeLessThan(5000);
      expect(body['supportedScopes']).toEqual(
        expect.arrayContaining(['openid', 'profile', 'email', 'orders:read', 'orders:write', 'jobs:dispatch', 'identity:admin', 'reports:read']),
      );
      expect(body['supportedGrantTypes']).toEqual(expect.arrayContaining(['client_credentials', 'password']));
    });

    it('keeps the upstream constant-ETag quirk (304 on a matching If-None-Match)', async () => {
      const first = await fetch(`${idp.issuer}/.well-known/s3db-identity.json`);
      const etag = first.headers.get('etag')!;
      await first.arrayBuffer();
      const second = await fetch(`${idp.issuer}/.well-known/s3db-identity.json`, { headers: { 'if-none-match': etag } });
      expect(second.status).toBe(304);
      expect(second.headers.get('etag')).toBe(etag);
    });

    it('serves oidc-provider discovery consistent with the s3db document', async () => {
      const discovery = (await getJson(`${idp.issuer}/.well-known/openid-configuration`)).body;
      const s3db = (await getJson(`${idp.issuer}/.well-known/s3db-identity.json`)).body;
      expect(discovery).toMatchObject({
        issuer: idp.issuer,
        jwks_uri: s3db['jwksUrl'],
        token_endpoint: s3db['tokenUrl'],
        authorization_endpoint: s3db['authorizationUrl'],
        userinfo_endpoint: s3db['userinfoUrl'],
        introspection_endpoint: s3db['introspectionUrl'],
        revocation_endpoint: s3db['revocationUrl'],
        registration_endpoint: s3db['clientRegistration'].url,
      });
      expect([...discovery['grant_types_supported']].sort()).toEqual([...s3db['supportedGrantTypes']].sort());
      expect(discovery['scopes_supported']).toEqual(expect.arrayContaining(s3db['supportedScopes']));
    });

    it('publishes an RS256 (RSA 2048) and an ES256 public key with kids', async () => {
      const { keys } = (await getJson(`${idp.issuer}/.well-known/jwks.json`)).body as { keys: Json[] };
      const rsa = keys.find((key) => key['alg'] === 'RS256')!;
      const ec = keys.find((key) => key['alg'] === 'ES256')!;
      expect(rsa).toMatchObject({ kty: 'RSA', use: 'sig', kid: idp.signingKid, e: 'AQAB' });
      expect(Buffer.from(rsa['n'], 'base64url').length * 8).toBe(2048);
      expect(ec).toMatchObject({ kty: 'EC', crv: 'P-256', use: 'sig' });
      expect(typeof ec['kid']).toBe('string');
      for (const key of keys) expect(key).not.toHaveProperty('d');
      expect(keys.map((key) => key['kid'])).toEqual(idp.keys.map((key) => key.kid));
    });
  });

  describe('client_credentials', () => {
    it('issues an upstream-shaped service-account JWT', async () => {
      const { status, body } = await serviceTokenRequest({ grant_type: 'client_credentials', scope: 'orders:read' });
      expect(status).toBe(200);
      expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 900, scope: 'orders:read' });
      const token = body['access_token'] as string;
      expect(decodeProtectedHeader(token)).toEqual({ alg: 'RS256', typ: 'JWT', kid: idp.signingKid });
      const payload = await verify(idp, token);
      expect(payload).toEqual({
        iss: idp.issuer,
        sub: 'sa:orders-worker',
        aud: AUDIENCE,
        scope: 'orders:read',
        token_type: 'access_token',
        token_use: 'service',
        client_id: 'orders-worker',
        service_account: {
          clientId: 'orders-worker',
          client_id: 'orders-worker',
          name: 'Orders Worker',
          scopes: ['orders:read'],
          audiences: [AUDIENCE],
          tenantId: 't1',
        },
        iat: expect.any(Number),
        exp: expect.any(Number),
      });
      expect(payload.exp! - payload.iat!).toBe(900);
      expect(Object.keys(payload).slice(0, 7)).toEqual(['iss', 'sub', 'aud', 'scope', 'token_type', 'token_use', 'client_id']);
    });

    it('grants an empty scope when none is requested (like upstream)', async () => {
      const { body } = await serviceTokenRequest({ grant_type: 'client_credentials' });
      expect((await verify(idp, body['access_token'])).scope).toBe('');
    });

    it('rejects scopes the client may not use and scopes the server does not know', async () => {
      const notAllowed = await serviceTokenRequest({ grant_type: 'client_credentials', scope: 'orders:write' });
      expect(notAllowed.status).toBe(400);
      expect(notAllowed.body['error']).toBe('invalid_scope');
      const unknown = await serviceTokenRequest({ grant_type: 'client_credentials', scope: 'orders:read nope:read' });
      expect(unknown.status).toBe(400);
      expect(unknown.body['error']).toBe('invalid_scope');
    });

    it('answers 401 invalid_client to a wrong secret', async () => {
      const { status, body } = await serviceTokenRequest({ grant_type: 'client_credentials', client_secret: 'wrong' });
      expect(status).toBe(401);
      expect(body['error']).toBe('invalid_client');
    });

    it('honours a requested resource as the audience', async () => {
      const token = await idp.serviceAccountToken({ clientId: 'orders-worker', audience: 'https://other.example.com' });
      const payload = await verify(idp, token, 'https://other.example.com');
      expect(payload['aud']).toBe('https://other.example.com');
      expect(payload['service_account']).toMatchObject({ audiences: ['https://other.example.com'] });
    });

    it('serviceAccountToken() uses the built-in service account by default', async () => {
      const payload = await verify(idp, await idp.serviceAccountToken());
      expect(payload).toMatchObject({ sub: 'sa:dev-service-account', token_use: 'service', client_id: 'dev-service-account' });
      expect(String(payload['scope']).split(' ')).toEqual(['orders:read', 'orders:write', 'jobs:dispatch', 'identity:admin', 'reports:read']);
      const narrow = await verify(idp, await idp.serviceAccountToken({ scopes: ['jobs:dispatch'] }));
      expect(narrow['scope']).toBe('jobs:dispatch');
    });
  });

  describe('password grant', () => {
    it('issues an upstream-shaped user JWT for the fixed user', async () => {
      const { status, body } = await getJson(
        `${idp.issuer}/oauth/token`,
        form({ grant_type: 'password', client_id: 'web-app', username: 'alice@example.com', password: 'alice-password', scope: 'openid email orders:read' }),
      );
      expect(status).toBe(200);
      expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 900, scope: 'openid email orders:read' });
      const payload = await verify(idp, body['access_token']);
      expect(payload).toEqual({
        iss: idp.issuer,
        sub: 'W76xhMqQaZiqmOHzN3e6Q0',
        aud: AUDIENCE,
        scope: 'openid email orders:read',
        token_type: 'access_token',
        token_use: 'user',
        client_id: 'web-app',
        email: 'alice@example.com',
        tenantId: 'tenant-001',
        user: {
          id: 'W76xhMqQaZiqmOHzN3e6Q0',
          tenantId: 'tenant-001',
          email: 'alice@example.com',
          name: 'Alice Example',
          roles: ['admin', 'orders-manager'],
        },
        iat: expect.any(Number),
        exp: expect.any(Number),
      });
      expect(payload).not.toHaveProperty('roles');
    });

    it('rejects a wrong password with invalid_grant', async () => {
      const { status, body } = await getJson(
        `${idp.issuer}/oauth/token`,
        form({ grant_type: 'password', client_id: 'web-app', username: 'alice@example.com', password: 'nope' }),
      );
      expect(status).toBe(400);
      expect(body['error']).toBe('invalid_grant');
    });

    it('userToken() is one call', async () => {
      const payload = await verify(idp, await idp.userToken({ scopes: ['openid', 'orders:write'] }));
      expect(payload).toMatchObject({ sub: idp.user.id, scope: 'openid orders:write', token_use: 'user' });
    });
  });

  describe('dynamic client registration (RFC 7591 / 7592)', () => {
    /** RFC 7591 registration, a token with the secret, an RFC 7592 read, then a PUT of the metadata read. */
    async function registerAndUpdate(provider: DevelopmentIdentityProvider) {
      const created = await getJson(`${provider.issuer}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          client_name: 'Reports Job',
          grant_types: ['client_credentials'],
          response_types: [],
          scope: 'reports:read',
          token_endpoint_auth_method: 'client_secret_basic',
          audience: AUDIENCE,
        }),
      });
      expect(created.status).toBe(201);
      const { client_id: clientId, client_secret: oldSecret, registration_client_uri: uri, registration_access_token: rat } = created.body;
      expect(typeof clientId).toBe('string');
      expect(typeof oldSecret).toBe('string');
      expect(uri).toBe(`${provider.issuer}/oauth/register/${clientId}`);
      expect(typeof rat).toBe('string');
      expect(created.body['client_secret_expires_at']).toBe(0);

      const tokenWith = (secret: string) =>
        getJson(`${provider.issuer}/oauth/token`, {
          ...form({ grant_type: 'client_credentials', scope: 'reports:read' }),
          headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId, secret) },
        });
      const first = await tokenWith(oldSecret);
      expect(first.status).toBe(200);
      expect(await verify(provider, first.body['access_token'])).toMatchObject({ sub: `sa:${clientId}`, scope: 'reports:read' });

      const read = await getJson(uri, { headers: { authorization: `Bearer ${rat}` } });
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject({ client_id: clientId, client_name: 'Reports Job', scope: 'reports:read' });

      const { registration_access_token: _rat, registration_client_uri: _uri, client_secret: _secret, client_secret_expires_at: _exp, client_id_issued_at: _iat, ...metadata } = read.body;
      const updated = await getJson(uri, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${rat}` },
        body: JSON.stringify(metadata),
      });
      expect(updated.status).toBe(200);
      const newRat = updated.body['registration_access_token'] as string;
      expect(newRat).not.toBe(rat);
      return { clientId, oldSecret, uri, newRat, updatedSecret: updated.body['client_secret'] as string, tokenWith };
    }

    it('registers, reads, updates (keeping the secret, like stock oidc-provider) and deletes a client', async () => {
      const { clientId, oldSecret, uri, newRat, updatedSecret, tokenWith } = await registerAndUpdate(idp);
      expect(updatedSecret).toBe(oldSecret);
      expect((await tokenWith(oldSecret)).status).toBe(200);

      const deleted = await fetch(uri, { method: 'DELETE', headers: { authorization: `Bearer ${newRat}` } });
      expect(deleted.status).toBe(204);
      expect(idp.clientMetadata(clientId)).toBeUndefined();
      const afterDelete = await tokenWith(oldSecret);
      expect(afterDelete.status).toBe(401);
      expect(afterDelete.body['error']).toBe('invalid_client');
    });

    it('rotateClientSecretOnUpdate: true issues a new secret on update and the old one fails at once', async () => {
      const rotating = await DevelopmentIdentityProvider.start({ audience: AUDIENCE, rotateClientSecretOnUpdate: true });
      try {
        const { oldSecret, updatedSecret: newSecret, tokenWith } = await registerAndUpdate(rotating);
        expect(newSecret).not.toBe(oldSecret);
        expect((await tokenWith(newSecret)).status).toBe(200);
        const withOld = await tokenWith(oldSecret);
        expect(withOld.status).toBe(401);
        expect(withOld.body['error']).toBe('invalid_client');
      } finally {
        await rotating.stop();
      }
    });

    it('does not require redirect_uris for a client_credentials client', async () => {
      const created = await getJson(`${idp.issuer}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_types: ['client_credentials'], response_types: [], token_endpoint_auth_method: 'client_secret_post' }),
      });
      expect(created.status).toBe(201);
      expect(created.body['redirect_uris'] ?? []).toEqual([]);
      const token = await idp.serviceAccountToken({ clientId: created.body['client_id'], scopes: ['orders:read'] });
      expect((await verify(idp, token))['scope']).toBe('orders:read');
    });

    it('registerClient() adds a client programmatically', async () => {
      const client = await idp.registerClient({ clientId: 'jobs-runner', scopes: ['jobs:dispatch'], audience: 'https://jobs.example.com' });
      expect(client.clientSecret).toEqual(expect.any(String));
      const payload = await verify(idp, await idp.serviceAccountToken({ clientId: 'jobs-runner' }), 'https://jobs.example.com');
      expect(payload).toMatchObject({ sub: 'sa:jobs-runner', scope: 'jobs:dispatch', aud: 'https://jobs.example.com' });
    });
  });

  describe('introspection', () => {
    const introspect = (token: string) =>
      getJson(`${idp.issuer}/oauth/introspect`, form({ token, client_id: 'orders-worker', client_secret: 'orders-worker-secret' }));

    it('describes a service token like upstream', async () => {
      const token = await idp.serviceAccountToken({ clientId: 'orders-worker' });
      const { status, body } = await introspect(token);
      expect(status).toBe(200);
      expect(body).toMatchObject({
        active: true,
        sub: 'sa:orders-worker',
        client_id: 'orders-worker',
        scope: 'orders:read',
        token_use: 'service',
        aud: AUDIENCE,
        tenant_id: 't1',
        service_account: { clientId: 'orders-worker' },
      });
    });

    it('describes a user token like upstream', async () => {
      const { body } = await introspect(await idp.userToken());
      expect(body).toMatchObject({ active: true, sub: idp.user.id, client_id: 'web-app', token_use: 'user', tenant_id: 'tenant-001' });
      expect(body['user']).toMatchObject({ roles: ['admin', 'orders-manager'] });
    });

    it('revocation makes introspection answer active:false', async () => {
      const token = await idp.serviceAccountToken({ clientId: 'orders-worker' });
      expect((await introspect(token)).body['active']).toBe(true);
      const revoked = await fetch(
        `${idp.issuer}/oauth/revoke`,
        form({ token, client_id: 'orders-worker', client_secret: 'orders-worker-secret' }),
      );
      expect(revoked.status).toBe(200);
      expect((await introspect(token)).body).toEqual({ active: false });
    });

    it('answers active:false for garbage and expired tokens', async () => {
      expect((await introspect('not-a-token')).body).toEqual({ active: false });
      expect((await introspect(await idp.mintToken({ expiresIn: -60 }))).body).toEqual({ active: false });
    });
  });

  describe('mintToken', () => {
    it('signs an upstream-shaped payload with the current key, with overrides', async () => {
      const token = await idp.mintToken({ claims: { aud: 'https://wrong.example.com' }, omit: ['scope'] });
      expect(decodeProtectedHeader(token)).toEqual({ alg: 'RS256', typ: 'JWT', kid: idp.signingKid });
      const payload = await verify(idp, token, 'https://wrong.example.com');
      expect(payload).toMatchObject({ sub: 'sa:dev-service-account', token_use: 'service', service_account: { clientId: 'dev-service-account' } });
      expect(payload).not.toHaveProperty('scope');
    });

    it('can sign with the ES256 key, as a user, or claim an unknown kid', async () => {
      const es = await idp.mintToken({ alg: 'ES256', kind: 'user' });
      expect(decodeProtectedHeader(es).alg).toBe('ES256');
      expect(await verify(idp, es)).toMatchObject({ token_use: 'user', user: { id: idp.user.id } });
      const unknownKid = await idp.mintToken({ kid: 'no-such-kid' });
      await expect(verify(idp, unknownKid)).rejects.toThrow();
      await expect(verify(idp, await idp.mintToken({ expiresIn: -60 }))).rejects.toThrow(/exp/);
    });
  });

  describe('key rotation', () => {
    it('rotates without changing the port, keeps the old key until retired', async () => {
      const port = idp.port;
      const oldKid = idp.signingKid;
      const oldToken = await idp.serviceAccountToken();

      const newKid = await idp.rotateKeys();
      expect(newKid).not.toBe(oldKid);
      expect(idp.signingKid).toBe(newKid);
      expect(idp.port).toBe(port);
      const kids = ((await getJson(`${idp.issuer}/.well-known/jwks.json`)).body['keys'] as Json[]).map((key) => key['kid']);
      expect(kids).toEqual(expect.arrayContaining([oldKid, newKid]));

      const newToken = await idp.serviceAccountToken({ clientId: 'orders-worker' });
      expect(decodeProtectedHeader(newToken).kid).toBe(newKid);
      await expect(verify(idp, oldToken)).resolves.toBeDefined();
      expect(idp.signingKeyMaterial().kid).toBe(newKid);

      idp.retireKey(oldKid);
      const after = ((await getJson(`${idp.issuer}/.well-known/jwks.json`)).body['keys'] as Json[]).map((key) => key['kid']);
      expect(after).not.toContain(oldKid);
      await expect(verify(idp, oldToken)).rejects.toThrow();
      await expect(verify(idp, newToken)).resolves.toBeDefined();
      expect(() => idp.retireKey(newKid)).toThrow(/signing key/);
    });
  });

  describe('observability and faults', () => {
    it('counts requests by endpoint', async () => {
      idp.resetStats();
      await fetch(`${idp.issuer}/.well-known/jwks.json`).then((r) => r.arrayBuffer());
      await fetch(`${idp.issuer}/.well-known/jwks.json`).then((r) => r.arrayBuffer());
      await fetch(`${idp.issuer}/.well-known/s3db-identity.json`).then((r) => r.arrayBuffer());
      await fetch(`${idp.issuer}/.well-known/openid-configuration`).then((r) => r.arrayBuffer());
      await idp.serviceAccountToken();
      await fetch(`${idp.issuer}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_types: ['client_credentials'], response_types: [] }),
      }).then((r) => r.arrayBuffer());
      expect(idp.stats).toMatchObject({ total: 6, jwks: 2, s3dbDocument: 1, discovery: 1, token: 1, registration: 1 });
      expect(idp.stats.byPath['/.well-known/jwks.json']).toBe(2);
    });

    it('answers 503 while failing and delays responses', async () => {
      idp.setFailing(true);
      try {
        const response = await fetch(`${idp.issuer}/.well-known/jwks.json`);
        expect(response.status).toBe(503);
        expect(await response.json()).toMatchObject({ error: 'temporarily_unavailable' });
      } finally {
        idp.setFailing(false);
      }
      idp.setDelay(200);
      try {
        const started = Date.now();
        const response = await fetch(`${idp.issuer}/.well-known/jwks.json`);
        expect(response.status).toBe(200);
        await response.arrayBuffer();
        expect(Date.now() - started).toBeGreaterThanOrEqual(190);
      } finally {
        idp.setDelay(0);
      }
    });

    it('stops promptly and restarts on the same port with the same state', async () => {
      const issuer = idp.issuer;
      const kid = idp.signingKid;
      await fetch(`${issuer}/.well-known/jwks.json`).then((r) => r.arrayBuffer()); // leaves a keep-alive socket
      const started = Date.now();
      await idp.stop();
      expect(Date.now() - started).toBeLessThan(1000);
      await expect(fetch(`${issuer}/.well-known/jwks.json`)).rejects.toThrow();

      await idp.restart();
      expect(idp.issuer).toBe(issuer);
      expect(idp.signingKid).toBe(kid);
      const payload = await verify(idp, await idp.serviceAccountToken({ clientId: 'jobs-runner' }), 'https://jobs.example.com');
      expect(payload['sub']).toBe('sa:jobs-runner');
    });

    it('stays quiet: no server errors recorded', () => {
      expect(idp.serverErrors).toEqual([]);
    });
  });
});

describe('DevelopmentIdentityProvider options', () => {
  it('s3dbDocument:false serves only OIDC discovery', async () => {
    const idp = await DevelopmentIdentityProvider.start({ s3dbDocument: false });
    try {
      expect((await fetch(`${idp.issuer}/.well-known/s3db-identity.json`)).status).toBe(404);
      const discovery = await getJson(`${idp.issuer}/.well-known/openid-configuration`);
      expect(discovery.status).toBe(200);
      expect(discovery.body['issuer']).toBe(idp.issuer);
    } finally {
      await idp.stop();
    }
  });

  it('typ, audience, accessTokenTtl, user and a fixed port are honoured', async () => {
    const probe = await DevelopmentIdentityProvider.start();
    const port = probe.port;
    await probe.stop();
    const idp = await DevelopmentIdentityProvider.start({
      port,
      typ: 'at+jwt',
      audience: 'https://orders.internal',
      accessTokenTtl: 60,
      user: { name: 'Bob', roles: ['viewer'] },
    });
    try {
      expect(idp.issuer).toBe(`http://127.0.0.1:${port}`);
      const token = await idp.userToken({ scopes: ['orders:read'] });
      expect(decodeProtectedHeader(token).typ).toBe('at+jwt');
      const payload = await verify(idp, token, 'https://orders.internal');
      expect(payload.exp! - payload.iat!).toBe(60);
      expect(payload['user']).toMatchObject({ name: 'Bob', roles: ['viewer'], email: 'alice@example.com' });
      expect(decodeProtectedHeader(await idp.mintToken()).typ).toBe('at+jwt');
    } finally {
      await idp.stop();
    }
  });
});
