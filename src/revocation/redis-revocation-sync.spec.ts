import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { redisSkipReason } from '../../test/support/redis-server.js';
import { ReplicaRedis } from '../../test/support/replica-redis.js';
import { IdentityAudit } from '../audit/identity-audit.service.js';
import { RedisCredentialStore } from '../client/redis-credential-store.js';
import { IdentityStatus } from '../health/identity-status.js';
import { compileClaims } from '../identity/claims-presets.js';
import { Identity } from '../identity/identity.js';
import { resolveIdentityOptions, type IdentityModuleOptions } from '../identity-options.js';
import { IdentityMetrics } from '../metrics/identity.metrics.js';
import { openRedisConnection } from '../redis/redis-connection.js';
import type { RevocationRecord } from './revocation.js';
import { RevocationService } from './revocation.service.js';
import { RedisRevocationSync } from './redis-revocation-sync.js';
import type { RevocationSyncTarget } from './revocation-sync.js';

const s3db = compileClaims('s3db');
const service = (clientId: string) => Identity.fromClaims({ sub: `sa:${clientId}`, token_use: 'service', client_id: clientId, iat: Math.floor(Date.now() / 1000) - 60 }, s3db)!;

describe.skipIf(redisSkipReason)('revocations shared through Redis', () => {
  let redis: ReplicaRedis;

  beforeAll(async () => {
    redis = await ReplicaRedis.start();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  /** One "replica": the service on a Redis store, booted (onModuleInit). */
  async function replica(keyPrefix: string, extra: Partial<IdentityModuleOptions> = {}, boot = true) {
    const options = resolveIdentityOptions({ url: 'https://auth.example.com', audience: 'https://api.example.com', store: { type: 'redis', url: redis.url, keyPrefix }, ...extra });
    const store = new RedisCredentialStore({ url: redis.url, keyPrefix });
    const status = new IdentityStatus();
    const registry = new Registry();
    const service = new RevocationService(options, status, new IdentityMetrics(status, registry), new IdentityAudit(), store);
    if (boot) await service.onModuleInit().catch(async (error: unknown) => Promise.reject((await store.close(), error)));
    const metric = async (name: string) => (await registry.getSingleMetric(name)!.get()).values as Array<{ value: number; metricName?: string }>;
    return { service, status, metric, close: async () => Promise.all([service.onApplicationShutdown(), store.close()]) };
  }

  it('a revocation on one replica reaches the other (with its sync latency), and so does its removal; a later replica loads it', async () => {
    const prefix = `sync-${randomUUID().slice(0, 8)}:`;
    const a = await replica(prefix);
    const b = await replica(prefix);
    try {
      expect(b.status.snapshot().revocations).toMatchObject({ sync: 'redis', state: 'synced', entries: 0 });
      const view = await a.service.revoke({ clientId: 'orders' }, 'x');
      await vi.waitFor(() => expect(b.service.isRevoked(service('orders'))).toBe(true), { timeout: 1_000, interval: 5 });
      const [histogram] = (await b.metric('identity_revocation_sync_seconds')).filter((v) => v.metricName === 'identity_revocation_sync_seconds_count');
      expect(histogram!.value).toBe(1);
      // The publisher hears its own message too (a no-op once applied): at most that one observation.
      expect((await a.metric('identity_revocation_sync_seconds')).find((v) => v.metricName === 'identity_revocation_sync_seconds_count')!.value).toBeLessThanOrEqual(1);

      const c = await replica(prefix);
      expect(c.service.isRevoked(service('orders'))).toBe(true);
      expect(await c.service.list()).toEqual([view]);

      const raw = new Redis(redis.url);
      const ttl = await raw.pttl(`${prefix}revocation:${view.id}`);
      expect(ttl).toBeGreaterThan(86_400_000);
      expect(ttl).toBeLessThanOrEqual((86_400 + 5) * 1000);
      await raw.quit();

      await b.service.remove(view.id, 'x');
      await vi.waitFor(() => expect([a.service.isRevoked(service('orders')), c.service.isRevoked(service('orders'))]).toEqual([false, false]), { timeout: 1_000, interval: 5 });
      await c.close();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  /** A sync on its own, with a target that records what it is told. */
  async function bareSync(keyPrefix: string, writeTimeoutMs?: number) {
    const connection = openRedisConnection(redis.url);
    const sync = new RedisRevocationSync(connection, { keyPrefix, channel: `${keyPrefix}revocations`, origin: 'me', ...(writeTimeoutMs === undefined ? {} : { writeTimeoutMs }) });
    const list = new Map<string, RevocationRecord>();
    const target: RevocationSyncTarget = {
      loaded: (records) => {
        list.clear();
        for (const record of records) list.set(record.id, record);
      },
      added: (record) => void list.set(record.id, record),
      removed: (id) => void list.delete(id),
      interrupted: () => undefined,
      ignored: () => undefined,
      notice: () => undefined,
      current: () => [...list.values()],
    };
    await sync.start(target);
    return { sync, connection, list };
  }
  const record = (): RevocationRecord =>
    Object.freeze({ id: randomUUID(), kind: 'client', value: 'orders', before: Date.now(), createdAt: Date.now(), expiresAt: Date.now() + 60_000, createdBy: 'x' }) as RevocationRecord;

  it('the publishing sync applies its own message: a write that timed out (503) but landed still reaches this replica', async () => {
    const prefix = `own-${randomUUID().slice(0, 8)}:`;
    const { sync, connection, list } = await bareSync(prefix, 20);
    try {
      // The write reaches Redis only after the caller was told 503.
      const commands = connection.commands.bind(connection);
      connection.commands = () => new Promise((resolve) => setTimeout(resolve, 100)).then(commands);
      const late = record();
      await expect(sync.publish(late)).rejects.toThrow(/did not finish within 20 ms/);
      expect(list.has(late.id)).toBe(false);
      await vi.waitFor(() => expect(list.has(late.id)).toBe(true), { timeout: 2_000, interval: 5 });
    } finally {
      await sync.close();
    }
  });

  it('a record the sync publishes while a full load runs is in the list once the load is applied', async () => {
    const prefix = `own-load-${randomUUID().slice(0, 8)}:`;
    const { sync, list } = await bareSync(prefix);
    try {
      const during = record();
      // A full load (as after a reconnection) and a publish of this very sync at once; nothing applies the record locally but the sync.
      const load = (sync as unknown as { resync(): Promise<void> }).resync();
      await sync.publish(during);
      await load;
      await vi.waitFor(() => expect(list.has(during.id)).toBe(true), { timeout: 2_000, interval: 5 });
      const after = record();
      await sync.publish(after);
      await vi.waitFor(() => expect(list.has(after.id)).toBe(true), { timeout: 2_000, interval: 5 });
    } finally {
      await sync.close();
    }
  });

  it('ignores, counts and logs malformed messages and keys, without their content', async () => {
    const prefix = `junk-${randomUUID().slice(0, 8)}:`;
    const raw = new Redis(redis.url);
    await raw.set(`${prefix}revocation:${randomUUID()}`, 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl');
    const a = await replica(prefix);
    const warnings: string[] = [];
    // The service's logger: what it would print.
    const logger = (a.service as unknown as { logger: { warn(message: string): void } }).logger;
    logger.warn = (message: string) => void warnings.push(message);
    try {
      expect((await a.metric('identity_revocation_messages_ignored_total'))[0]!.value).toBe(1);
      await raw.publish(`${prefix}revocations`, 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl');
      await raw.publish(`${prefix}revocations`, JSON.stringify({ v: 1, type: 'revoked', revocation: { v: 1, id: randomUUID(), kind: 'client', value: 'x' }, publishedAt: Date.now(), origin: 'evil' }));
      await vi.waitFor(async () => expect((await a.metric('identity_revocation_messages_ignored_total'))[0]!.value).toBe(3), { timeout: 2_000 });
      expect(warnings).toEqual([
        'Ignored: a message on the revocation channel is not well-formed: the message is not JSON',
        'Ignored: a message on the revocation channel is not well-formed: before, createdAt or expiresAt is not a time',
      ]);
      expect(a.service.isRevoked(service('x'))).toBe(false);
    } finally {
      await raw.quit();
      await a.close();
    }
  });

  it('a replica booting while Redis is away refuses tokens (loading) until it loads; under require the boot fails naming store.url', async () => {
    const prefix = `boot-${randomUUID().slice(0, 8)}:`;
    await redis.pause();
    try {
      const strict = replica(prefix, {}, true);
      const lenient = await replica(prefix, { require: false }, false);
      const lenientBoot = lenient.service.onModuleInit();
      await expect(strict).rejects.toThrow(/option "store\.url": the revocation list could not be loaded \(loading the revocation list did not finish within 10000 ms\)/);
      await lenientBoot;
      expect(lenient.status.snapshot().revocations).toMatchObject({ sync: 'redis', state: 'loading', error: expect.stringMatching(/not loaded/) });
      await redis.resume(); // empty: this test server keeps nothing across a restart
      await vi.waitFor(() => expect(lenient.status.snapshot().revocations).toMatchObject({ state: 'synced', entries: 0 }), { timeout: 10_000 });
      const other = await replica(prefix);
      await other.service.revoke({ subject: 'sa:orders' }, 'x');
      await vi.waitFor(() => expect(lenient.service.isRevoked(service('orders'))).toBe(true), { timeout: 1_000, interval: 5 });
      await Promise.all([lenient.close(), other.close()]);
    } finally {
      if (!redis.running) await redis.resume();
    }
  }, 40_000);
});
