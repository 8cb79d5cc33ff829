import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { CredentialStore } from './credential-store.js';
import { CredentialLockTimeoutError, KeyedMutex, lockTimings } from './memory-credential-store.js';

const DOCUMENT_VERSION = 1;
/** Writes take milliseconds; a write lock older than this belongs to a writer that died. */
const WRITE_LOCK_TTL_MS = 10_000;
const WRITE_LOCK_WAIT_MS = 30_000;

/** The store file exists but cannot be trusted. Starting empty would silently lose credentials. */
export class CredentialStoreCorruptError extends Error {
  /** Written to hold no secret, token or response body (see errors/safe-message.ts). */
  readonly safeMessage = true as const;
  override readonly name = 'CredentialStoreCorruptError';
  constructor(readonly path: string, reason: string) {
    // The reason never quotes the file's content: it holds (sealed) secrets.
    super(
      `credential store ${path} is unreadable: ${reason}. Refusing to start empty, which would lose the stored ` +
        'credentials: restore the file from a backup, or move it aside to start over.',
    );
  }
}

/**
 * Writes data to path so that a crash at any moment leaves either the old or the new file, never
 * a mix: write a temp file in the same directory (rename is only atomic within one file system),
 * fsync it, rename it over the target, then fsync the directory so the rename itself is durable.
 */
export async function writeFileAtomic(path: string, data: string, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    try {
      await handle.chmod(mode); // open()'s mode is filtered by the umask
      await handle.writeFile(data, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dir);
}

async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    // Some platforms (Windows, some network file systems) cannot open or fsync a directory.
    if (!['EISDIR', 'EPERM', 'EINVAL', 'ENOTSUP', 'EACCES'].includes(errorCode(error) ?? '')) throw error;
  } finally {
    await handle?.close();
  }
}

/**
 * The embedded default store: one JSON document (`{"version":1,"entries":{...}}`, mode 0600)
 * holding every key. Each write re-reads the document under a cross-process write lock and
 * replaces it atomically, so processes sharing the file never lose each other's updates.
 *
 * Locks are files beside the store (`<path>.<name>.lock`, created exclusively) holding the
 * owner's pid, host and expiry (the directory's file system must support hard links). A lock
 * past its expiry, or whose owner process on this host is gone, is broken. fn must finish within
 * ttlMs, or another process may take the lock.
 * Locks are not reentrant: calling withLock(name) inside withLock(name) waits for waitMs and fails.
 */
export class FileCredentialStore implements CredentialStore {
  readonly path: string;
  readonly #locks = new KeyedMutex();
  #writes: Promise<unknown> = Promise.resolve();
  #dirReady?: Promise<void>;

  constructor(path: string) {
    if (typeof path !== 'string' || path.length === 0) {
      throw new TypeError('FileCredentialStore needs a file path, e.g. ".identity/credentials.json"');
    }
    // Absolute now, so a later process.chdir() cannot move the store.
    this.path = resolve(path);
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.#load()).get(key);
  }

  set(key: string, value: string): Promise<void> {
    if (typeof value !== 'string') return Promise.reject(new TypeError(`CredentialStore.set("${key}"): value must be a string`));
    return this.#mutate((entries) => {
      if (entries.get(key) === value) return false;
      entries.set(key, value);
      return true;
    });
  }

  delete(key: string): Promise<void> {
    return this.#mutate((entries) => entries.delete(key));
  }

  async keys(prefix: string): Promise<string[]> {
    return [...(await this.#load()).keys()].filter((key) => key.startsWith(prefix)).sort();
  }

  async withLock<T>(name: string, fn: () => Promise<T>, options?: { ttlMs?: number; waitMs?: number }): Promise<T> {
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('withLock: name must be a non-empty string');
    const { ttlMs, waitMs } = lockTimings(options);
    const deadline = Date.now() + waitMs;
    // Callers in this process queue in memory; only one of them at a time polls the lock file.
    const release = await this.#locks.acquire(name, waitMs);
    try {
      await this.#ensureDir();
      // encodeURIComponent keeps the name inside the directory ("/" and "\" are escaped).
      const lockPath = `${this.path}.${encodeURIComponent(name)}.lock`;
      const token = await acquireFileLock(lockPath, ttlMs, deadline, name, waitMs);
      try {
        return await fn();
      } finally {
        await releaseFileLock(lockPath, token);
      }
    } finally {
      release();
    }
  }

  async close(): Promise<void> {
    await this.#writes;
  }

  /** Runs one read-modify-write at a time in this process, under the cross-process write lock. */
  #mutate(change: (entries: Map<string, string>) => boolean): Promise<void> {
    const task = async (): Promise<void> => {
      await this.#ensureDir();
      const lockPath = `${this.path}.lock`;
      const token = await acquireFileLock(lockPath, WRITE_LOCK_TTL_MS, Date.now() + WRITE_LOCK_WAIT_MS, 'write', WRITE_LOCK_WAIT_MS);
      try {
        // Re-read under the lock: another process may have written since our last read.
        const entries = await this.#load();
        if (!change(entries)) return;
        await this.#removeOrphanedTempFiles();
        await writeFileAtomic(this.path, serialise(entries));
      } finally {
        await releaseFileLock(lockPath, token);
      }
    };
    const run = this.#writes.then(task, task);
    this.#writes = run.catch(() => undefined);
    return run;
  }

  /**
   * A writer killed mid-write leaves its temp file (sealed values, possibly large). Every writer
   * holds the write lock, so while we hold it any temp file of this store is an orphan.
   */
  async #removeOrphanedTempFiles(): Promise<void> {
    const dir = dirname(this.path);
    const prefix = `.${basename(this.path)}.`;
    // A lock-owner temp (tryCreateLock) orphaned by a kill; a live one swept here only makes its creator retry.
    const lockTemp = `${basename(this.path)}.`;
    for (const name of await readdir(dir)) {
      const orphan = name.startsWith(prefix) || (name.startsWith(lockTemp) && name.includes('.lock.'));
      if (orphan && name.endsWith('.tmp')) await unlink(join(dir, name)).catch(() => undefined);
    }
  }

  #ensureDir(): Promise<void> {
    // mode applies only to directories created here; an existing directory keeps its mode.
    this.#dirReady ??= mkdir(dirname(this.path), { recursive: true, mode: 0o700 }).then(
      () => undefined,
      (error: unknown) => {
        this.#dirReady = undefined; // let a later call retry (e.g. after permissions are fixed)
        throw error;
      },
    );
    return this.#dirReady;
  }

  /** The whole document, read fresh (a rename by another process is seen at once). */
  async #load(): Promise<Map<string, string>> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return new Map();
      throw error;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      // JSON.parse's own message quotes the content, so it is not passed on.
      throw new CredentialStoreCorruptError(this.path, text.length === 0 ? 'the file is empty' : 'it is not valid JSON (truncated or edited by hand?)');
    }
    if (!isObject(parsed) || parsed.version !== DOCUMENT_VERSION || !isObject(parsed.entries)) {
      throw new CredentialStoreCorruptError(this.path, `it is not a credential document (expected {"version":${DOCUMENT_VERSION},"entries":{...}})`);
    }
    const entries = new Map<string, string>();
    for (const [key, value] of Object.entries(parsed.entries)) {
      if (typeof value !== 'string') throw new CredentialStoreCorruptError(this.path, 'an entry is not a string');
      entries.set(key, value);
    }
    return entries;
  }
}

function serialise(entries: Map<string, string>): string {
  // Object.fromEntries defines own properties, so a key like "__proto__" is stored, not swallowed.
  const sorted = Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return `${JSON.stringify({ version: DOCUMENT_VERSION, entries: sorted }, null, 2)}\n`;
}

interface LockOwner {
  pid: number;
  host: string;
  token: string;
  expiresAt: number;
}

async function acquireFileLock(lockPath: string, ttlMs: number, deadline: number, name: string, waitMs: number): Promise<string> {
  for (;;) {
    const token = await tryCreateLock(lockPath, ttlMs);
    if (token) return token;
    if (await breakIfStale(lockPath, ttlMs)) continue;
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new CredentialLockTimeoutError(name, waitMs);
    // Jitter so that waiting processes do not retry in lockstep.
    await sleep(Math.min(remaining, 10 + Math.random() * 40));
  }
}

/**
 * Creates the lock file exclusively; undefined if it already exists. The owner record is written
 * to a private temp file first ('wx' = O_CREAT|O_EXCL) and then hard-linked into place, which
 * fails with EEXIST like O_EXCL does: so a lock file never exists without its owner record, even
 * if its creator is killed half way.
 */
async function tryCreateLock(lockPath: string, ttlMs: number): Promise<string | undefined> {
  const token = randomBytes(16).toString('hex');
  const owner: LockOwner = { pid: process.pid, host: hostname(), token, expiresAt: Date.now() + ttlMs };
  const temp = `${lockPath}.${token}.tmp`;
  await writeFile(temp, JSON.stringify(owner), { flag: 'wx', mode: 0o600 });
  try {
    await link(temp, lockPath);
    return token;
  } catch (error) {
    // ENOENT: a writer's orphan sweep took our temp file; like EEXIST, try again.
    if (errorCode(error) === 'EEXIST' || errorCode(error) === 'ENOENT') return undefined;
    throw error;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

/** Removes the lock if its owner is gone or it expired; true if the caller should retry at once. */
async function breakIfStale(lockPath: string, ttlMs: number): Promise<boolean> {
  let raw: string;
  try {
    raw = await readFile(lockPath, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return true; // released meanwhile
    throw error;
  }
  const owner = parseOwner(raw);
  let stale: boolean;
  if (owner) {
    stale = Date.now() > owner.expiresAt || (owner.host === hostname() && !processAlive(owner.pid));
  } else {
    // Not written by tryCreateLock (damaged, e.g. by a full disk or a power loss): judge by age.
    const info = await stat(lockPath).catch(() => undefined);
    if (!info) return true;
    stale = Date.now() - info.mtimeMs > ttlMs;
  }
  if (!stale) return false;

  // Unlinking directly could delete a fresh lock that another process took after we read the
  // stale one. Instead move the file aside, check it is still the one we judged, and put it back
  // if it is not.
  const grave = `${lockPath}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(lockPath, grave);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return true;
    throw error;
  }
  const moved = await readFile(grave, 'utf8').catch(() => undefined);
  if (moved !== raw) await link(grave, lockPath).catch(() => undefined);
  await unlink(grave).catch(() => undefined);
  return true;
}

/** Deletes the lock only if it is still ours (it may have expired and been taken by another). */
async function releaseFileLock(lockPath: string, token: string): Promise<void> {
  try {
    const owner = parseOwner(await readFile(lockPath, 'utf8'));
    if (owner?.token === token) await unlink(lockPath);
  } catch {
    // Best effort: fn's outcome matters more, and an unreleased lock expires after ttlMs.
  }
}

function parseOwner(raw: string): LockOwner | undefined {
  try {
    const value: unknown = JSON.parse(raw);
    if (isObject(value) && typeof value.token === 'string' && typeof value.expiresAt === 'number' && typeof value.pid === 'number' && typeof value.host === 'string') {
      return value as unknown as LockOwner;
    }
  } catch {
    // fall through: treated as a lock still being written
  }
  return undefined;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: existence check only
    return true;
  } catch (error) {
    return errorCode(error) === 'EPERM'; // exists, owned by another user
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function errorCode(error: unknown): string | undefined {
  return isObject(error) && typeof error.code === 'string' ? error.code : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
