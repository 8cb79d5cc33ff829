import { randomBytes } from 'node:crypto';
import type { CredentialStore } from './credential-store.js';
import { CredentialLockTimeoutError, lockTimings } from './memory-credential-store.js';

/**
 * The commands this store uses, as ioredis 5 declares them. Typed structurally so that the
 * published declarations do not require ioredis (an optional peer dependency).
 */
export interface RedisClientLike {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<unknown>;
  set(key: string, value: string, px: 'PX', milliseconds: number, nx: 'NX'): Promise<'OK' | null>;
  del(...keys: string[]): Promise<number>;
  scan(cursor: string, match: 'MATCH', pattern: string, count: 'COUNT', n: number): Promise<[cursor: string, keys: string[]]>;
  eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
  quit(): Promise<unknown>;
}

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
 */
export class RedisCredentialStore implements CredentialStore {
  readonly keyPrefix: string;
  readonly #client: Promise<RedisClientLike>;
  /** Only a connection we opened is ours to close. */
  readonly #ownsClient: boolean;

  constructor(options: RedisCredentialStoreOptions);
  constructor(client: RedisClientLike, options?: { keyPrefix?: string });
  constructor(target: RedisCredentialStoreOptions | RedisClientLike, options?: { keyPrefix?: string }) {
    if (isUrlOptions(target)) {
      this.keyPrefix = target.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX;
      this.#ownsClient = true;
      this.#client = connect(target.url);
      // Keep an early connection failure from becoming an unhandled rejection; callers see it on first use.
      this.#client.catch(() => undefined);
    } else {
      if (!target || typeof target.get !== 'function' || typeof target.eval !== 'function') {
        throw new TypeError('RedisCredentialStore needs { url } or an ioredis client');
      }
      this.keyPrefix = options?.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX;
      this.#ownsClient = false;
      this.#client = Promise.resolve(target);
    }
  }

  async get(key: string): Promise<string | undefined> {
    const value = await (await this.#client).get(this.#dataKey(key));
    return value ?? undefined;
  }

  async set(key: string, value: string): Promise<void> {
    if (typeof value !== 'string') throw new TypeError(`CredentialStore.set("${key}"): value must be a string`);
    await (await this.#client).set(this.#dataKey(key), value);
  }

  async delete(key: string): Promise<void> {
    await (await this.#client).del(this.#dataKey(key));
  }

  /** SCAN, not KEYS: KEYS blocks the whole server while it walks every key. */
  async keys(prefix: string): Promise<string[]> {
    const client = await this.#client;
    const base = this.#dataKey('');
    const pattern = `${escapeGlob(base + prefix)}*`;
    const found = new Set<string>(); // SCAN may return a key more than once
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      for (const key of batch) found.add(key.slice(base.length));
      cursor = next;
    } while (cursor !== '0');
    return [...found].sort();
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
    const reply = await (await this.#client).set(this.#lockKey(name), token, 'PX', Math.ceil(ttlMs), 'NX');
    return reply === 'OK' ? token : undefined;
  }

  /** Releases the lock if it still holds token (compare-and-delete in one Lua step); true if it did. */
  async releaseLock(name: string, token: string): Promise<boolean> {
    const deleted = await (await this.#client).eval(RELEASE_SCRIPT, 1, this.#lockKey(name), token);
    return deleted === 1;
  }

  async close(): Promise<void> {
    if (!this.#ownsClient) return;
    const client = await this.#client.catch(() => undefined);
    await client?.quit().catch(() => undefined);
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

async function connect(url: string): Promise<RedisClientLike> {
  let Redis: typeof import('ioredis').Redis;
  try {
    // Lazy: ioredis is an optional peer dependency, needed only by this store.
    ({ Redis } = await import('ioredis'));
  } catch (error) {
    throw new Error('RedisCredentialStore needs the optional peer dependency "ioredis": run `npm install ioredis`', { cause: error });
  }
  // Connects in the background; commands issued meanwhile wait in ioredis's offline queue.
  const client = new Redis(url);
  // Without a listener ioredis prints every connection error to the console; commands still
  // reject with the error, which is where callers see it.
  client.on('error', () => undefined);
  return client;
}

/** Escapes Redis glob metacharacters so that a prefix is matched literally. */
function escapeGlob(text: string): string {
  return text.replace(/[\\*?[\]]/g, '\\$&');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
