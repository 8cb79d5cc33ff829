import { describe, expect, it } from 'vitest';
import { describeCredentialStoreContract } from './credential-store.contract.js';
import { CredentialLockTimeoutError, KeyedMutex, MemoryCredentialStore } from './memory-credential-store.js';

describeCredentialStoreContract('MemoryCredentialStore', async () => ({
  store: new MemoryCredentialStore(),
  cleanup: async () => undefined,
}));

describe('MemoryCredentialStore', () => {
  it('starts from initial values', async () => {
    const store = new MemoryCredentialStore({ a: '1', b: '2' });
    expect(await store.keys('')).toEqual(['a', 'b']);
  });

  it('refuses invalid lock timings instead of waiting forever', async () => {
    const store = new MemoryCredentialStore();
    await expect(store.withLock('x', async () => 1, { waitMs: Number.NaN })).rejects.toThrow(RangeError);
    await expect(store.withLock('x', async () => 1, { ttlMs: 0 })).rejects.toThrow(RangeError);
  });
});

describe('KeyedMutex', () => {
  it('hands the lock to the next waiter, skipping one that timed out', async () => {
    const mutex = new KeyedMutex();
    const releaseFirst = await mutex.acquire('m', 0);
    const timedOut = mutex.acquire('m', 10);
    const second = mutex.acquire('m', 1_000);
    await expect(timedOut).rejects.toBeInstanceOf(CredentialLockTimeoutError);
    let secondHeld = false;
    void second.then(() => (secondHeld = true));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(secondHeld).toBe(false);
    releaseFirst();
    releaseFirst(); // a second call is harmless
    const releaseSecond = await second;
    // A third caller must wait for the second: the double release above did not free it.
    await expect(mutex.acquire('m', 10)).rejects.toBeInstanceOf(CredentialLockTimeoutError);
    releaseSecond();
    (await mutex.acquire('m', 10))();
  });
});
