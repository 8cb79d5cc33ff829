import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityModule, type IdentityModuleOptions } from '../src/index.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { createApp, PLATFORMS } from './support/platforms.js';
import { TestController } from './support/test-controller.js';

// A misspelt option, one from a newer release, or a value of the wrong type (a string from an
// environment variable for a boolean) fails the boot, forRoot and forRootAsync alike, instead of
// being ignored. (Needs assertKnownOptions called from resolveIdentityOptions.)
const AUDIENCE = 'https://api.example.com';

describe.each(PLATFORMS)('options IdentityModule does not know, on %s', (platform) => {
  let idp: DevelopmentIdentityProvider;
  const apps: INestApplication[] = [];

  /** Options as a config loader builds them: not checked by the compiler. */
  const loose = (extra: Record<string, unknown>) => ({ url: idp.issuer, audience: AUDIENCE, metrics: false, ...extra }) as IdentityModuleOptions;

  const forRoot = async (options: IdentityModuleOptions) => {
    const app = await createApp(platform, { imports: [IdentityModule.forRoot(options)], controllers: [TestController] });
    apps.push(app);
    return app;
  };
  const forRootAsync = async (options: IdentityModuleOptions) => {
    const app = await createApp(platform, { imports: [IdentityModule.forRootAsync({ useFactory: async () => options })], controllers: [TestController] });
    apps.push(app);
    return app;
  };

  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await idp?.stop();
  });

  it('forRoot refuses a misspelt option, naming it and the closest known one', async () => {
    const before = idp.stats.s3dbDocument;
    await expect(forRoot(loose({ requireFreshMetadta: true }))).rejects.toThrow(
      'nestjs-identity: option "requireFreshMetadta": is not an option of IdentityModule; did you mean "requireFreshMetadata"?',
    );
    // Refused before anything was fetched.
    expect(idp.stats.s3dbDocument).toBe(before);
  });

  it('forRoot refuses a misspelt nested option with its path', async () => {
    await expect(forRoot(loose({ http: { timeoutMS: 1000 } }))).rejects.toThrow(/option "http\.timeoutMS": is not an option of "http"; did you mean "http\.timeoutMs"\?/);
  });

  it('forRootAsync refuses what its factory returns the same way', async () => {
    await expect(forRootAsync(loose({ maxStal: 60 }))).rejects.toThrow(/option "maxStal": is not an option of IdentityModule; did you mean "maxStale"\?/);
    await expect(forRootAsync(loose({ routes: { health: true } }))).rejects.toThrow(/option "routes": is an argument of forRootAsync, not an option: pass routes: .* beside useFactory/);
  });

  it('forRootAsync refuses a boolean option given as a string from the environment', async () => {
    const env = { IDENTITY_REQUIRE: 'false' };
    await expect(forRootAsync(loose({ require: env.IDENTITY_REQUIRE }))).rejects.toThrow(
      /option "require": must be true or false, got the string "false"; values read from environment variables are strings: convert it, e\.g\. process\.env\.X === 'true'/,
    );
  });

  it('still boots with options it knows, and verifies tokens', async () => {
    const app = await forRootAsync(loose({ require: true, http: { timeoutMs: 2000 }, revocation: { enabled: true } }));
    const token = await idp.serviceAccountToken({ scopes: ['orders:read'] });
    expect((await request(app.getHttpServer()).get('/orders').auth(token, { type: 'bearer' })).status).toBe(200);
  });
});
