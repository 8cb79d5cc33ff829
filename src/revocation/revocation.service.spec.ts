import { randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import type { AuditEvent } from '../audit/audit-sink.js';
import { IdentityAudit } from '../audit/identity-audit.service.js';
import type { CredentialStore } from '../client/credential-store.js';
import { MemoryCredentialStore } from '../client/memory-credential-store.js';
import { IdentityConfigurationError } from '../errors/identity-configuration.error.js';
import { IdentityStatus } from '../health/identity-status.js';
import { compileClaims } from '../identity/claims-presets.js';
import { Identity } from '../identity/identity.js';
import { resolveIdentityOptions, type IdentityModuleOptions } from '../identity-options.js';
import { IdentityMetrics } from '../metrics/identity.metrics.js';
import { serializeRevocation } from './revocation.js';
import { RevocationService } from './revocation.service.js';
import { STORE_REVOCATION_PREFIX } from './store-revocation-sync.js';

const s3db = compileClaims('s3db');
const service = (clientId: string, iat = Math.floor(Date.now() / 1000) - 60) =>
  Identity.fromClaims({ sub: `sa:${clientId}`, token_use: 'service', client_id: clientId, iat, jti: randomUUID() }, s3db)!;

async function boot(extra: Partial<IdentityModuleOptions> = {}, store?: CredentialStore) {
  const options = resolveIdentityOptions({ url: 'https://auth.example.com', audience: 'https://api.example.com', ...extra });
  const status = new IdentityStatus();
  const registry = new Registry();
  const metrics = new IdentityMetrics(status, registry);
  const events: AuditEvent[] = [];
  const audit = new IdentityAudit({ write: (event) => void events.push(event) });
  const revocations = new RevocationService(options, status, metrics, audit, store);
  await revocations.onModuleInit();
  const counter = async (name: string) => (await registry.getSingleMetric(name)!.get()).values;
  return { revocations, status, events, counter, close: () => revocations.onApplicationShutdown() };
}

describe('RevocationService', () => {
  it('revokes, lists and removes; isRevoked follows; every change is audited and counted', async () => {
    const { revocations, status, events, counter, close } = await boot();
    try {
      expect(status.snapshot().revocations).toEqual({ sync: 'memory', state: 'synced', entries: 0, lastSync: expect.any(String) });
      const drops: Array<(identity: Identity) => boolean> = [];
      revocations.onRevoked((matches) => drops.push(matches));
      const view = await revocations.revoke({ clientId: 'orders', before: new Date(), reason: 'rotated' }, 'user:ops');
      expect(view).toMatchObject({ clientId: 'orders', reason: 'rotated', createdBy: 'user:ops' });
      expect(revocations.isRevoked(service('orders'))).toBe(true);
      expect(revocations.isRevoked(service('billing'))).toBe(false);
      expect(drops).toHaveLength(1);
      expect(drops[0]!(service('orders'))).toBe(true);
      expect(drops[0]!(service('billing'))).toBe(false);
      expect(await revocations.list()).toEqual([view]);
      expect(status.snapshot().revocations?.entries).toBe(1);
      expect(await counter('identity_revocations_total')).toEqual([expect.objectContaining({ labels: { kind: 'client' }, value: 1 })]);

      await revocations.remove(view.id, 'user:ops');
      expect(revocations.isRevoked(service('orders'))).toBe(false);
      expect(await revocations.list()).toEqual([]);
      expect(events.map((e) => [e.action, e.outcome, e.actor, e.target])).toEqual([
        ['revocation.create', 'success', 'user:ops', view.id],
        ['revocation.delete', 'success', 'user:ops', view.id],
      ]);
    } finally {
      await close();
    }
  });

  it('400 for bad input, 404 for unknown ids, 413 beyond maxEntries; failures are audited', async () => {
    const { revocations, events, close } = await boot({ revocation: { maxEntries: 2 } });
    try {
      await expect(revocations.revoke({ clientId: 'a', subject: 'b' }, 'x')).rejects.toMatchObject({ status: 400 });
      await expect(revocations.remove(randomUUID(), 'x')).rejects.toMatchObject({ status: 404 });
      await expect(revocations.remove('../../etc/passwd', 'x')).rejects.toMatchObject({ status: 404, message: 'no such revocation' });
      await revocations.revoke({ clientId: 'a' }, 'x');
      await revocations.revoke({ jti: 'b' }, 'x');
      await expect(revocations.revoke({ subject: 'c' }, 'x')).rejects.toMatchObject({ status: 413, message: expect.stringMatching(/revocation\.maxEntries = 2/) });
      expect(events.filter((e) => e.outcome === 'failure').map((e) => [e.action, e.detail?.slice(0, 4)])).toEqual([
        ['revocation.create', '400:'],
        ['revocation.delete', '404:'],
        ['revocation.delete', '404:'],
        ['revocation.create', '413:'],
      ]);
    } finally {
      await close();
    }
  });

  it('revocation.enabled: false checks nothing and answers 404', async () => {
    const { revocations, status, close } = await boot({ revocation: { enabled: false } });
    try {
      expect(revocations.enabled).toBe(false);
      await expect(revocations.revoke({ clientId: 'a' }, 'x')).rejects.toMatchObject({ status: 404 });
      expect(revocations.isRevoked(service('a'))).toBe(false);
      expect(status.snapshot().revocations).toBeUndefined();
      expect(status.canServe()).toBe(false); // no metadata in this test, but not because of revocations
    } finally {
      await close();
    }
  });

  it('with a store: revocations survive a restart; expired and malformed entries are dropped and counted', async () => {
    const store = new MemoryCredentialStore();
    const first = await boot({}, store);
    const view = await first.revocations.revoke({ subject: 'alice' }, 'x');
    await first.close();
    const expiredId = randomUUID();
    await store.set(`${STORE_REVOCATION_PREFIX}${expiredId}`, JSON.stringify(serializeRevocation({ id: expiredId, kind: 'client', value: 'old', before: Date.now() - 100_000, createdAt: Date.now() - 90_000, expiresAt: Date.now() - 1 })));
    await store.set(`${STORE_REVOCATION_PREFIX}${randomUUID()}`, '{"v":1,"token":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"}');

    const second = await boot({}, store);
    try {
      expect(await second.revocations.list()).toEqual([view]);
      expect(second.revocations.isRevoked(Identity.fromClaims({ sub: 'alice', token_use: 'user', iat: 1 }, s3db)!)).toBe(true);
      expect(await store.get(`${STORE_REVOCATION_PREFIX}${expiredId}`)).toBeUndefined();
      expect(await second.counter('identity_revocation_messages_ignored_total')).toEqual([expect.objectContaining({ value: 1 })]);
      expect(second.status.snapshot().revocations).toMatchObject({ sync: 'store', state: 'synced', entries: 1 });
    } finally {
      await second.close();
    }
  });

  it('a store that cannot be read fails the boot under require (with its own error; a store that never answers, naming the option), else boots refusing tokens (loading)', async () => {
    const broken = new MemoryCredentialStore();
    broken.keys = () => Promise.reject(new Error('disk on fire'));
    await expect(boot({}, broken)).rejects.toThrow('disk on fire');
    const stuck = new MemoryCredentialStore();
    stuck.keys = () => new Promise<string[]>(() => undefined);
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval'] });
    try {
      const booting = boot({}, stuck);
      const failed = expect(booting).rejects.toThrow(/option "store": the revocation list could not be loaded \(loading the revocation list did not finish within 10000 ms\)/);
      await vi.advanceTimersByTimeAsync(10_000);
      await failed;
      await expect(booting).rejects.toThrow(IdentityConfigurationError);
    } finally {
      vi.useRealTimers();
    }
    const lenient = await boot({ require: false }, broken);
    try {
      expect(lenient.status.snapshot().revocations).toMatchObject({ state: 'loading', error: expect.stringMatching(/revocation list not loaded/) });
    } finally {
      await lenient.close();
    }
  });
});
