import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import type { ResolvedIdentityOptions } from '../identity-options.js';
import type { IdentityStatus } from '../health/identity-status.js';
import type { IdentityMetadataService } from '../metadata/identity-metadata.service.js';
import type { IdentityMetrics } from '../metrics/identity.metrics.js';
import type { VerificationKey } from './jwks-keys.js';
import { JwksService } from './jwks.service.js';

const publicKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
const key = (kid: string): VerificationKey => ({ kid, alg: 'ES256', key: publicKey });

/** A JwksService whose JWKS fetch is a fake: each fetch waits for release() and returns the set published at that moment. */
function fakeJwks(cooldownMs = 30_000) {
  const metadata = { onChange: () => () => undefined } as unknown as IdentityMetadataService;
  const status = { canServe: () => true } as unknown as IdentityStatus;
  const service = new JwksService({ jwksCooldownMs: cooldownMs, algorithms: ['ES256'] } as unknown as ResolvedIdentityOptions, metadata, status, {} as IdentityMetrics);
  const published = new Set<string>(['k1']);
  const pending: Array<() => void> = [];
  let fetches = 0;
  const internals = service as unknown as { fetchKeys(): Promise<void>; byKid: Map<string, VerificationKey>; all: VerificationKey[] };
  const install = () => {
    internals.all = [...published].map(key);
    internals.byKid = new Map(internals.all.map((k) => [k.kid!, k]));
  };
  install();
  internals.fetchKeys = () => {
    fetches++;
    // What the provider serves is read when the request is made.
    const seen = new Set(published);
    return new Promise<void>((resolve) =>
      pending.push(() => {
        internals.all = [...seen].map(key);
        internals.byKid = new Map(internals.all.map((k) => [k.kid!, k]));
        resolve();
      }),
    );
  };
  const release = async () => {
    while (pending.length > 0) pending.shift()!();
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };
  return { service, published, release, fetches: () => fetches };
}

describe('JwksService unknown-kid refetch', () => {
  it('a new kid that joined a fetch started before its key was published refetches once, and is not refused for the cap', async () => {
    const { service, published, release, fetches } = fakeJwks();
    // A scheduled fetch is under way; then the provider publishes k2 and a token signed with it arrives.
    const scheduled = service.refresh('scheduled');
    published.add('k2');
    const pending = service.getKey('k2', 'ES256');
    expect(pending).toBeInstanceOf(Promise);
    await release();
    await scheduled;
    await release();
    await expect(pending).resolves.toMatchObject({ kid: 'k2' });
    expect(fetches()).toBe(2);
    // Not negative-cached either.
    expect(service.getKey('k2', 'ES256')).toMatchObject({ kid: 'k2' });
  });

  it('a new kid that joined a fetch started by a made-up kid is not negative-cached: it passes once the 1 s backoff is over, not after the cap', async () => {
    const { service, published, release, fetches } = fakeJwks();
    const bogus = service.getKey('made-up', 'ES256') as Promise<VerificationKey>;
    bogus.catch(() => undefined);
    published.add('k2');
    const real = service.getKey('k2', 'ES256') as Promise<VerificationKey>;
    real.catch(() => undefined);
    await release();
    await expect(bogus).rejects.toThrow();
    // The made-up kid just started a refetch: this one may not start another at once (flood bound).
    await expect(real).rejects.toThrow();
    expect(fetches()).toBe(1);
    const now = Date.now();
    const clock = vi.spyOn(Date, 'now').mockReturnValue(now + 1_500);
    try {
      // The made-up kid stays refused without a fetch; k2 refetches and passes.
      expect(() => service.getKey('made-up', 'ES256')).toThrow();
      const again = service.getKey('k2', 'ES256');
      await release();
      await expect(again).resolves.toMatchObject({ kid: 'k2' });
      expect(fetches()).toBe(2);
    } finally {
      clock.mockRestore();
    }
  });

  it('still bounds a flood: 100 made-up kids joining one fetch cost that one fetch', async () => {
    const { service, release, fetches } = fakeJwks();
    const all = Array.from({ length: 100 }, (_, i) => {
      try {
        const result = service.getKey(`made-up-${i}`, 'ES256');
        return result instanceof Promise ? result.then(() => 'ok', () => 'refused') : 'ok';
      } catch {
        return 'refused';
      }
    });
    await release();
    await release();
    expect(await Promise.all(all)).toEqual(Array(100).fill('refused'));
    expect(fetches()).toBe(1);
  });
});
