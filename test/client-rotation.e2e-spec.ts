import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientCredentialsService, ClientProvisioningService, IdentityModule, type IdentityModuleOptions } from '../src/index.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { createApp, PLATFORMS } from './support/platforms.js';
import { redisSkipReason, startRedisServer, type RedisServerHandle } from './support/redis-server.js';

const AUDIENCE = 'https://api.example.com';
const ROUTE = '/admin/identity/client/rotate';
const dirs: string[] = [];

afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nestjs-identity-client-rotation-'));
  dirs.push(dir);
  return dir;
}

function options(idp: DevelopmentIdentityProvider, extra: Partial<IdentityModuleOptions>): IdentityModuleOptions {
  return {
    url: idp.issuer,
    audience: AUDIENCE,
    autoProvision: { scopes: ['orders:read'] },
    client: { redirectUri: `${AUDIENCE}/auth/callback` },
    admin: { enabled: true },
    metrics: false,
    ...extra,
  };
}

/** A token request the cache cannot answer (a scope set not asked for before), so the secret in use is really tried. */
let asked = 0;
function freshToken(app: INestApplication): Promise<string> {
  asked += 1;
  return app.get(ClientCredentialsService).getToken({ scopes: ['orders:read'], audience: `${AUDIENCE}/fresh-${asked}` });
}

describe.each([
  ['stock', false],
  ['rotating', true],
] as const)('rotating the API client against the development provider in %s mode', (mode, rotateClientSecretOnUpdate) => {
  let idp: DevelopmentIdentityProvider;
  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE, rotateClientSecretOnUpdate });
  });
  afterAll(async () => {
    await idp?.stop();
  });

  describe.each(PLATFORMS)('on %s', (platform) => {
    let app: INestApplication;
    let dir: string;
    let admin: string;
    beforeAll(async () => {
      dir = await tempDir();
      const encryptionKey = randomBytes(32).toString('base64');
      app = await createApp(platform, { imports: [IdentityModule.forRoot(options(idp, { encryptionKey, store: { type: 'file', path: join(dir, 'credentials.json') } }))] });
      admin = await idp.serviceAccountToken({ scopes: ['identity:admin'] });
    });
    afterAll(async () => {
      await app?.close();
    });

    it(mode === 'stock' ? 'answers 501 and keeps the secret in use' : 'answers 200 with the old secret confirmed refused, never the secret; outbound tokens keep coming', async () => {
      const before = app.get(ClientCredentialsService).clientId!;
      const stored = await readFile(join(dir, 'credentials.json'), 'utf8');
      const response = await request(app.getHttpServer()).post(ROUTE).auth(admin, { type: 'bearer' });
      expect(response.headers['cache-control']).toBe('no-store');
      if (mode === 'stock') {
        expect(response.status, response.text).toBe(501);
        expect(response.body.message).toContain('the provider kept the old client_secret on RFC 7592 update');
        // Only the rotated registration access token may have changed in the store; the secret still works.
        expect(await freshToken(app)).toEqual(expect.any(String));
        expect(stored).not.toBe('');
      } else {
        expect(response.status, response.text).toBe(200);
        expect(response.body).toEqual({ clientId: before, rotatedAt: expect.any(String), previousSecret: 'refused' });
        expect(await freshToken(app)).toEqual(expect.any(String));
      }
      for (const field of ['clientSecret', 'pendingClientSecret', 'previousClientSecret']) expect(response.body).not.toHaveProperty(field);
      const events = (await readFile(join(dir, 'audit.log'), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(events.filter((e) => e.action === 'client.rotate').map((e) => e.outcome)).toEqual([mode === 'stock' ? 'failure' : 'success']);
    });

    it('refuses a body it does not understand with 400 naming the field', async () => {
      const response = await request(app.getHttpServer()).post(ROUTE).auth(admin, { type: 'bearer' }).send({ revokeTokens: false });
      expect([response.status, response.body.field]).toEqual([400, 'revokeTokens']);
    });
  });
});

describe('rotating the API client: the edges', () => {
  let idp: DevelopmentIdentityProvider;
  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE, rotateClientSecretOnUpdate: true });
  });
  afterAll(async () => {
    await idp?.stop();
  });

  it('answers 409 when the client comes from options (nothing stored to rotate)', async () => {
    const dir = await tempDir();
    const client = idp.defaultServiceAccount;
    const app = await createApp('express', {
      imports: [
        IdentityModule.forRoot(
          options(idp, { autoProvision: false, client: { clientId: client.clientId, clientSecret: client.clientSecret! }, encryptionKey: randomBytes(32).toString('base64'), store: { type: 'file', path: join(dir, 'c.json') } }),
        ),
      ],
    });
    try {
      const response = await request(app.getHttpServer()).post(ROUTE).auth(await idp.serviceAccountToken({ scopes: ['identity:admin'] }), { type: 'bearer' });
      expect(response.status).toBe(409);
      expect(response.body.message).toMatch(/no provisioned client is stored/);
    } finally {
      await app.close();
    }
  });

  describe.skipIf(redisSkipReason)('two replicas on one Redis', () => {
    let redis: RedisServerHandle;
    beforeAll(async () => {
      redis = await startRedisServer();
    });
    afterAll(async () => {
      await redis?.stop();
    });

    it('a rotation on one replica reaches the other without a restart', async () => {
      const encryptionKey = randomBytes(32).toString('base64');
      const shared = options(idp, { encryptionKey, store: { type: 'redis', url: redis.url } });
      const a = await createApp('express', { imports: [IdentityModule.forRoot(shared)] });
      const b = await createApp('fastify', { imports: [IdentityModule.forRoot(shared)] });
      try {
        expect(a.get(ClientCredentialsService).clientId).toBe(b.get(ClientCredentialsService).clientId);
        const rotation = await a.get(ClientProvisioningService).rotate('test');
        expect(rotation.previousSecret).toBe('refused');
        // B still holds the old secret: the provider refuses it, B re-reads the store and carries on.
        expect(await freshToken(b)).toEqual(expect.any(String));
        expect(await freshToken(a)).toEqual(expect.any(String));
      } finally {
        await a.close();
        await b.close();
      }
    });
  });
});
