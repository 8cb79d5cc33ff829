import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { IdentityModule, TokenAuthenticator, type IdentityModuleOptions } from '../src/index.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { createApp, PLATFORMS } from './support/platforms.js';
import { TestController } from './support/test-controller.js';

const AUDIENCE = 'https://api.example.com';
const BASE = '/admin/identity/service-accounts';

let idp: DevelopmentIdentityProvider;
const dirs: string[] = [];

/**
 * Every service-account test runs against both behaviours of an RFC 7592 PUT: `stock` keeps the
 * secret (stock oidc-provider, Keycloak's registration API: rotation must answer 501), `rotating`
 * issues a new one (the opt-in kinder mode: rotation must be confirmed at the token endpoint).
 */
const MODES = [
  ['stock', { rotateClientSecretOnUpdate: false }],
  ['rotating', { rotateClientSecretOnUpdate: true }],
] as const;

afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function start(platform: (typeof PLATFORMS)[number], extra: Partial<IdentityModuleOptions> = {}): Promise<{ app: INestApplication; http: ReturnType<typeof request>; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'nestjs-identity-admin-'));
  dirs.push(dir);
  const app = await createApp(platform, {
    imports: [
      IdentityModule.forRoot({
        url: idp.issuer,
        audience: AUDIENCE,
        encryptionKey: randomBytes(32).toString('base64'),
        store: { type: 'file', path: join(dir, 'credentials.json') },
        client: { redirectUri: `${AUDIENCE}/auth/callback` },
        admin: { enabled: true },
        metrics: false,
        ...extra,
      }),
    ],
    controllers: [TestController],
  });
  return { app, http: request(app.getHttpServer()), dir };
}

/** A client_credentials request with client_secret_post, as the new account would make it. */
async function tokenFor(clientId: string, clientSecret: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${idp.issuer}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret, scope: 'orders:read' }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function auditEvents(dir: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(join(dir, 'audit.log'), 'utf8').catch(() => '');
  return text.trim() ? text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>) : [];
}

describe.each(MODES)('against the development provider in %s mode', (mode, providerOptions) => {
beforeAll(async () => {
  idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE, ...providerOptions });
});
afterAll(async () => {
  await idp?.stop();
});

describe.each(PLATFORMS)('service-account admin routes on %s', (platform) => {
  let app: INestApplication;
  let http: ReturnType<typeof request>;
  let dir: string;
  let admin: string;

  beforeAll(async () => {
    ({ app, http, dir } = await start(platform));
    admin = await idp.serviceAccountToken({ scopes: ['identity:admin'] });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('create → the account gets a token the API accepts → rotate → only the new secret works → delete', async () => {
    const name = `orders-worker-${platform}`;
    const created = await http.post(BASE).auth(admin, { type: 'bearer' }).send({ name, scopes: ['orders:read'], audience: AUDIENCE });
    expect(created.status, created.text).toBe(201);
    expect(created.headers['cache-control']).toBe('no-store');
    const { clientId, clientSecret } = created.body as { clientId: string; clientSecret: string };
    expect(created.body).toEqual({ clientId, clientSecret, name, scopes: ['orders:read'], audience: AUDIENCE, createdAt: expect.any(String), tokenEndpointAuthMethod: 'client_secret_post' });

    const first = await tokenFor(clientId, clientSecret);
    expect(first.status).toBe(200);
    const orders = await http.get('/orders').auth(first.body.access_token as string, { type: 'bearer' });
    expect(orders.status).toBe(200);

    const forget = vi.spyOn(app.get(TokenAuthenticator), 'forgetClient');
    // `iat` has whole seconds and a rotation revokes tokens from the seconds before it: start one.
    await new Promise((resolve) => setTimeout(resolve, 1005 - (Date.now() % 1000)));
    const attempt = await http.post(`${BASE}/${clientId}/rotate`).auth(admin, { type: 'bearer' });
    expect(attempt.headers['cache-control']).toBe('no-store');
    let rotated = attempt;
    if (mode === 'stock') {
      // The provider kept the secret: no success, nothing changed, the old secret still the one that works.
      expect(attempt.status, attempt.text).toBe(501);
      expect(attempt.body).toMatchObject({ error: 'not_supported_by_provider', message: expect.stringContaining('the provider kept the old client_secret on RFC 7592 update') });
      expect(attempt.text).not.toContain(clientSecret);
      expect(forget).not.toHaveBeenCalled();
      expect((await tokenFor(clientId, clientSecret)).status).toBe(200);
      // Nothing was revoked either: the account's token still passes.
      expect((await http.get('/orders').auth(first.body.access_token as string, { type: 'bearer' })).status).toBe(200);
      const unchanged = await http.get(BASE).auth(admin, { type: 'bearer' });
      expect(unchanged.body).toContainEqual({ clientId, name, scopes: ['orders:read'], audience: AUDIENCE, createdAt: expect.any(String), tokenEndpointAuthMethod: 'client_secret_post' });
      // The RFC 7592 handle oidc-provider rotated on that PUT was kept: the account is still manageable.
      expect((await http.get(`${BASE}/${clientId}`).auth(admin, { type: 'bearer' })).body).toMatchObject({ atProvider: 'present' });
      rotated = { ...attempt, body: { clientSecret, rotatedAt: undefined } } as typeof attempt;
    } else {
      // Cached verifications of the account are dropped once its secret changes.
      expect(forget).toHaveBeenCalledWith(clientId);
      expect(attempt.status, attempt.text).toBe(200);
      expect(attempt.body).toMatchObject({ clientId, name, rotatedAt: expect.any(String), clientSecret: expect.any(String), previousSecret: 'refused', tokensRevoked: true });
      // The account's outstanding token is revoked; one issued with the new secret passes.
      const revoked = await http.get('/orders').auth(first.body.access_token as string, { type: 'bearer' });
      expect(revoked.status).toBe(401);
      expect(revoked.headers['www-authenticate']).toContain('error_description="The access token was revoked"');
      const fresh = await tokenFor(clientId, attempt.body.clientSecret);
      expect((await http.get('/orders').auth(fresh.body.access_token as string, { type: 'bearer' })).status).toBe(200);
      expect(attempt.body.clientSecret).not.toBe(clientSecret);
      expect((await tokenFor(clientId, attempt.body.clientSecret)).status).toBe(200);
      const old = await tokenFor(clientId, clientSecret);
      expect([old.status, old.body.error]).toEqual([401, 'invalid_client']);
    }

    // Secrets are shown once: never by list or get, nor the registration access token.
    const list = await http.get(BASE).auth(admin, { type: 'bearer' });
    expect(list.status).toBe(200);
    expect(list.body).toContainEqual({ clientId, name, scopes: ['orders:read'], audience: AUDIENCE, createdAt: expect.any(String), ...(mode === 'rotating' ? { rotatedAt: rotated.body.rotatedAt } : {}), tokenEndpointAuthMethod: 'client_secret_post' });
    const one = await http.get(`${BASE}/${clientId}`).auth(admin, { type: 'bearer' });
    expect(one.body).toMatchObject({ clientId, atProvider: 'present' });
    const byName = await http.get(`${BASE}/${name}`).auth(admin, { type: 'bearer' });
    expect(byName.body.clientId).toBe(clientId);
    for (const body of [list.text, one.text]) {
      expect(body).not.toContain(clientSecret);
      expect(body).not.toContain(rotated.body.clientSecret);
      expect(body).not.toMatch(/registration|clientSecret/i);
    }

    forget.mockClear();
    const deleted = await http.delete(`${BASE}/${clientId}`).auth(admin, { type: 'bearer' });
    expect(deleted.status).toBe(204);
    expect(forget).toHaveBeenCalledWith(clientId);
    // Deleting revokes every token the account holds, on every replica.
    expect((await http.get('/orders').auth(first.body.access_token as string, { type: 'bearer' })).status).toBe(401);
    forget.mockRestore();
    expect(idp.clientMetadata(clientId)).toBeUndefined();
    expect((await tokenFor(clientId, rotated.body.clientSecret)).status).toBe(401);
    expect((await http.get(`${BASE}/${clientId}`).auth(admin, { type: 'bearer' })).status).toBe(404);

    const events = await auditEvents(dir);
    expect(events.filter((e) => e.target === clientId).map((e) => [e.action, e.outcome])).toEqual([
      ['service-account.create', 'success'],
      ['service-account.rotate', mode === 'stock' ? 'failure' : 'success'],
      ['service-account.delete', 'success'],
    ]);
    if (mode === 'stock') expect(events.find((e) => e.target === clientId && e.action === 'service-account.rotate')!.detail).toMatch(/^501: .*kept the old client_secret/);
    expect(events.find((e) => e.target === clientId)!.actor).toBe('service-account:dev-service-account name="Development Service Account"');
    const log = await readFile(join(dir, 'audit.log'), 'utf8');
    const store = await readFile(join(dir, 'credentials.json'), 'utf8');
    for (const secret of [clientSecret, rotated.body.clientSecret as string]) {
      expect(log).not.toContain(secret);
      expect(store).not.toContain(secret);
    }
  });

  it('a planned rotation ({ revokeTokens: false }) keeps outstanding tokens valid; the default revokes them', async (context) => {
    if (mode === 'stock') return context.skip(); // nothing rotates in stock mode (see above)
    const created = await http.post(BASE).auth(admin, { type: 'bearer' }).send({ name: `planned-${platform}`, scopes: ['orders:read'] });
    const { clientId, clientSecret } = created.body as { clientId: string; clientSecret: string };
    const token = (await tokenFor(clientId, clientSecret)).body.access_token as string;
    await new Promise((resolve) => setTimeout(resolve, 1005 - (Date.now() % 1000)));
    const planned = await http.post(`${BASE}/${clientId}/rotate`).auth(admin, { type: 'bearer' }).send({ revokeTokens: false });
    expect(planned.status, planned.text).toBe(200);
    expect(planned.body).toMatchObject({ previousSecret: 'refused', tokensRevoked: false });
    expect((await http.get('/orders').auth(token, { type: 'bearer' })).status).toBe(200);
    const listed = await http.get('/admin/identity/revocations').auth(admin, { type: 'bearer' });
    expect((listed.body as Array<{ clientId?: string }>).some((entry) => entry.clientId === clientId)).toBe(false);
    const events = await auditEvents(dir);
    expect(events.filter((e) => e.action === 'revocation.create' && e.target === clientId)).toHaveLength(0);
  });

  it('serialises concurrent rotations of one account: each is judged on its own; exactly one secret works afterwards', async () => {
    const created = await http.post(BASE).auth(admin, { type: 'bearer' }).send({ name: `rotating-${platform}`, scopes: ['orders:read'] });
    const { clientId, clientSecret } = created.body as { clientId: string; clientSecret: string };
    // Each PUT replaces the registration access token: an unserialised rotation would use a dead token and fail.
    const rotations = await Promise.all(Array.from({ length: 4 }, () => http.post(`${BASE}/${clientId}/rotate`).auth(admin, { type: 'bearer' })));
    if (mode === 'stock') {
      expect(rotations.map((r) => r.status)).toEqual([501, 501, 501, 501]);
      expect((await tokenFor(clientId, clientSecret)).status).toBe(200);
      return;
    }
    expect(rotations.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const secrets = rotations.map((r) => r.body.clientSecret as string);
    expect(new Set(secrets).size).toBe(4);
    const last = [...rotations].sort((a, b) => String(a.body.rotatedAt).localeCompare(String(b.body.rotatedAt))).at(-1)!;
    const working = [];
    for (const secret of [clientSecret, ...secrets]) if ((await tokenFor(clientId, secret)).status === 200) working.push(secret);
    expect(working).toEqual([last.body.clientSecret]);
  });

  it('refuses missing and invalid tokens (401) and callers without the admin scope (403), and audits them', async () => {
    const missing = await http.get(BASE);
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toBe(`Bearer realm="${AUDIENCE}"`);
    const invalid = await http.get(BASE).auth(await idp.mintToken({ expiresIn: -60 }), { type: 'bearer' });
    expect(invalid.status).toBe(401);
    expect(invalid.headers['www-authenticate']).toContain('error="invalid_token"');

    const worker = await idp.serviceAccountToken({ scopes: ['orders:read'] });
    const user = await idp.userToken({ scopes: ['openid', 'orders:read'] }); // has the "admin" role, not the scope
    for (const token of [worker, user]) {
      for (const attempt of [http.get(BASE), http.post(BASE).send({ name: 'x', scopes: ['orders:read'] }), http.post(`${BASE}/x/rotate`), http.delete(`${BASE}/x`)]) {
        const response = await attempt.auth(token, { type: 'bearer' });
        expect(response.status).toBe(403);
        expect(response.body).toMatchObject({ statusCode: 403, error: 'insufficient_scope', message: 'Missing required scope: identity:admin' });
        expect(response.headers['www-authenticate']).toBe(`Bearer realm="${AUDIENCE}", error="insufficient_scope", error_description="Missing required scope: identity:admin", scope="identity:admin"`);
      }
    }
    const denied = (await auditEvents(dir)).filter((e) => e.action === 'admin.denied');
    expect(denied).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ actor: 'anonymous', outcome: 'denied', detail: 'list: 401 no bearer token' }),
        expect.objectContaining({ actor: 'anonymous', outcome: 'denied', detail: 'list: 401 invalid_token' }),
        expect.objectContaining({ actor: expect.stringMatching(/^user:/), outcome: 'denied', detail: 'delete: 403 insufficient_scope' }),
        expect.objectContaining({ actor: expect.stringMatching(/^service-account:dev-service-account/), detail: 'create: 403 insufficient_scope' }),
      ]),
    );
  });

  it('refuses malformed bodies with 400 naming the field', async () => {
    const post = (body: string | object, type = 'application/json') => http.post(BASE).auth(admin, { type: 'bearer' }).set('content-type', type).send(typeof body === 'string' ? body : JSON.stringify(body));
    const cases: Array<[string | object, string]> = [
      [{ name: 'x', scopes: ['orders:read'], admin: true }, '"admin"'],
      [{ name: 42, scopes: ['orders:read'] }, 'name'],
      [{ name: '../etc/passwd', scopes: ['orders:read'] }, 'name'],
      [{ scopes: ['orders:read'] }, 'name'],
      [{ name: 'x', scopes: 'orders:read' }, 'scopes'],
      [{ name: 'x', scopes: [] }, 'scopes'],
      [{ name: 'x', scopes: ['orders:read', 'has space'] }, 'scopes[1]'],
      [{ name: 'x', scopes: ['not:supported'] }, 'scopes[0]'],
      [{ name: 'x', scopes: ['orders:read'], audience: 'not a uri' }, 'audience'],
      [[{ name: 'x', scopes: ['orders:read'] }], 'body'],
    ];
    for (const [body, field] of cases) {
      const response = await post(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body).toMatchObject({ statusCode: 400, error: 'invalid_request', field });
    }
    // A "__proto__" key: Express hands it over as an own field (we name it); Fastify's parser refuses it itself.
    const proto = await post('{"name":"x","scopes":["orders:read"],"__proto__":{"admin":true}}');
    expect(proto.status).toBe(400);
    if (platform === 'express') expect(proto.body).toMatchObject({ field: '"__proto__"' });
    expect((await post('{"name":')).status).toBe(400);
    const rotateWithBody = await http.post(`${BASE}/whatever/rotate`).auth(admin, { type: 'bearer' }).send({ secret: 'mine' });
    expect([rotateWithBody.status, rotateWithBody.body.field]).toEqual([400, 'secret']);
    const rotateWithString = await http.post(`${BASE}/whatever/rotate`).auth(admin, { type: 'bearer' }).send({ revokeTokens: 'no' });
    expect([rotateWithString.status, rotateWithString.body.field]).toEqual([400, 'revokeTokens']);
    const failures = (await auditEvents(dir)).filter((e) => e.action === 'service-account.create' && e.outcome === 'failure');
    expect(failures.length).toBeGreaterThanOrEqual(cases.length);
  });

  it('validates ids: traversal and odd characters are 400 or 404, never a store lookup; unknown ids 404', async () => {
    for (const path of ['..', '%2e%2e', '..%2F..%2Fetc%2Fpasswd', 'a%00b', 'a%0Ab', 'k%3Av', '%20']) {
      const response = await http.get(`${BASE}/${path}`).auth(admin, { type: 'bearer' });
      expect([400, 404], path).toContain(response.status);
      if (response.status === 400) expect(response.body.field).toBe('id');
    }
    // Fastify refuses path parameters over 100 characters itself (414); Express reaches our check (400).
    const long = await http.get(`${BASE}/${'x'.repeat(300)}`).auth(admin, { type: 'bearer' });
    expect(long.status).toBe(platform === 'fastify' ? 414 : 400);
    const unknown = await http.post(`${BASE}/no-such-account/rotate`).auth(admin, { type: 'bearer' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.message).toBe('no service account "no-such-account" is managed by this API');
    expect((await http.delete(`${BASE}/no-such-account`).auth(admin, { type: 'bearer' })).status).toBe(404);
  });

  it('answers 409 for a duplicate name and 501 (record kept) where the provider has no RFC 7592', async () => {
    const name = `upstream-like-${platform}`;
    const created = await http.post(BASE).auth(admin, { type: 'bearer' }).send({ name, scopes: ['orders:read'] });
    expect((await http.post(BASE).auth(admin, { type: 'bearer' }).send({ name, scopes: ['orders:read'] })).status).toBe(409);
    // Make the record look like one from upstream s3db: no registration_client_uri / token.
    const path = join(dir, 'credentials.json');
    const document = JSON.parse(await readFile(path, 'utf8')) as { entries: Record<string, string> };
    const key = `service-account:${created.body.clientId}`;
    const { registrationClientUri: _uri, registrationAccessToken: _token, ...record } = JSON.parse(document.entries[key]!) as Record<string, unknown>;
    document.entries[key] = JSON.stringify(record);
    await writeFile(path, JSON.stringify(document));
    for (const attempt of [http.post(`${BASE}/${name}/rotate`), http.delete(`${BASE}/${name}`)]) {
      const response = await attempt.auth(admin, { type: 'bearer' });
      expect(response.status).toBe(501);
      expect(response.body).toMatchObject({ error: 'not_supported_by_provider', message: expect.stringContaining('no registration_client_uri') });
    }
    expect((await http.get(`${BASE}/${name}`).auth(admin, { type: 'bearer' })).body).toMatchObject({ name, atProvider: 'unknown' });
  });
});

});

describe.each(PLATFORMS)('admin route switches on %s', (platform) => {
  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
  });
  afterAll(async () => {
    await idp?.stop();
  });

  it('answers 404 while admin.enabled is false, even to an admin', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nestjs-identity-admin-'));
    dirs.push(dir);
    const app = await createApp(platform, {
      imports: [
        IdentityModule.forRootAsync({
          routes: { admin: true },
          useFactory: () => ({ url: idp.issuer, audience: AUDIENCE, metrics: false, admin: { enabled: false } }),
        }),
      ],
    });
    try {
      const admin = await idp.serviceAccountToken({ scopes: ['identity:admin'] });
      for (const attempt of [request(app.getHttpServer()).get(BASE), request(app.getHttpServer()).post(BASE).send({})]) {
        expect((await attempt.auth(admin, { type: 'bearer' })).status).toBe(404);
      }
      expect((await request(app.getHttpServer()).get(BASE)).status).toBe(404);
    } finally {
      await app.close();
    }
  });

  it('admin.role grants access as an alternative to the scope', async () => {
    const { app, http } = await start(platform, { admin: { enabled: true, role: 'admin' } });
    try {
      const user = await idp.userToken({ scopes: ['openid'] }); // Alice holds the "admin" role
      expect((await http.get(BASE).auth(user, { type: 'bearer' })).status).toBe(200);
      const worker = await http.get(BASE).auth(await idp.serviceAccountToken({ scopes: ['orders:read'] }), { type: 'bearer' });
      expect(worker.status).toBe(403);
      expect(worker.body.message).toBe('Requires the scope identity:admin or the role admin');
    } finally {
      await app.close();
    }
  });
});
