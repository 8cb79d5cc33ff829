import 'reflect-metadata';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamicModule, INestApplication } from '@nestjs/common';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { FileCredentialStore } from '../src/client/file-credential-store.js';
import { MemoryCredentialStore } from '../src/client/memory-credential-store.js';
import { IdentityModule, type CredentialStore, type IdentityModuleOptions } from '../src/index.js';
import { DEFAULT_LAST_GOOD_FILE, IDENTITY_LAST_GOOD_STORE, LAST_GOOD_JWKS_KEY, LAST_GOOD_METADATA_KEY } from '../src/metadata/last-good-metadata.js';
import { DEVELOPMENT_IDENTITY_ROUTES, DevelopmentIdentityProvider } from '../src/testing/index.js';
import { createApp, PLATFORMS, type PlatformName } from './support/platforms.js';
import { eventually, healthBecomes, identityHealth, me, type Http } from './support/health-probes.js';
import { TestController } from './support/test-controller.js';

// Booting without the provider: `require`, `requireFreshMetadata`, the persisted last good copy,
// the JWKS serving window, and metadata documents that change under a running API.
const AUDIENCE = 'https://api.example.com';

/** Makes a store visible to IdentityModule under a token, from a global module of the app. */
function provideGlobally(token: symbol, store: CredentialStore): DynamicModule {
  class StoreModule {}
  return { module: StoreModule, global: true, providers: [{ provide: token, useValue: store }], exports: [token] };
}

/** Stands in front of the provider's metadata document so a test can change it; proxies /keys to the JWKS. */
class MetadataFront {
  overrides: Record<string, unknown> = {};
  keysRequests = 0;
  private server?: Server;
  base = '';

  constructor(private readonly idp: DevelopmentIdentityProvider) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const send = (body: unknown) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.url === DEVELOPMENT_IDENTITY_ROUTES.s3dbDocument) return send({ ...this.idp.s3dbDocument(), ...this.overrides });
      if (req.url === '/keys') {
        this.keysRequests += 1;
        return send({ keys: this.idp.keys });
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describe.each(PLATFORMS)('booting without the provider on %s', (platform: PlatformName) => {
  let idp: DevelopmentIdentityProvider;
  let scratch: string;
  const apps: INestApplication[] = [];

  async function boot(options: Partial<IdentityModuleOptions>, imports: DynamicModule[] = []): Promise<Http> {
    const app = await createApp(platform, {
      imports: [...imports, IdentityModule.forRootAsync({ useFactory: () => ({ url: idp.issuer, audience: AUDIENCE, ...options }), routes: { health: true } })],
      controllers: [TestController],
    });
    apps.push(app);
    return request(app.getHttpServer());
  }

  const bootWithStore = (store: CredentialStore, options: Partial<IdentityModuleOptions>) => boot({ store, ...options });

  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
    scratch = await mkdtemp(join(tmpdir(), 'identity-resilience-'));
  });

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await idp.restart();
  });

  afterAll(async () => {
    await idp?.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  it('require: false starts without the provider, answers 503, and recovers by itself', async () => {
    await idp.stop();
    const http = await boot({ require: false, cacheTtl: 2 });
    const token = await idp.mintToken();
    const refused = await me(http, token);
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toMatch(/^\d+$/);
    const health = await http.get('/health');
    expect(health.status).toBe(503);
    expect(identityHealth(health)).toMatchObject({ status: 'down', lastError: expect.stringMatching(/metadata/) });
    expect((await http.get('/public')).status).toBe(200);

    await idp.restart();
    await healthBecomes(http, 'up', 8000);
    expect((await me(http, token)).status).toBe(200);
  });

  it('require: true refuses to boot without the provider, naming the URL', async () => {
    await idp.stop();
    // An empty store: no last good copy to boot from (that case is the next test).
    await expect(bootWithStore(new MemoryCredentialStore(), {})).rejects.toThrow(`Identity metadata unavailable: tried ${idp.issuer}${DEVELOPMENT_IDENTITY_ROUTES.s3dbDocument}`);
  });

  it('refuses to boot when the JWKS has no key for the allowed algorithms, naming the option; with require: false it is down', async () => {
    // The provider publishes RS256, ES256 and Ed25519 keys; an API allowing only ES384 can use none.
    await expect(bootWithStore(new MemoryCredentialStore(), { algorithms: ['ES384'] })).rejects.toThrow(
      'the JWKS has no signing key for the allowed algorithms (ES384); if the provider signs with another one, add it to the "algorithms" option',
    );
    const http = await bootWithStore(new MemoryCredentialStore(), { algorithms: ['ES384'], require: false });
    const health = await http.get('/health');
    expect(identityHealth(health)).toMatchObject({ lastError: expect.stringContaining('add it to the "algorithms" option') });
    // No usable key: the API cannot verify anything, which is its own fault, not the caller's.
    expect((await me(http, await idp.mintToken({ alg: 'ES256' }))).status).toBe(503);
  });

  it('restarts from the persisted copy during an outage, within maxStale; requireFreshMetadata refuses it', async () => {
    const store = new MemoryCredentialStore();
    const options = { cacheTtl: 2, maxStale: 1 };
    await bootWithStore(store, options);
    await vi.waitFor(async () => expect(await store.get(LAST_GOOD_JWKS_KEY)).toBeDefined(), { timeout: 2000 });
    const persistedAt = JSON.parse((await store.get(LAST_GOOD_JWKS_KEY))!).fetchedAt as string;
    const metadataAt = Date.parse(JSON.parse((await store.get(LAST_GOOD_METADATA_KEY))!).fetchedAt as string);
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await idp.stop();

    await expect(bootWithStore(store, { ...options, requireFreshMetadata: true })).rejects.toThrow(
      `Identity metadata unavailable: tried ${idp.issuer}${DEVELOPMENT_IDENTITY_ROUTES.s3dbDocument}`,
    );

    const http = await bootWithStore(store, options);
    const health = await http.get('/health');
    expect(health.status).toBe(200);
    expect(identityHealth(health)).toMatchObject({ status: 'degraded', lastJwksSync: persistedAt, jwksKeys: 2, lastError: expect.stringMatching(/persisted/) });
    expect((await me(http, await idp.mintToken())).status).toBe(200);

    // The persisted copies carry their fetch time: fetchedAt + cacheTtl + maxStale ends them too.
    await eventually(async () => me(http, await idp.mintToken()), (r) => expect(r.status).toBe(503), 5000);
    expect(Date.now()).toBeGreaterThanOrEqual(metadataAt + 3000); // cacheTtl 2 s + maxStale 1 s
    expect(identityHealth(await http.get('/health')).status).toBe('down');
  });

  it('falls back to a small last-good file when no credential store is configured', async () => {
    // Run from a scratch directory, so the file lands at <scratch>/.identity/last-good.json whether
    // IdentityModule registers lastGoodFileProvider itself or this test provides it.
    const cwd = process.cwd();
    process.chdir(await mkdtemp(join(scratch, `${platform}-`)));
    try {
      const fallback = () => [provideGlobally(IDENTITY_LAST_GOOD_STORE, new FileCredentialStore(DEFAULT_LAST_GOOD_FILE))];
      await boot({ cacheTtl: 5 }, fallback());
      const written = new FileCredentialStore(DEFAULT_LAST_GOOD_FILE);
      await vi.waitFor(async () => expect(await written.get(LAST_GOOD_JWKS_KEY)).toBeDefined(), { timeout: 2000 });
      expect(await written.get(LAST_GOOD_METADATA_KEY)).toBeDefined();
      await Promise.all(apps.splice(0).map((app) => app.close()));
      await idp.stop();

      const http = await boot({ cacheTtl: 5 }, fallback());
      expect(identityHealth(await http.get('/health')).status).toBe('degraded');
      expect((await me(http, await idp.mintToken())).status).toBe(200);
    } finally {
      process.chdir(cwd);
    }
  });

  it('requireFreshMetadata: true stops accepting tokens once the copy is past cacheTtl, without a stale grace', async () => {
    const http = await boot({ cacheTtl: 1, maxStale: 60, requireFreshMetadata: true });
    const token = await idp.mintToken();
    expect((await me(http, token)).status).toBe(200);
    await idp.stop();
    await eventually(() => me(http, token), (r) => expect(r.status).toBe(503), 3000);
    expect(identityHealth(await http.get('/health')).status).toBe('down');
  });

  it('bounds the JWKS by maxStale too (inline metadata never goes stale, the keys do)', async () => {
    const metadata = { issuer: idp.issuer, jwksUrl: `${idp.issuer}${DEVELOPMENT_IDENTITY_ROUTES.jwks}` };
    const http = await boot({ url: undefined, issuer: idp.issuer, metadata, cacheTtl: 1, maxStale: 1, jwksCooldown: 0 });
    const token = await idp.mintToken();
    expect((await me(http, token)).status).toBe(200);
    await idp.stop();
    await healthBecomes(http, 'degraded', 3000);
    expect((await me(http, token)).status).toBe(200);
    const down = await healthBecomes(http, 'down', 4000);
    expect(Date.parse(identityHealth(down).lastMetadataRefresh as string)).toBeGreaterThan(Date.now() - 2000);
    expect((await me(http, token)).status).toBe(503);
    await idp.restart();
    await eventually(() => me(http, token), (r) => expect(r.status).toBe(200), 6000);
  });

  it('picks up a new jwksUrl and version at the next refresh, and rejects a document whose issuer changed', async () => {
    const front = new MetadataFront(idp);
    await front.start();
    try {
      const http = await boot({ url: front.base, issuer: idp.issuer, cacheTtl: 1, maxStale: 30 });
      const token = await idp.mintToken();
      expect(identityHealth(await http.get('/health'))).toMatchObject({ status: 'up', metadataVersion: 1 });

      front.overrides = { version: 2, jwksUrl: `${front.base}/keys` };
      await eventually(() => http.get('/health'), (r) => expect(identityHealth(r).metadataVersion).toBe(2), 3000);
      await vi.waitFor(() => expect(front.keysRequests).toBeGreaterThan(0), { timeout: 2000 });
      expect((await me(http, await idp.mintToken())).status).toBe(200);

      front.overrides = { version: 3, issuer: 'https://impostor.example.com' };
      const rejected = await eventually(() => http.get('/health'), (r) => expect(identityHealth(r).lastError).toMatch(/issuer/), 3000);
      expect(identityHealth(rejected)).toMatchObject({ metadataVersion: 2 });
      expect(JSON.stringify(rejected.body)).not.toContain('impostor');
      expect((await me(http, token)).status).toBe(200);
    } finally {
      await front.stop();
    }
  });
});
