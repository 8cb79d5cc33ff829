import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityModule, IdentityStatus, type IdentityModuleOptions } from '../src/index.js';
import { RevocationService } from '../src/revocation/revocation.service.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { createApp, PLATFORMS, type PlatformName } from './support/platforms.js';
import { TestController } from './support/test-controller.js';

const AUDIENCE = 'https://api.example.com';
const BASE = '/admin/identity/revocations';
const REVOKED = 'The access token was revoked';

let idp: DevelopmentIdentityProvider;
const dirs: string[] = [];

beforeAll(async () => {
  idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
});
afterAll(async () => {
  await idp?.stop();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function start(platform: PlatformName, extra: Partial<IdentityModuleOptions> = {}, dir?: string): Promise<{ app: INestApplication; http: ReturnType<typeof request>; dir: string }> {
  const home = dir ?? (await mkdtemp(join(tmpdir(), 'nestjs-identity-revocation-')));
  if (!dir) dirs.push(home);
  const app = await createApp(platform, {
    imports: [
      IdentityModule.forRoot({
        url: idp.issuer,
        audience: AUDIENCE,
        encryptionKey: randomBytes(32).toString('base64'),
        store: { type: 'file', path: join(home, 'credentials.json') },
        admin: { enabled: true },
        metrics: false,
        ...extra,
      }),
    ],
    controllers: [TestController],
  });
  return { app, http: request(app.getHttpServer()), dir: home };
}

const now = () => Math.floor(Date.now() / 1000);

/** A service-account token of clientId (signed by the provider's key), with its own jti. */
function serviceToken(clientId: string, claims: Record<string, unknown> = {}): Promise<string> {
  return idp.mintToken({
    claims: {
      sub: `sa:${clientId}`,
      client_id: clientId,
      scope: 'orders:read',
      service_account: { clientId, client_id: clientId, name: clientId, scopes: ['orders:read'], audiences: [AUDIENCE] },
      jti: randomUUID(),
      ...claims,
    },
  });
}

function userToken(sub: string, claims: Record<string, unknown> = {}): Promise<string> {
  return idp.mintToken({ kind: 'user', claims: { sub, jti: randomUUID(), ...claims } });
}

const me = (http: ReturnType<typeof request>, token: string) => http.get('/me').auth(token, { type: 'bearer' });

function expectRevoked(response: request.Response): void {
  expect(response.status, response.text).toBe(401);
  expect(response.body).toMatchObject({ statusCode: 401, error: 'invalid_token', message: REVOKED });
  expect(response.headers['www-authenticate']).toBe(`Bearer realm="${AUDIENCE}", error="invalid_token", error_description="${REVOKED}"`);
}

async function auditEvents(dir: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(join(dir, 'audit.log'), 'utf8').catch(() => '');
  return text.trim() ? text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>) : [];
}

describe.each(PLATFORMS)('token revocation on %s', (platform) => {
  let app: INestApplication;
  let http: ReturnType<typeof request>;
  let dir: string;
  let admin: string;
  const revoke = (body: unknown) => http.post(BASE).auth(admin, { type: 'bearer' }).send(body as object);

  beforeAll(async () => {
    ({ app, http, dir } = await start(platform));
    admin = await idp.serviceAccountToken({ scopes: ['identity:admin'] });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('revokes a client: a cached and an uncached token get 401 "The access token was revoked"; other clients pass', async () => {
    const client = `orders-worker-${platform}`;
    const cached = await serviceToken(client);
    const uncached = await serviceToken(client);
    const other = await serviceToken(`billing-${platform}`);
    expect((await me(http, cached)).status).toBe(200); // now in the verified-token cache
    expect((await me(http, other)).status).toBe(200);

    const created = await revoke({ clientId: client, reason: 'secret leaked' });
    expect(created.status, created.text).toBe(201);
    expect(created.headers['cache-control']).toBe('no-store');
    expect(created.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      clientId: client,
      before: created.body.createdAt,
      createdAt: expect.any(String),
      expiresAt: expect.any(String),
      reason: 'secret leaked',
      createdBy: expect.stringMatching(/^service-account:dev-service-account/),
    });
    expect(Date.parse(created.body.expiresAt) - Date.parse(created.body.createdAt)).toBe((86_400 + 5) * 1000);

    expectRevoked(await me(http, cached));
    expectRevoked(await me(http, uncached));
    expect((await me(http, other)).status).toBe(200);
    // azp names the client too (Auth0, Entra), and a token without iat cannot show it is newer. (Issued before the
    // revocation: minted now, a token from the next second would rightly pass.)
    expectRevoked(await me(http, await userToken(`someone-${platform}`, { client_id: 'web-app', azp: client, iat: now() - 60 })));
    expectRevoked(await me(http, await serviceToken(client, { iat: undefined })));
  });

  it('refuses only tokens issued before `before`: a token issued after it still passes', async () => {
    const client = `before-${platform}`;
    const old = await serviceToken(client, { iat: now() - 60 });
    const fresh = await serviceToken(client, { iat: now() - 5 });
    expect((await me(http, fresh)).status).toBe(200);
    const created = await revoke({ clientId: client, before: new Date(Date.now() - 30_000).toISOString() });
    expect(created.status, created.text).toBe(201);
    expectRevoked(await me(http, old));
    expect((await me(http, fresh)).status).toBe(200);
  });

  it('revokes a subject and a single jti', async () => {
    const sub = `user-${platform}-${randomUUID()}`;
    const userCached = await userToken(sub);
    expect((await me(http, userCached)).status).toBe(200);
    const otherUser = await userToken(`${sub}-other`);
    expect((await revoke({ subject: sub })).status).toBe(201);
    expectRevoked(await me(http, userCached));
    expectRevoked(await me(http, await userToken(sub)));
    expect((await me(http, otherUser)).status).toBe(200);

    const client = `jti-${platform}`;
    const jti = randomUUID();
    const target = await serviceToken(client, { jti });
    const sibling = await serviceToken(client);
    expect((await me(http, target)).status).toBe(200);
    expect((await revoke({ jti })).status).toBe(201);
    expectRevoked(await me(http, target));
    expect((await me(http, sibling)).status).toBe(200);
  });

  it('lists revocations (ids and times, never a token) and removes them: 204, then the tokens pass again; every change audited', async () => {
    const client = `listed-${platform}`;
    const token = await serviceToken(client);
    const created = await revoke({ clientId: client, reason: 'rotation' });
    expectRevoked(await me(http, token));

    const list = await http.get(BASE).auth(admin, { type: 'bearer' });
    expect(list.status).toBe(200);
    expect(list.headers['cache-control']).toBe('no-store');
    expect(list.body).toContainEqual(created.body);
    for (const entry of list.body as Array<Record<string, unknown>>) {
      expect(Object.keys(entry).sort()).toEqual(expect.arrayContaining(['before', 'createdAt', 'expiresAt', 'id']));
      expect(Object.keys(entry).filter((key) => ['clientId', 'subject', 'jti'].includes(key))).toHaveLength(1);
    }
    expect(list.text).not.toMatch(/eyJ[A-Za-z0-9_-]{8,}\./);
    expect(list.text).not.toContain(token);
    expect(list.text).not.toContain(admin);

    const removed = await http.delete(`${BASE}/${created.body.id}`).auth(admin, { type: 'bearer' });
    expect(removed.status).toBe(204);
    expect((await me(http, token)).status).toBe(200);
    expect((await http.get(BASE).auth(admin, { type: 'bearer' })).body).not.toContainEqual(created.body);

    const events = (await auditEvents(dir)).filter((event) => event.target === created.body.id);
    expect(events.map((event) => [event.action, event.outcome])).toEqual([
      ['revocation.create', 'success'],
      ['revocation.delete', 'success'],
    ]);
    expect(events[0]!.detail).toBe(`client "${client}", tokens issued before ${created.body.before}`);
    const log = await readFile(join(dir, 'audit.log'), 'utf8');
    expect(log).not.toContain(token);
  });

  it('answers 400 naming the field, 404 for unknown ids, 403 without the admin scope', async () => {
    const cases: Array<[unknown, string]> = [
      [{}, 'clientId'],
      [{ clientId: 'a', subject: 'b' }, 'clientId, subject'],
      [{ clientId: 'a', admin: true }, '"admin"'],
      [{ clientId: '' }, 'clientId'],
      [{ subject: 'x'.repeat(257) }, 'subject'],
      [{ jti: 42 }, 'jti'],
      [{ clientId: 'a', before: new Date(Date.now() + 3_600_000).toISOString() }, 'before'],
      [{ clientId: 'a', before: 'yesterday' }, 'before'],
      [{ clientId: 'a', reason: 'r'.repeat(257) }, 'reason'],
      [{ clientId: 'a', reason: 'line\nbreak' }, 'reason'],
      [{ jti: admin }, 'jti'],
      [[{ clientId: 'a' }], 'body'],
    ];
    for (const [body, field] of cases) {
      const response = await revoke(body);
      expect(response.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(response.body).toMatchObject({ statusCode: 400, error: 'invalid_request', field });
      expect(response.text).not.toContain(admin);
    }
    const future = await revoke({ clientId: 'a', before: new Date(Date.now() + 3_600_000).toISOString() });
    expect(future.body.message).toMatch(/before must not be in the future/);

    expect((await http.delete(`${BASE}/${randomUUID()}`).auth(admin, { type: 'bearer' })).status).toBe(404);
    expect((await http.delete(`${BASE}/not-an-id`).auth(admin, { type: 'bearer' })).status).toBe(404);
    const reader = await idp.serviceAccountToken({ scopes: ['orders:read'] });
    expect((await http.post(BASE).auth(reader, { type: 'bearer' }).send({ clientId: 'a' })).status).toBe(403);
    expect((await http.get(BASE)).status).toBe(401);
  });

  it('answers 413 beyond revocation.maxEntries', async () => {
    const small = await start(platform, { revocation: { maxEntries: 2 } });
    try {
      const post = (clientId: string) => small.http.post(BASE).auth(admin, { type: 'bearer' }).send({ clientId });
      expect((await post('one')).status).toBe(201);
      expect((await post('two')).status).toBe(201);
      const full = await post('three');
      expect(full.status).toBe(413);
      expect(full.body.message).toMatch(/revocation\.maxEntries = 2/);
      const events = await auditEvents(small.dir);
      expect(events.at(-1)).toMatchObject({ action: 'revocation.create', outcome: 'failure', detail: expect.stringMatching(/^413: /) });
    } finally {
      await small.app.close();
    }
  });

  it('keeps revocations in the file store across a restart', async () => {
    const first = await start(platform);
    const client = `restart-${platform}`;
    const token = await serviceToken(client);
    try {
      expect((await first.http.post(BASE).auth(admin, { type: 'bearer' }).send({ clientId: client })).status).toBe(201);
    } finally {
      await first.app.close();
    }
    const second = await start(platform, {}, first.dir);
    try {
      expectRevoked(await me(second.http, token));
      expect(second.app.get(IdentityStatus).snapshot().revocations).toMatchObject({ sync: 'store', state: 'synced', entries: 1 });
      expect(second.app.get(RevocationService).enabled).toBe(true);
    } finally {
      await second.app.close();
    }
  });
});
