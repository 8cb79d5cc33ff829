import type { CredentialStore } from './credential-store.js';

/** How long a lock is held at most if its owner dies without releasing it. */
export const DEFAULT_LOCK_TTL_MS = 30_000;
/** How long withLock waits for a lock held by someone else before giving up. */
export const DEFAULT_LOCK_WAIT_MS = 10_000;

/** withLock gave up waiting: another caller (or replica) held the lock for longer than waitMs. */
export class CredentialLockTimeoutError extends Error {
  /** Written to hold no secret, token or response body (see errors/safe-message.ts). */
  readonly safeMessage = true as const;
  override readonly name = 'CredentialLockTimeoutError';
  constructor(readonly lockName: string, readonly waitMs: number) {
    super(`could not acquire credential-store lock "${lockName}" within ${waitMs} ms: another process or replica holds it`);
  }
}

interface LockState {
  waiters: Array<{ grant: () => void }>;
}

/**
 * An in-process mutex per name, FIFO, with a bounded wait. Ownership is handed straight to the
 * next waiter on release, so a waiter that times out never lets two holders in.
 */
export class KeyedMutex {
  readonly #held = new Map<string, LockState>();

  /** Resolves with a release function once the lock is held; rejects after waitMs. */
  acquire(name: string, waitMs: number): Promise<() => void> {
    const state = this.#held.get(name);
    if (!state) {
      this.#held.set(name, { waiters: [] });
      return Promise.resolve(this.#releaser(name));
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: () => {
          clearTimeout(timer);
          resolve(this.#releaser(name));
        },
      };
      const timer = setTimeout(() => {
        const index = state.waiters.indexOf(waiter);
        if (index >= 0) state.waiters.splice(index, 1);
        reject(new CredentialLockTimeoutError(name, waitMs));
      }, waitMs);
      state.waiters.push(waiter);
    });
  }

  #releaser(name: string): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const state = this.#held.get(name);
      const next = state?.waiters.shift();
      if (next) next.grant();
      else this.#held.delete(name);
    };
  }
}

/** Validates the lock options shared by every store, so a typo fails loudly instead of waiting forever. */
export function lockTimings(options?: { ttlMs?: number; waitMs?: number }): { ttlMs: number; waitMs: number } {
  const ttlMs = options?.ttlMs ?? DEFAULT_LOCK_TTL_MS;
  const waitMs = options?.waitMs ?? DEFAULT_LOCK_WAIT_MS;
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`withLock: ttlMs must be a positive number, got ${ttlMs}`);
  if (!Number.isFinite(waitMs) || waitMs < 0) throw new RangeError(`withLock: waitMs must be a non-negative number, got ${waitMs}`);
  return { ttlMs, waitMs };
}

/**
 * Keeps everything in this process's memory: for tests and the in-process mode. Nothing survives
 * a restart, and locks only exclude callers in this process (ttlMs does not apply: a lock is
 * released when fn settles, and a crash frees it with the process).
 */
export class MemoryCredentialStore implements CredentialStore {
  readonly #values = new Map<string, string>();
  readonly #locks = new KeyedMutex();

  constructor(initial?: Record<string, string>) {
    for (const [key, value] of Object.entries(initial ?? {})) this.#values.set(key, value);
  }

  async get(key: string): Promise<string | undefined> {
    return this.#values.get(key);
  }

  async set(key: string, value: string): Promise<void> {
    if (typeof value !== 'string') throw new TypeError(`CredentialStore.set("${key}"): value must be a string`);
    this.#values.set(key, value);
  }

  async delete(key: string): Promise<void> {
    this.#values.delete(key);
  }

  async keys(prefix: string): Promise<string[]> {
    return [...this.#values.keys()].filter((key) => key.startsWith(prefix)).sort();
  }

  async withLock<T>(name: string, fn: () => Promise<T>, options?: { ttlMs?: number; waitMs?: number }): Promise<T> {
    const { waitMs } = lockTimings(options);
    const release = await this.#locks.acquire(name, waitMs);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  async close(): Promise<void> {}
}
