import 'reflect-metadata';
import { Controller, Get, type INestApplication, type ModuleMetadata } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService, TerminusModule } from '@nestjs/terminus';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import { register } from 'prom-client';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClientCredentialsService } from '../src/client/client-credentials.service.js';
import { IDENTITY_METRIC_NAMES, IdentityHealthIndicator, IdentityMetadataService, IdentityModule, Public, type IdentityModuleOptions, type IdentityRoutes } from '../src/index.js';
import { DevelopmentIdentityProvider, type RegisteredDevelopmentClient } from '../src/testing/index.js';
import { createApp, PLATFORMS, type PlatformName } from './support/platforms.js';
import { eventually, identityHealth, me, type Http } from './support/health-probes.js';
import { TestController } from './support/test-controller.js';

// /health and /metrics as an operator sees them. The default prom-client registry is shared by
// every app in this process, so counters are compared as deltas between two scrapes.
const AUDIENCE = 'https://api.example.com';
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** The `client` option for a client registered at the development provider (confidential, basic auth). */
const clientOption = ({ clientId, clientSecret }: RegisteredDevelopmentClient) => ({ clientId, clientSecret, tokenEndpointAuthMethod: 'client_secret_basic' as const });

/** Prometheus text format → [name, labels, value] samples. */
class Scrape {
  private readonly samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];

  constructor(readonly text: string) {
    for (const line of text.split('\n')) {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
      if (!match) continue;
      const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
      this.samples.push({ name: match[1]!, labels, value: Number(match[3]) });
    }
  }

  /** Sum of the samples of name whose labels include the given ones (0 when absent). */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((sum, s) => sum + s.value, 0);
  }

  /** How much a counter grew since an earlier scrape. */
  delta(earlier: Scrape, name: string, labels: Record<string, string> = {}): number {
    return this.value(name, labels) - earlier.value(name, labels);
  }
}

const scrape = async (http: Http) => {
  const response = await http.get('/metrics');
  expect(response.status).toBe(200);
  return new Scrape(response.text);
};

/** An app's own Terminus endpoint, with the identity section beside its other checks. */
@Controller('status')
class AppHealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly identity: IdentityHealthIndicator,
    private readonly indicators: HealthIndicatorService,
  ) {}

  @Get()
  @Public()
  @HealthCheck()
  check() {
    return this.health.check([() => this.identity.isHealthy(), () => this.indicators.check('database').up()]);
  }
}

describe.each(PLATFORMS)('health and metrics on %s', (platform: PlatformName) => {
  let idp: DevelopmentIdentityProvider;
  const apps: INestApplication[] = [];

  async function boot(options: Partial<IdentityModuleOptions>, routes: IdentityRoutes, metadata: ModuleMetadata = {}): Promise<{ app: INestApplication; http: Http }> {
    const app = await createApp(platform, {
      imports: [...(metadata.imports ?? []), IdentityModule.forRootAsync({ useFactory: () => ({ url: idp.issuer, audience: AUDIENCE, ...options }), routes })],
      controllers: [TestController, ...(metadata.controllers ?? [])],
    });
    apps.push(app);
    return { app, http: request(app.getHttpServer()) };
  }

  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
  });

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await idp.restart();
  });

  afterAll(async () => {
    await idp?.stop();
  });

  it('moves every metric as the scenario says: boot, verifications, cache, refreshes, outage, recovery', async () => {
    const client = clientOption(await idp.registerClient({ clientId: 'observed-api', scopes: ['orders:read'] }));
    const before = new Scrape(await register.metrics());
    const { app, http } = await boot({ cacheTtl: 2, maxStale: 2, http: { timeoutMs: 300 }, jwksCooldown: 0, client }, { health: true, metrics: true });

    // Boot: one metadata fetch, one JWKS fetch, status up.
    const booted = await scrape(http);
    for (const name of IDENTITY_METRIC_NAMES) expect(booted.text).toContain(`# HELP ${name} `);
    expect(booted.delta(before, 'identity_metadata_fetch_total', { status: 'success' })).toBe(1);
    expect(booted.delta(before, 'identity_metadata_fetch_duration_ms_count')).toBe(1);
    expect(booted.delta(before, 'identity_jwks_refresh_total', { trigger: 'boot', status: 'success' })).toBe(1);
    expect(booted.value('identity_status')).toBe(2);
    expect(booted.value('identity_metadata_age_seconds')).toBeLessThan(2);
    expect(booted.delta(before, 'identity_token_exchange_failures_total')).toBe(0); // the boot probe succeeded

    // Verifications: a miss that verifies, a cache hit, an expired token, an unknown kid (which refetches the JWKS).
    const token = await idp.mintToken();
    expect((await me(http, token)).status).toBe(200);
    expect((await me(http, token)).status).toBe(200);
    expect((await me(http, await idp.mintToken({ expiresIn: -60 }))).status).toBe(401);
    expect((await me(http, await idp.mintToken({ kid: 'not-published' }))).status).toBe(401);
    // An outbound token the API's client may not have (invalid_scope) is a token-exchange failure.
    await expect(app.get(ClientCredentialsService).getToken({ scopes: ['identity:admin'] })).rejects.toThrow(/invalid_scope/);
    const verified = await scrape(http);
    expect(verified.delta(booted, 'identity_token_verifications_total', { result: 'accepted', reason: 'verified' })).toBe(1);
    expect(verified.delta(booted, 'identity_token_verifications_total', { result: 'accepted', reason: 'cache' })).toBe(1);
    expect(verified.delta(booted, 'identity_token_verifications_total', { result: 'rejected', reason: 'expired' })).toBe(1);
    expect(verified.delta(booted, 'identity_token_verifications_total', { result: 'rejected', reason: 'unknown_key' })).toBe(1);
    expect(verified.delta(booted, 'identity_token_verification_duration_seconds_count')).toBe(3);
    expect(verified.delta(booted, 'identity_verified_token_cache_hits_total')).toBe(1);
    expect(verified.delta(booted, 'identity_verified_token_cache_misses_total')).toBe(3);
    expect(verified.delta(booted, 'identity_jwks_refresh_total', { trigger: 'unknown_kid', status: 'success' })).toBe(1);
    expect(verified.delta(booted, 'identity_token_exchange_failures_total')).toBe(1);

    // Background refresh before expiry (80% of cacheTtl): scheduled fetches succeed, the age drops back.
    const refreshed = await eventually(
      () => scrape(http),
      (s) => expect(s.delta(verified, 'identity_jwks_refresh_total', { trigger: 'scheduled', status: 'success' })).toBeGreaterThanOrEqual(1),
      4000,
    );
    expect(refreshed.delta(verified, 'identity_metadata_fetch_total', { status: 'success' })).toBeGreaterThanOrEqual(1);
    expect(refreshed.value('identity_metadata_age_seconds')).toBeLessThan(2);

    // Outage: fetch errors are counted, the status gauge goes 2 → 1 → 0 and the age keeps growing.
    await idp.stop();
    const degraded = await eventually(() => scrape(http), (s) => expect(s.value('identity_status')).toBe(1), 4000);
    const down = await eventually(() => scrape(http), (s) => expect(s.value('identity_status')).toBe(0), 5000);
    expect(down.delta(refreshed, 'identity_metadata_fetch_total', { status: 'error' })).toBeGreaterThanOrEqual(1);
    expect(down.delta(refreshed, 'identity_metadata_fetch_duration_ms_count')).toBeGreaterThanOrEqual(1);
    expect(down.delta(refreshed, 'identity_jwks_refresh_total', { status: 'error' })).toBeGreaterThanOrEqual(1);
    expect(down.value('identity_metadata_age_seconds')).toBeGreaterThan(degraded.value('identity_metadata_age_seconds'));

    // Recovery, no restart of the app.
    await idp.restart();
    const recovered = await eventually(() => scrape(http), (s) => expect(s.value('identity_status')).toBe(2), 8000);
    expect(recovered.delta(down, 'identity_metadata_fetch_total', { status: 'success' })).toBeGreaterThanOrEqual(1);
    expect(recovered.value('identity_metadata_age_seconds')).toBeLessThan(2);
  });

  it('keeps the verified-token cache across background refreshes; a forced refresh() drops it and refetches the JWKS', async () => {
    const { app, http } = await boot({ cacheTtl: 1, jwksCooldown: 0 }, { metrics: true });
    const token = await idp.mintToken();
    expect((await me(http, token)).status).toBe(200); // verified, then cached
    const cached = await scrape(http);
    // Background refreshes at 80 % of the 1 s TTL: the cache answers the same token throughout.
    const scheduled = await eventually(
      () => scrape(http),
      (s) => expect(s.delta(cached, 'identity_metadata_fetch_total', { status: 'success' })).toBeGreaterThanOrEqual(2),
      5000,
    );
    expect(scheduled.delta(cached, 'identity_jwks_refresh_total', { trigger: 'scheduled', status: 'success' })).toBeGreaterThanOrEqual(1);
    expect((await me(http, token)).status).toBe(200);
    const hit = await scrape(http);
    expect(hit.delta(scheduled, 'identity_verified_token_cache_hits_total')).toBe(1);
    expect(hit.delta(scheduled, 'identity_verified_token_cache_misses_total')).toBe(0);

    // An operator's forced refresh: the cache is dropped and the keys are fetched again.
    await app.get(IdentityMetadataService).refresh();
    const forced = await eventually(
      () => scrape(http),
      (s) => expect(s.delta(hit, 'identity_jwks_refresh_total', { trigger: 'forced', status: 'success' })).toBe(1),
      3000,
    );
    expect((await me(http, token)).status).toBe(200);
    const after = await scrape(http);
    expect(after.delta(forced, 'identity_verified_token_cache_misses_total')).toBe(1);
    expect(after.delta(forced, 'identity_token_verifications_total', { result: 'accepted', reason: 'verified' })).toBe(1);
  });

  it('adds the identity section to the app’s own Terminus endpoint: up, degraded (200), down (503)', async () => {
    const { http } = await boot({ cacheTtl: 1, maxStale: 1, http: { timeoutMs: 300 } }, {}, { imports: [TerminusModule], controllers: [AppHealthController] });
    const up = await http.get('/status');
    expect(up.status).toBe(200);
    expect(up.body.status).toBe('ok');
    expect(up.body.details.database).toEqual({ status: 'up' });
    const section = identityHealth(up);
    expect(section).toMatchObject({ status: 'up', metadataSource: 's3db', metadataVersion: 1, jwksKeys: 2, lastMetadataRefresh: expect.stringMatching(ISO), lastJwksSync: expect.stringMatching(ISO), servesUntil: expect.stringMatching(ISO) });
    expect(section.cacheAgeSeconds).toEqual(expect.any(Number));
    expect((await http.get('/health')).status).toBe(404); // not exposed: the app has its own

    await idp.stop();
    const degraded = await eventually(() => http.get('/status'), (r) => expect(identityHealth(r).status).toBe('degraded'), 3000);
    expect(degraded.status).toBe(200);
    expect(degraded.body.status).toBe('degraded');
    expect(identityHealth(degraded).lastError).toMatch(/^(metadata|JWKS)/);
    expect(JSON.stringify(degraded.body)).not.toMatch(/eyJ|secret/i);

    const down = await eventually(() => http.get('/status'), (r) => expect(r.status).toBe(503), 4000);
    expect(down.body.status).toBe('error');
    expect(down.body.error.identity.status).toBe('down');
    expect(down.body.info.database).toEqual({ status: 'up' });
  });

  it('reports the API client credential check: when it ran, and invalid_client in safe words', async () => {
    const client = clientOption(await idp.registerClient({ clientId: 'checked-api', scopes: ['orders:read'] }));
    const good = await boot({ client }, { health: true, metrics: true });
    expect(identityHealth(await good.http.get('/health'))).toMatchObject({ status: 'up', credentialsValid: true, lastCredentialValidation: expect.stringMatching(ISO) });
    const before = await scrape(good.http);
    await good.app.close();
    apps.splice(apps.indexOf(good.app), 1);

    const secret = 'not-the-secret-0123456789';
    const bad = await boot({ require: false, client: { ...client, clientSecret: secret } }, { health: true, metrics: true });
    const health = await bad.http.get('/health');
    expect(health.status).toBe(200);
    expect(identityHealth(health)).toMatchObject({ status: 'degraded', credentialsValid: false, lastCredentialValidation: expect.stringMatching(ISO), lastError: expect.stringMatching(/invalid_client/) });
    expect(health.text).not.toContain(secret);
    expect((await scrape(bad.http)).delta(before, 'identity_token_exchange_failures_total')).toBe(1);
  });

  it('works beside an app-registered PrometheusModule', async () => {
    const { http } = await boot({}, {}, { imports: [PrometheusModule.register({ defaultMetrics: { enabled: false } })] });
    const scraped = await scrape(http);
    for (const name of IDENTITY_METRIC_NAMES) expect(scraped.text).toContain(`# TYPE ${name} `);
    expect(scraped.value('identity_status')).toBe(2);
  });

  it('keeps /health and /metrics public under global: true, and reachable while the provider is down', async () => {
    const { http } = await boot({ global: true, cacheTtl: 1, maxStale: 1, http: { timeoutMs: 300 } }, { health: true, metrics: true });
    expect((await http.get('/unguarded')).status).toBe(401);
    expect((await http.get('/health')).status).toBe(200);
    expect((await http.get('/metrics')).status).toBe(200);
    const token = await idp.mintToken();
    expect((await http.get('/unguarded').auth(token, { type: 'bearer' })).status).toBe(200);
    await idp.stop();
    await eventually(() => http.get('/unguarded').auth(token, { type: 'bearer' }), (r) => expect(r.status).toBe(503), 5000);
    const health = await http.get('/health');
    expect(health.status).toBe(503);
    expect(identityHealth(health).status).toBe('down');
    expect((await scrape(http)).value('identity_status')).toBe(0);
  });
});
