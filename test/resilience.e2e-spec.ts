import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { IdentityModule, type IdentityModuleOptions } from '../src/index.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { createApp, PLATFORMS, type PlatformName } from './support/platforms.js';
import { eventually, healthBecomes, identityHealth, me, type Http } from './support/health-probes.js';
import { TestController } from './support/test-controller.js';

// The provider goes away and comes back while the API keeps running: small TTLs keep each scenario to seconds.
const AUDIENCE = 'https://api.example.com';
const UNKNOWN_KEY = 'Bearer realm="https://api.example.com", error="invalid_token", error_description="The access token is signed by an unknown key"';

describe.each(PLATFORMS)('resilience on %s', (platform: PlatformName) => {
  let idp: DevelopmentIdentityProvider;
  const apps: INestApplication[] = [];

  async function boot(options: Partial<IdentityModuleOptions>): Promise<Http> {
    const app = await createApp(platform, {
      imports: [IdentityModule.forRootAsync({ useFactory: () => ({ url: idp.issuer, audience: AUDIENCE, ...options }), routes: { health: true } })],
      controllers: [TestController],
    });
    apps.push(app);
    return request(app.getHttpServer());
  }

  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
  });

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
    idp.setDelay(0);
    await idp.restart();
  });

  afterAll(async () => {
    await idp?.stop();
  });

  it('rides out an outage: degraded within maxStale, 503 past it, back up when the provider returns', async () => {
    const http = await boot({ cacheTtl: 2, maxStale: 2, http: { timeoutMs: 300 }, jwksCooldown: 1 });
    const serviceToken = await idp.serviceAccountToken();
    expect((await me(http, serviceToken)).status).toBe(200);
    const warm = await http.get('/health');
    expect(warm.status).toBe(200);
    expect(identityHealth(warm)).toMatchObject({ status: 'up', metadataSource: 's3db', metadataVersion: 1, jwksKeys: 2 });

    await idp.stop();
    // Cached keys keep verifying: a token seen before, and one never seen (no cache entry, the key is cached).
    expect((await me(http, serviceToken)).status).toBe(200);
    expect((await me(http, await idp.mintToken())).status).toBe(200);

    const degraded = await healthBecomes(http, 'degraded', 4000);
    expect(degraded.status).toBe(200);
    expect(identityHealth(degraded).lastError).toMatch(/metadata|JWKS/);
    expect((await me(http, await idp.mintToken())).status).toBe(200);

    const refused = await eventually(() => me(http, serviceToken), (r) => expect(r.status).toBe(503), 5000);
    expect(refused.headers['retry-after']).toMatch(/^\d+$/);
    const down = await http.get('/health');
    expect(down.status).toBe(503);
    expect(identityHealth(down).status).toBe('down');
    expect((await me(http, await idp.mintToken())).status).toBe(503);

    await idp.restart();
    const up = await healthBecomes(http, 'up', 8000);
    expect(up.status).toBe(200);
    expect((await me(http, serviceToken)).status).toBe(200);
    expect((await me(http, await idp.mintToken())).status).toBe(200);
  });

  it('follows key rotation: new tokens pass, old ones pass while their key is published', async () => {
    const http = await boot({ cacheTtl: 2, jwksCooldown: 1 });
    const oldKid = idp.signingKid;
    const oldToken = await idp.serviceAccountToken();
    expect((await me(http, oldToken)).status).toBe(200);

    const newKid = await idp.rotateKeys();
    const newToken = await idp.serviceAccountToken();
    // The unknown kid triggers a refetch at once: the new key passes on its first try.
    expect((await me(http, newToken)).status).toBe(200);
    expect((await me(http, oldToken)).status).toBe(200);
    expect((await me(http, await idp.mintToken({ kid: oldKid }))).status).toBe(200);
    expect((await me(http, await idp.mintToken({ kid: newKid }))).status).toBe(200);

    idp.retireKey(oldKid);
    // The next scheduled refresh drops the key, and the verified-token cache forgets what it verified.
    const refused = await eventually(() => me(http, oldToken), (r) => expect(r.status).toBe(401), 4000);
    expect(refused.headers['www-authenticate']).toBe(UNKNOWN_KEY);
    expect((await me(http, await idp.mintToken({ kid: oldKid }))).status).toBe(401);
    expect((await me(http, newToken)).status).toBe(200);
  });

  it('accepts a token signed with a key published just now on its first try, right after a JWKS fetch', async () => {
    // The default jwksCooldown (30 s): the boot fetch happened a moment ago.
    const http = await boot({ cacheTtl: 3600 });
    expect((await me(http, await idp.mintToken())).status).toBe(200);
    const before = idp.stats.jwks;
    await idp.rotateKeys(); // Keycloak's default: publish and sign with the new key at once
    expect((await me(http, await idp.serviceAccountToken())).status).toBe(200);
    expect(idp.stats.jwks - before).toBe(1);
  });

  /** A token with the valid token's payload and signature under a made-up kid. */
  async function floodTokens(count: number): Promise<{ valid: string; forged: string[] }> {
    const valid = await idp.mintToken();
    const [, payload, signature] = valid.split('.');
    const forged = Array.from({ length: count }, (_, i) => {
      const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: `flood-${i}-${Math.random().toString(36).slice(2)}` })).toString('base64url');
      return `${header}.${payload}.${signature}`;
    });
    return { valid, forged };
  }

  it('a burst of 100 distinct unknown kids within 1 s costs at most 1 JWKS fetch; valid tokens pass throughout', async () => {
    const http = await boot({ cacheTtl: 3600, tokenCache: false });
    const { valid, forged } = await floodTokens(100);
    expect((await me(http, valid)).status).toBe(200);
    const before = idp.stats.jwks;
    const started = Date.now();
    const answers = await Promise.all([...forged.map((token) => me(http, token)), me(http, valid), me(http, valid)]);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(answers.slice(0, 100).map((r) => r.status)).toEqual(Array(100).fill(401));
    expect(answers[100]!.headers['www-authenticate'] ?? answers[0]!.headers['www-authenticate']).toBeDefined();
    expect(answers.slice(100).map((r) => r.status)).toEqual([200, 200]);
    expect(idp.stats.jwks - before).toBeLessThanOrEqual(1);
  });

  it('1,000 distinct unknown kids spread over 10 s cost at most 4 JWKS fetches; valid tokens pass throughout', async () => {
    const http = await boot({ cacheTtl: 3600, tokenCache: false });
    const { valid, forged } = await floodTokens(1000);
    expect((await me(http, valid)).status).toBe(200);
    const before = idp.stats.jwks;
    const statuses: number[] = [];
    const validStatuses: number[] = [];
    const started = Date.now();
    for (let wave = 0; wave < 100; wave++) {
      const due = started + wave * 100;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now())));
      const batch = forged.slice(wave * 10, wave * 10 + 10).map((token) => me(http, token).then((r) => statuses.push(r.status)));
      if (wave % 10 === 0) batch.push(me(http, valid).then((r) => validStatuses.push(r.status)));
      await Promise.all(batch);
    }
    expect(Date.now() - started).toBeLessThan(11_500);
    expect(statuses).toHaveLength(1000);
    expect(new Set(statuses)).toEqual(new Set([401]));
    expect(validStatuses).toEqual(Array(10).fill(200));
    const fetches = idp.stats.jwks - before;
    expect(fetches).toBeGreaterThanOrEqual(1);
    expect(fetches).toBeLessThanOrEqual(4);
  }, 30_000);

  it('never makes requests with cached keys wait for a slow provider', async () => {
    const http = await boot({ cacheTtl: 1, maxStale: 30, http: { timeoutMs: 600 }, tokenCache: false });
    expect((await me(http, await idp.mintToken())).status).toBe(200);
    const before = idp.stats;
    idp.setDelay(5000);
    const durations: number[] = [];
    const until = Date.now() + 2500; // spans several refresh attempts, each hanging until the timeout
    while (Date.now() < until) {
      const token = await idp.mintToken();
      const started = performance.now();
      const response = await me(http, token);
      durations.push(performance.now() - started);
      expect(response.status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    const after = idp.stats;
    expect(after.s3dbDocument - before.s3dbDocument).toBeGreaterThanOrEqual(2);
    expect(after.jwks - before.jwks).toBeGreaterThanOrEqual(1);
    expect(Math.max(...durations)).toBeLessThan(400);
    const health = await http.get('/health');
    expect(health.status).toBe(200);
    expect(identityHealth(health)).toMatchObject({ status: 'degraded', lastError: expect.stringMatching(/600 ms/) });
    idp.setDelay(0);
    await healthBecomes(http, 'up', 6000);
  });
});
