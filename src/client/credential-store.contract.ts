import { afterEach, describe, expect, it } from 'vitest';
import type { CredentialStore } from './credential-store.js';
import { CredentialLockTimeoutError } from './memory-credential-store.js';

/**
 * What every CredentialStore must do, as Vitest tests. Each implementation's spec calls this
 * with a factory that gives a fresh, empty store.
 */
export interface CredentialStoreFixture {
  store: CredentialStore;
  cleanup: () => Promise<void>;
  /** A new instance over the same backing data (file, Redis). Needed when `durable` is set. */
  reopen?: () => Promise<CredentialStore>;
}

export interface CredentialStoreContractOptions {
  /** The data outlives the instance: a reopened store sees it. False for the memory store. */
  durable?: boolean;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function describeCredentialStoreContract(
  name: string,
  make: () => Promise<CredentialStoreFixture>,
  options: CredentialStoreContractOptions = {},
): void {
  describe(`${name} (CredentialStore contract)`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      while (cleanups.length) await cleanups.pop()!();
    });

    async function fresh(): Promise<CredentialStoreFixture> {
      const fixture = await make();
      cleanups.push(fixture.cleanup);
      return fixture;
    }

    it('round-trips a value and answers undefined for a missing key', async () => {
      const { store } = await fresh();
      expect(await store.get('client')).toBeUndefined();
      await store.set('client', 'v1.sealed-value');
      expect(await store.get('client')).toBe('v1.sealed-value');
    });

    it('overwrites a value', async () => {
      const { store } = await fresh();
      await store.set('k', 'first');
      await store.set('k', 'second');
      expect(await store.get('k')).toBe('second');
      expect(await store.keys('k')).toEqual(['k']);
    });

    it('deletes a value, and deleting a missing key is not an error', async () => {
      const { store } = await fresh();
      await store.set('k', 'v');
      await store.set('other', 'stays');
      await store.delete('k');
      expect(await store.get('k')).toBeUndefined();
      expect(await store.get('other')).toBe('stays');
      await expect(store.delete('never-set')).resolves.toBeUndefined();
    });

    it('lists keys by prefix, matching the prefix literally', async () => {
      const { store } = await fresh();
      for (const key of ['sa:b', 'sa:a', 'client:x', 'sa*:glob', 'sa[1]', 'sab']) await store.set(key, 'v');
      expect(await store.keys('sa:')).toEqual(['sa:a', 'sa:b']);
      expect(await store.keys('sa*')).toEqual(['sa*:glob']);
      expect(await store.keys('sa[')).toEqual(['sa[1]']);
      expect(await store.keys('none:')).toEqual([]);
      expect(await store.keys('')).toEqual(['client:x', 'sa*:glob', 'sa:a', 'sa:b', 'sa[1]', 'sab']);
    });

    it('keeps unicode, newlines, quotes and large values intact', async () => {
      const { store } = await fresh();
      const values: Record<string, string> = {
        unicode: 'café ✓ 日本語 🔐 Ωmega',
        newlines: 'line one\nline two\r\nline three\n',
        quotes: '"double" \'single\' \\backslash\\ {"json":true} \t tab',
        empty: '',
        large: 'x'.repeat(256 * 1024) + '🔚',
      };
      for (const [key, value] of Object.entries(values)) await store.set(key, value);
      await store.set('ключ\nwith newline', 'value');
      for (const [key, value] of Object.entries(values)) expect(await store.get(key)).toBe(value);
      expect(await store.get('ключ\nwith newline')).toBe('value');
    });

    it('withLock: concurrent holders of one lock never overlap', async () => {
      const { store } = await fresh();
      let active = 0;
      let maxActive = 0;
      let runs = 0;
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          store.withLock(
            'provision',
            async () => {
              active++;
              maxActive = Math.max(maxActive, active);
              await sleep(2 + Math.random() * 5);
              runs++;
              active--;
              return i;
            },
            { ttlMs: 10_000, waitMs: 20_000 },
          ),
        ),
      );
      expect(results).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      expect(runs).toBe(8);
      expect(maxActive).toBe(1);
    });

    it('withLock: different lock names do not block each other', async () => {
      const { store } = await fresh();
      const inner = await store.withLock('a', () => store.withLock('b', async () => 'both held', { waitMs: 2_000 }), { waitMs: 2_000 });
      expect(inner).toBe('both held');
    });

    it('withLock: the lock is released when fn throws', async () => {
      const { store } = await fresh();
      const boom = new Error('boom');
      await expect(store.withLock('l', async () => Promise.reject(boom))).rejects.toBe(boom);
      const started = Date.now();
      await expect(store.withLock('l', async () => 'again', { waitMs: 1_000 })).resolves.toBe('again');
      expect(Date.now() - started).toBeLessThan(1_000);
    });

    it('withLock: gives up after waitMs while another holder keeps the lock', async () => {
      const { store } = await fresh();
      let release!: () => void;
      const held = store.withLock('busy', () => new Promise<void>((resolve) => (release = resolve)), { waitMs: 1_000 });
      await sleep(50); // let the first holder in
      await expect(store.withLock('busy', async () => 'never', { waitMs: 100 })).rejects.toBeInstanceOf(CredentialLockTimeoutError);
      release();
      await held;
    });

    // Registered only for durable stores, so the memory store's run shows no skipped test.
    if (options.durable) it('keeps data across a new instance', async () => {
      const fixture = await fresh();
      await fixture.store.set('client', 'persisted ✓\n');
      await fixture.store.set('gone', 'x');
      await fixture.store.delete('gone');
      await fixture.store.close?.();
      expect(fixture.reopen, 'a durable store fixture must provide reopen()').toBeTypeOf('function');
      const reopened = await fixture.reopen!();
      try {
        expect(await reopened.get('client')).toBe('persisted ✓\n');
        expect(await reopened.get('gone')).toBeUndefined();
        expect(await reopened.keys('')).toEqual(['client']);
      } finally {
        await reopened.close?.();
      }
    });
  });
}
