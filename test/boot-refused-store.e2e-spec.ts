import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { FileCredentialStore } from '../src/client/file-credential-store.js';
import { ClientProvisioningService, IdentityModule, type IdentityModuleOptions } from '../src/index.js';
import { LAST_GOOD_JWKS_KEY, LAST_GOOD_METADATA_KEY } from '../src/metadata/last-good-metadata.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { createApp, PLATFORMS } from './support/platforms.js';
import { TestController } from './support/test-controller.js';

// A refused boot changes nothing: the last good metadata and JWKS fetched during a boot that a
// later step refuses (a wrong encryptionKey, found when the stored client is opened; keys the API
// cannot use) are not written over the store's copies. A boot that succeeds still persists them.
const AUDIENCE = 'https://api.example.com';
const KEY_A = randomBytes(32).toString('base64');
const KEY_B = randomBytes(32).toString('base64');

/** Long enough for a fire-and-forget store write (an fsync'd file rename) to have landed. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 400));

describe.each(PLATFORMS)('a refused boot leaves the store as it was, on %s', (platform) => {
  let idp: DevelopmentIdentityProvider;
  const dirs: string[] = [];
  const apps: INestApplication[] = [];

  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });
  afterAll(async () => {
    await idp?.stop();
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  function options(path: string, extra: Partial<IdentityModuleOptions> = {}): IdentityModuleOptions {
    return {
      url: idp.issuer,
      audience: AUDIENCE,
      encryptionKey: KEY_A,
      store: { type: 'file', path },
      client: { redirectUri: 'https://api.example.com/auth/callback' },
      autoProvision: { name: 'orders-api', scopes: ['orders:read'], audience: AUDIENCE },
      metrics: false,
      audit: false,
      ...extra,
    };
  }

  async function boot(moduleOptions: IdentityModuleOptions): Promise<INestApplication> {
    const app = await createApp(platform, { imports: [IdentityModule.forRoot(moduleOptions)], controllers: [TestController] });
    apps.push(app);
    return app;
  }

  async function persistedAt(path: string, key: string): Promise<number> {
    const text = await new FileCredentialStore(path).get(key);
    return text === undefined ? Number.NaN : Date.parse((JSON.parse(text) as { fetchedAt: string }).fetchedAt);
  }

  /** A store holding a client sealed with key A and the last good copies of a successful boot. */
  async function provisionedStore(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'identity-boot-refused-'));
    dirs.push(dir);
    const path = join(dir, 'credentials.json');
    const app = await boot(options(path));
    expect(app.get(ClientProvisioningService).source).toBe('provisioned');
    await vi.waitFor(async () => expect(await persistedAt(path, LAST_GOOD_JWKS_KEY)).toBeGreaterThan(0), { timeout: 3000 });
    expect(await persistedAt(path, LAST_GOOD_METADATA_KEY)).toBeGreaterThan(0);
    await Promise.all(apps.splice(0).map((a) => a.close()));
    return path;
  }

  it('a wrong encryptionKey: refused, and the store file is byte for byte the same', async () => {
    const path = await provisionedStore();
    const before = await readFile(path);
    // Metadata and keys are fetched again (later than the stored copies) before the client step fails.
    await new Promise((resolve) => setTimeout(resolve, 10));
    await expect(boot(options(path, { encryptionKey: KEY_B }))).rejects.toThrow(/cannot decrypt credential client:self#[\w-]+#clientSecret: wrong encryptionKey/);
    await settle();
    expect((await readFile(path)).equals(before)).toBe(true);
  });

  it('keys the API cannot use: refused at the JWKS step, and the metadata copy fetched before it is not written', async () => {
    const path = await provisionedStore();
    const before = await readFile(path);
    await expect(boot(options(path, { algorithms: ['ES384'] }))).rejects.toThrow(/the JWKS has no signing key for the allowed algorithms \(ES384\)/);
    await settle();
    expect((await readFile(path)).equals(before)).toBe(true);
  });

  it('a boot that succeeds still persists fresh copies, and later refreshes persist as before', async () => {
    const path = await provisionedStore();
    const metadataBefore = await persistedAt(path, LAST_GOOD_METADATA_KEY);
    const jwksBefore = await persistedAt(path, LAST_GOOD_JWKS_KEY);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const app = await boot(options(path, { cacheTtl: 1 }));
    expect(app.get(ClientProvisioningService).source).toBe('store');
    await vi.waitFor(async () => {
      expect(await persistedAt(path, LAST_GOOD_METADATA_KEY)).toBeGreaterThan(metadataBefore);
      expect(await persistedAt(path, LAST_GOOD_JWKS_KEY)).toBeGreaterThan(jwksBefore);
    }, { timeout: 3000 });
    // The background refresh (at 80 % of a 1 s cacheTtl) writes at once.
    const bootCopy = await persistedAt(path, LAST_GOOD_METADATA_KEY);
    await vi.waitFor(async () => expect(await persistedAt(path, LAST_GOOD_METADATA_KEY)).toBeGreaterThan(bootCopy), { timeout: 4000 });
    const token = await idp.serviceAccountToken({ scopes: ['orders:read'] });
    expect((await request(app.getHttpServer()).get('/orders').auth(token, { type: 'bearer' })).status).toBe(200);
  });
});
