import { randomBytes } from 'node:crypto';
import { scanKeys, type RedisClientLike } from '../redis/redis-client.js';
import { openRedisConnection, type RedisConnection } from '../redis/redis-connection.js';
import type { CredentialStore } from './credential-store.js';
import { CredentialLockTimeoutError, lockTimings } from './memory-credential-store.js';

export type { RedisClientLike } from '../redis/redis-client.js';

export interface RedisCredentialStoreOptions {
  /** `redis://[:password@]host:port/db` or `rediss://...`. Never logged. */
  url: string;
  /** Prepended to every key, so several deployments can share one Redis. Default `nestjs-identity:`. */
  keyPrefix?: string;
}

export const DEFAULT_REDIS_KEY_PREFIX = 'nestjs-identity:';

/** Deletes the lock only if it still holds our token: a lock that expired and was taken by another owner is left alone. */
const RELEASE_SCRIPT = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`;

/**
 * Credentials in Redis, shared by every replica of the API. Values live at `<prefix>kv:<key>`,
 * locks at `<prefix>lock:<name>` (separate namespaces, so keys('') never lists a lock).
 *
 * Locks are `SET NX PX` with a random token; fn must finish within ttlMs, or the lock expires
 * and another replica may take it. Durability is whatever the Redis server is configured for
 * (AOF/RDB): use persistence in production.
 *
 * Built from a URL, the store takes a lease on the process's shared Redis connections
 * (src/redis/redis-connection.ts): stores and the revocation sync on one URL use one command
 * connection per process, closed with the last lease.
 */
export class RedisCredentialStore implements CredentialStore {
  readonly keyPrefix: string;
  /** The lease on the process's Redis connections (src/redis/), when this store opened it from a URL. */
  readonly connection?: RedisConnection;
  readonly #client?: RedisClientLike;
  #closed = false;

  constructor(options: RedisCredentialStoreOptions);
  constructor(client: RedisClientLike, options?: { keyPrefix?: string });
  constructor(target: RedisCredentialStoreOptions | RedisClientLike, options?: { keyPrefix?: string }) {
    if (isUrlOptions(target)) {
      this.keyPrefix = target.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX;
      // Connects in the background; a failure (no ioredis, Redis down) surfaces on first use.
      this.connection = openRedisConnection(target.url);
    } else {
      if (!target || typeof target.get !== 'function' || typeof target.eval !== 'function') {
        throw new TypeError('RedisCredentialStore needs { url } or an ioredis client');
      }
      this.keyPrefix = options?.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX;
      this.#client = target;
    }
  }

  async #redis(): Promise<RedisClientLike> {
    if (this.#closed) throw new Error('RedisCredentialStore is closed');
    return this.#client ?? (await this.connection!.commands());
  }

  async get(key: string): Promise<string | undefined> {
    const value = await (await this.#redis()).get(this.#dataKey(key));
    return value ?? undefined;
  }

  async set(key: string, value: string): Promise<void> {
    if (typeof value !== 'string') throw new TypeError(`CredentialStore.set("${key}"): value must be a string`);
    await (await this.#redis()).set(this.#dataKey(key), value);
  }

  async delete(key: string): Promise<void> {
    await (await this.#redis()).del(this.#dataKey(key));
  }

  /** SCAN, not KEYS: KEYS blocks the whole server while it walks every key. */
  async keys(prefix: string): Promise<string[]> {
    const base = this.#dataKey('');
    const keys = await scanKeys(await this.#redis(), base + prefix);
    return keys.map((key) => key.slice(base.length)).sort();
  }

  async withLock<T>(name: string, fn: () => Promise<T>, options?: { ttlMs?: number; waitMs?: number }): Promise<T> {
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('withLock: name must be a non-empty string');
    const { ttlMs, waitMs } = lockTimings(options);
    const deadline = Date.now() + waitMs;
    let token: string | undefined;
    for (;;) {
      token = await this.tryAcquireLock(name, ttlMs);
      if (token) break;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new CredentialLockTimeoutError(name, waitMs);
      // Jitter so that replicas waiting for the same lock do not retry in lockstep.
      await sleep(Math.min(remaining, 10 + Math.random() * 40));
    }
    try {
      return await fn();
    } finally {
      // Best effort: fn's outcome matters more, and an unreleased lock expires after ttlMs.
      await this.releaseLock(name, token).catch(() => undefined);
    }
  }

  /** One attempt at the lock: its token if acquired, undefined if someone else holds it. Low level; prefer withLock. */
  async tryAcquireLock(name: string, ttlMs: number): Promise<string | undefined> {
    const token = randomBytes(16).toString('hex');
    const reply = await (await this.#redis()).set(this.#lockKey(name), token, 'PX', Math.ceil(ttlMs), 'NX');
    return reply === 'OK' ? token : undefined;
  }

  /** Releases the lock if it still holds token (compare-and-delete in one Lua step); true if it did. */
  async releaseLock(name: string, token: string): Promise<boolean> {
    const deleted = await (await this.#redis()).eval(RELEASE_SCRIPT, 1, this.#lockKey(name), token);
    return deleted === 1;
  }

  /** Releases the Redis connection this store opened (a client passed in is its owner's to close). */
  async close(): Promise<void> {
    if (this.#closed || !this.connection) return;
    this.#closed = true;
    await this.connection.release();
  }

  #dataKey(key: string): string {
    return `${this.keyPrefix}kv:${key}`;
  }

  #lockKey(name: string): string {
    return `${this.keyPrefix}lock:${name}`;
  }
}

function isUrlOptions(value: unknown): value is RedisCredentialStoreOptions {
  return typeof value === 'object' && value !== null && typeof (value as { url?: unknown }).url === 'string';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
