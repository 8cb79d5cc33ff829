import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevelopmentIdentityProvider } from '../../src/testing/index.js';
import { b64url, partsOf, withSegment } from './support/craft.js';
import { SecretRegistry } from './support/secrets.js';
import {
  AUDIENCE,
  bearer,
  expectBareChallenge,
  expectInsufficientScope,
  expectInvalidToken,
  PLATFORMS,
  startSecurityApp,
  type SecurityApp,
} from './support/security-app.js';

/**
 * The service-account admin routes (`/admin/identity/service-accounts`, scope identity:admin):
 * who may call them, what they accept, what they give away and how they behave under
 * concurrency. Secrets are shown once, never cached (no-store), never logged, never stored in
 * clear.
 */
const BASE = '/admin/identity/service-accounts';

let idp: DevelopmentIdentityProvider;
const dirs: string[] = [];

/** Stock (an RFC 7592 PUT keeps the secret: rotation is 501) and the opt-in rotating mode. */
const MODES = [
  ['stock', false],
  ['rotating', true],
] as const;

afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tokenFor(clientId: string, clientSecret: string): Promise<number> {
  const response = await fetch(`${idp.issuer}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret, scope: 'orders:read' }),
  });
  await response.body?.cancel();
  return response.status;
}

describe.each(MODES)('provider in %s mode', (mode, rotateClientSecretOnUpdate) => {
beforeAll(async () => {
  idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE, rotateClientSecretOnUpdate });
});
afterAll(async () => {
  await idp?.stop();
});

describe.each(PLATFORMS)('admin routes under attack on %s', (platform) => {
  let s: SecurityApp;
  let dir: string;
  let admin: string;
  let worker: string;
  const secrets = new SecretRegistry();
  const encryptionKey = randomBytes(32);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'identity-admin-security-'));
    dirs.push(dir);
    secrets.add('encryption key (base64)', encryptionKey.toString('base64'));
    secrets.add('encryption key (hex)', encryptionKey.toString('hex'));
    s = await startSecurityApp(
      platform,
      () => ({
        url: idp.issuer,
        audience: AUDIENCE,
        encryptionKey: encryptionKey.toString('base64'),
        store: { type: 'file', path: join(dir, 'credentials.json') },
        client: { redirectUri: `${AUDIENCE}/auth/callback` },
        admin: { enabled: true },
        metrics: false,
      }),
      { routes: { admin: true } },
    );
    admin = secrets.token(await idp.serviceAccountToken({ scopes: ['identity:admin'] }), 'admin token');
    worker = secrets.token(await idp.serviceAccountToken({ scopes: ['orders:read', 'orders:write'] }), 'worker token');
  });

  afterAll(async () => {
    secrets.assertAbsent(s.logs.text, `${platform} logs`);
    for (const name of await readdir(dir)) secrets.assertAbsent(await readFile(join(dir, name), 'utf8').catch(() => ''), `${name} on disk`);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await s?.close();
  });

  const as = (token: string) => bearer(token);

  it('refuses no token, a bad token, a cookie-only token and a token in the query string', async () => {
    expectBareChallenge(await s.http.get(BASE), 'no token');
    expectBareChallenge(await s.http.post(BASE).send({ name: 'x', scopes: ['orders:read'] }), 'no token POST');
    expectBareChallenge(await s.http.get(BASE).set('Cookie', `access_token=${admin}; Authorization=Bearer ${admin}`), 'cookie only');
    expectBareChallenge(await s.http.get(`${BASE}?access_token=${admin}`), 'query only');
    const tampered = withSegment(worker, 1, b64url({ ...partsOf(worker).payload, scope: 'identity:admin' }));
    expectInvalidToken(await s.http.get(BASE).set(as(tampered)), 'signature', 'scope edited in');
    expectInvalidToken(await s.http.post(BASE).set(as(await idp.mintToken({ expiresIn: -60, claims: { scope: 'identity:admin' } }))).send({}), 'expired');
  });

  it('refuses tokens without the admin scope, including look-alikes', async () => {
    expectInsufficientScope(await s.http.get(BASE).set(as(worker)), 'worker');
    const userWithAdminRole = await idp.userToken({ scopes: ['orders:read'] });
    expectInsufficientScope(await s.http.get(BASE).set(as(userWithAdminRole)), 'admin role is not the admin scope');
    for (const scope of ['IDENTITY:ADMIN', 'identity:admin:x', 'identity', 'identity:*', ['identity:admin orders:read'], 'identity:admin,orders:read']) {
      const token = secrets.token(await idp.mintToken({ claims: { scope } }));
      const response = await s.http.post(BASE).set(as(token)).send({ name: 'never', scopes: ['orders:read'] });
      expectInsufficientScope(response, JSON.stringify(scope));
      expect(response.headers['www-authenticate']).toContain('scope="identity:admin"');
    }
  });

  it('answers 404 to wrong methods and unknown routes, never 5xx', async () => {
    const calls = [
      s.http.put(BASE).set(as(admin)).send({}),
      s.http.patch(BASE).set(as(admin)).send({}),
      s.http.delete(BASE).set(as(admin)),
      s.http.get(`${BASE}/some-id/rotate`).set(as(admin)),
      s.http.put(`${BASE}/some-id`).set(as(admin)).send({}),
      s.http.post(`${BASE}/some-id`).set(as(admin)).send({}),
      s.http.post(`${BASE}/some-id/rotate/again`).set(as(admin)).send({}),
    ];
    for (const response of await Promise.all(calls)) expect([404, 405], `${response.status} ${response.text}`).toContain(response.status);
  });

  it('refuses unknown and traversal-looking ids with 400 or 404, touching nothing outside the store', async () => {
    const before = (await readdir(dir)).sort();
    const ids = [
      'no-such-account',
      '..',
      '..%2F..%2Fetc%2Fpasswd',
      '%2e%2e%2f%2e%2e',
      'a..b',
      '....//....//',
      '%00',
      'x%00y',
      '%0d%0aSet-Cookie:%20x=1',
      '__proto__',
      'constructor',
      'prototype',
      'hasOwnProperty',
      'service-account%3Aa',
      'client%3Aself',
      'metadata%3Alast-good',
      'jwks%3Alast-good',
      'a'.repeat(300),
      '%F0%9F%92%A3',
      "'%20OR%20'1'%3D'1",
    ];
    for (const id of ids) {
      for (const response of [await s.http.get(`${BASE}/${id}`).set(as(admin)), await s.http.delete(`${BASE}/${id}`).set(as(admin)), await s.http.post(`${BASE}/${id}/rotate`).set(as(admin))]) {
        // Fastify answers 414 itself to a path parameter over 100 characters.
        expect([400, 404, 414], `${id.slice(0, 40)}: ${response.status}`).toContain(response.status);
        expect(response.text).not.toMatch(/clientSecret|registration_access_token|-----BEGIN/);
      }
    }
    expect((await readdir(dir)).sort().filter((name) => !name.endsWith('.lock'))).toEqual(before.filter((name) => !name.endsWith('.lock')));
  });

  it('refuses bodies with __proto__, constructor or unknown fields, and malformed bodies, without polluting anything', async () => {
    const bodies = [
      '{"name":"p1","scopes":["orders:read"],"__proto__":{"polluted":true,"isAdmin":true}}',
      '{"name":"p2","scopes":["orders:read"],"constructor":{"prototype":{"polluted":true}}}',
      '{"__proto__":{"name":"p3","scopes":["orders:read"]}}',
      '{"name":"p4","scopes":["orders:read"],"clientSecret":"chosen-by-attacker-0123456789"}',
      '{"name":"p5","scopes":["orders:read"],"scope":"identity:admin"}',
      '{"name":"p6","scopes":["orders:read identity:admin"]}',
      '{"name":"../p7","scopes":["orders:read"]}',
      '{"name":"p8","scopes":"orders:read"}',
      '[{"name":"p9","scopes":["orders:read"]}]',
      '"p10"',
      '{"name":',
      '',
    ];
    for (const body of bodies) {
      const response = await s.http.post(BASE).set(as(admin)).set('content-type', 'application/json').send(body);
      expect([400, 415], `${body}: ${response.status} ${response.text}`).toContain(response.status);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    const list = await s.http.get(BASE).set(as(admin));
    expect((list.body as Array<{ name: string }>).map((a) => a.name)).not.toEqual(expect.arrayContaining(['p1', 'p2', 'p3', 'p4', 'p5']));
  });

  it('shows the secret once, with no-store, and never again (list, get, logs, store file)', async () => {
    const created = await s.http.post(BASE).set(as(admin)).send({ name: `once-${platform}`, scopes: ['orders:read'], audience: AUDIENCE });
    expect(created.status, created.text).toBe(201);
    expect(created.headers['cache-control']).toBe('no-store');
    const { clientId, clientSecret } = created.body as { clientId: string; clientSecret: string };
    secrets.add('created client secret', clientSecret);
    expect(await tokenFor(clientId, clientSecret)).toBe(200);
    for (const response of [await s.http.get(BASE).set(as(admin)), await s.http.get(`${BASE}/${clientId}`).set(as(admin))]) {
      expect(response.status).toBe(200);
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.text).not.toContain(clientSecret);
    }
    const file = await readFile(join(dir, 'credentials.json'), 'utf8');
    expect(file).not.toContain(clientSecret);
    expect((await s.http.delete(`${BASE}/${clientId}`).set(as(admin))).status).toBe(204);
  });

  it('serialises concurrent rotations: each is judged in turn; exactly one secret works; the account stays manageable', async () => {
    const created = await s.http.post(BASE).set(as(admin)).send({ name: `rotated-${platform}`, scopes: ['orders:read'] });
    expect(created.status, created.text).toBe(201);
    const { clientId } = created.body as { clientId: string };
    secrets.add('created client secret', created.body.clientSecret);
    const rotations = await Promise.all(Array.from({ length: 5 }, () => s.http.post(`${BASE}/${clientId}/rotate`).set(as(admin))));
    for (const response of rotations) {
      expect(response.status, response.text).toBe(mode === 'stock' ? 501 : 200);
      expect(response.headers['cache-control']).toBe('no-store');
      if (mode === 'rotating') secrets.add('rotated client secret', response.body.clientSecret);
      else expect(response.text).not.toContain(created.body.clientSecret);
    }
    const candidates = [created.body.clientSecret as string, ...rotations.filter((r) => r.status === 200).map((r) => r.body.clientSecret as string)];
    expect(new Set(candidates).size).toBe(candidates.length);
    const working = (await Promise.all(candidates.map((secret) => tokenFor(clientId, secret)))).filter((status) => status === 200);
    expect(working).toHaveLength(1);
    // The account is still manageable: its registration access token (rotated on every PUT) was not lost to a race.
    const again = await s.http.post(`${BASE}/${clientId}/rotate`).set(as(admin));
    expect(again.status, again.text).toBe(mode === 'stock' ? 501 : 200);
    if (mode === 'rotating') secrets.add('rotated client secret', again.body.clientSecret);
    expect((await s.http.delete(`${BASE}/${clientId}`).set(as(admin))).status).toBe(204);
  });
});
});
