import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisSkipReason, startRedisServer } from '../../test/support/redis-server.js';
import type { RedisServerHandle } from '../../test/support/redis-server.js';
import { describeCredentialStoreContract } from './credential-store.contract.js';
import { CredentialLockTimeoutError } from './memory-credential-store.js';
import { RedisCredentialStore } from './redis-credential-store.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const skipReason = redisSkipReason;
if (skipReason) {
  describe('RedisCredentialStore', () => {
    it.skip(skipReason, () => undefined);
  });
} else {
  describe('RedisCredentialStore', () => {
    let server: RedisServerHandle;
    const prefix = () => `test-${randomBytes(6).toString('hex')}:`;

    beforeAll(async () => {
      server = await startRedisServer();
    });
    afterAll(async () => {
      await server?.stop();
    });

    // Each contract test gets its own key prefix on the shared server, so tests never see each other's keys.
    describeCredentialStoreContract(
      'RedisCredentialStore',
      async () => {
        const keyPrefix = prefix();
        const store = new RedisCredentialStore({ url: server.url, keyPrefix });
        return {
          store,
          cleanup: () => store.close(),
          reopen: async () => new RedisCredentialStore({ url: server.url, keyPrefix }),
        };
      },
      { durable: true },
    );

    it('stores under the prefix (default nestjs-identity:), and keys() ignores other prefixes and locks', async () => {
      const raw = new Redis(server.url);
      const store = new RedisCredentialStore({ url: server.url });
      const other = new RedisCredentialStore({ url: server.url, keyPrefix: 'other-app:' });
      try {
        await store.set('client', 'v');
        await other.set('client', 'w');
        expect(await raw.get('nestjs-identity:kv:client')).toBe('v');
        await store.withLock('client', async () => {
          expect(await raw.exists('nestjs-identity:lock:client')).toBe(1);
          expect(await store.keys('')).toEqual(['client']);
        });
        expect(await raw.exists('nestjs-identity:lock:client')).toBe(0);
        expect(await other.get('client')).toBe('w');
      } finally {
        await raw.del('nestjs-identity:kv:client', 'other-app:kv:client');
        await Promise.all([store.close(), other.close(), raw.quit()]);
      }
    });

    it('lists many keys through SCAN', async () => {
      const store = new RedisCredentialStore({ url: server.url, keyPrefix: prefix() });
      try {
        await Promise.all(Array.from({ length: 1200 }, (_, i) => store.set(`sa:${String(i).padStart(4, '0')}`, 'x')));
        const keys = await store.keys('sa:');
        expect(keys).toHaveLength(1200);
        expect(keys[0]).toBe('sa:0000');
        expect(keys[1199]).toBe('sa:1199');
      } finally {
        await store.close();
      }
    });

    it('stores opened from one URL share the process\'s connection; it closes with the last store', async () => {
      const a = new RedisCredentialStore({ url: server.url, keyPrefix: prefix() });
      const b = new RedisCredentialStore({ url: server.url, keyPrefix: prefix() });
      expect(await a.connection!.commands()).toBe(await b.connection!.commands());
      await a.set('k', 'v');
      await a.close();
      await expect(a.get('k')).rejects.toThrow(/closed/);
      await b.set('k', 'w'); // b's lease keeps the connection open
      expect(await b.get('k')).toBe('w');
      const client = await b.connection!.commands();
      await b.close();
      await expect((client as unknown as Redis).ping()).rejects.toThrow();
    });

    it('two stores (like two replicas) contending for one lock run one at a time', async () => {
      const keyPrefix = prefix();
      const a = new RedisCredentialStore({ url: server.url, keyPrefix });
      const b = new RedisCredentialStore({ url: server.url, keyPrefix });
      try {
        let active = 0;
        let maxActive = 0;
        let runs = 0;
        const critical = async (): Promise<void> => {
          active++;
          maxActive = Math.max(maxActive, active);
          await sleep(3 + Math.random() * 4);
          runs++;
          active--;
        };
        await Promise.all(
          Array.from({ length: 6 }, () => [a.withLock('provision', critical, { waitMs: 20_000 }), b.withLock('provision', critical, { waitMs: 20_000 })]).flat(),
        );
        expect(runs).toBe(12);
        expect(maxActive).toBe(1);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it('a lock its owner never releases expires after ttl', async () => {
      const keyPrefix = prefix();
      const crashed = new RedisCredentialStore({ url: server.url, keyPrefix });
      const survivor = new RedisCredentialStore({ url: server.url, keyPrefix });
      try {
        // The owner takes the lock and "dies" without releasing it.
        expect(await crashed.tryAcquireLock('provision', 300)).toEqual(expect.any(String));
        await expect(survivor.withLock('provision', async () => 'too early', { waitMs: 50 })).rejects.toBeInstanceOf(CredentialLockTimeoutError);
        const started = Date.now();
        await expect(survivor.withLock('provision', async () => 'after expiry', { waitMs: 3_000 })).resolves.toBe('after expiry');
        const waited = Date.now() - started;
        expect(waited).toBeGreaterThan(150);
        expect(waited).toBeLessThan(2_000);
      } finally {
        await Promise.all([crashed.close(), survivor.close()]);
      }
    });

    it('release with a stale token does not delete the new owner\'s lock', async () => {
      const keyPrefix = prefix();
      const slow = new RedisCredentialStore({ url: server.url, keyPrefix });
      const next = new RedisCredentialStore({ url: server.url, keyPrefix });
      try {
        const staleToken = (await slow.tryAcquireLock('job', 100))!;
        await sleep(200); // slow's lock expires
        const currentToken = (await next.tryAcquireLock('job', 10_000))!;
        expect(currentToken).toEqual(expect.any(String));
        // slow finishes late and releases with its own, stale token: nothing happens.
        expect(await slow.releaseLock('job', staleToken)).toBe(false);
        expect(await slow.tryAcquireLock('job', 10_000)).toBeUndefined();
        expect(await next.releaseLock('job', currentToken)).toBe(true);
        expect(await slow.tryAcquireLock('job', 10_000)).toEqual(expect.any(String));
      } finally {
        await Promise.all([slow.close(), next.close()]);
      }
    });

    it('withLock whose fn outlives ttl does not release the lock the next owner took', async () => {
      const keyPrefix = prefix();
      const a = new RedisCredentialStore({ url: server.url, keyPrefix });
      const b = new RedisCredentialStore({ url: server.url, keyPrefix });
      try {
        let bToken: string | undefined;
        await a.withLock(
          'job',
          async () => {
            await sleep(200); // longer than ttl
            bToken = await b.tryAcquireLock('job', 10_000);
          },
          { ttlMs: 100 },
        );
        expect(bToken).toEqual(expect.any(String));
        // a's release ran after fn: b's lock must still be there.
        expect(await a.tryAcquireLock('job', 10_000)).toBeUndefined();
        expect(await b.releaseLock('job', bToken!)).toBe(true);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it('uses a client it is given, and leaves closing it to the owner', async () => {
      const client = new Redis(server.url);
      const store = new RedisCredentialStore(client, { keyPrefix: prefix() });
      await store.set('k', 'v');
      await store.close();
      expect(client.status).toBe('ready');
      expect(await store.get('k')).toBe('v');
      await client.quit();
    });

    it('close() quits the connection it opened', async () => {
      const store = new RedisCredentialStore({ url: server.url, keyPrefix: prefix() });
      await store.set('k', 'v');
      await store.close();
      await expect(store.get('k')).rejects.toThrow();
    });
  });
}
