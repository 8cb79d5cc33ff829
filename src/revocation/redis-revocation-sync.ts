import { randomUUID } from 'node:crypto';
import { scanKeys } from '../redis/redis-client.js';
import { describeRedisProblem, type RedisConnection, type RedisSubscription } from '../redis/redis-connection.js';
import { parseRevocationRecord, RevocationFormatError, serializeRevocation, type RevocationRecord } from './revocation.js';
import { encodeRevocationMessage, parseRevocationMessage, type RevocationMessage } from './revocation-message.js';
import { RevocationSyncUnavailableError, type RevocationSync, type RevocationSyncTarget } from './revocation-sync.js';
import { within } from '../deadline.js';

export interface RedisRevocationSyncOptions {
  /** The store's key prefix: revocations live at `<keyPrefix>revocation:<id>`. */
  keyPrefix: string;
  /** The pub/sub channel. */
  channel: string;
  /** This replica's id in messages. */
  origin: string;
  /** Bound on one full load, and on one write. Default 10 s / 5 s. */
  loadTimeoutMs?: number;
  writeTimeoutMs?: number;
}

/** Stores the revocation with its TTL and publishes it in one step: no replica can see one without the other. */
const ADD_SCRIPT = `redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return redis.call('PUBLISH', ARGV[3], ARGV[4])`;
const REMOVE_SCRIPT = `local n = redis.call('DEL', KEYS[1]) redis.call('PUBLISH', ARGV[1], ARGV[2]) return n`;
/** The list's epoch: set once, kept forever. A new epoch means Redis lost the list (restarted without persistence, flushed). */
const EPOCH_SCRIPT = `redis.call('SET', KEYS[1], ARGV[1], 'NX') return redis.call('GET', KEYS[1])`;
const MGET_BATCH = 500;
const MAX_RETRY_MS = 30_000;

function problemOf(error: unknown): string {
  return error instanceof Error && error.message.includes('did not finish within') ? error.message : describeRedisProblem(error);
}

/**
 * Revocations shared by every replica through Redis. Each one is a key with a TTL (the longest
 * token lifetime plus the clock tolerance) and a message on a channel. Every replica subscribes,
 * then loads the whole list; after every reconnection of the subscriber it loads it again (what
 * was published meanwhile was missed). Messages that arrive during a load are applied at once
 * and again on top of the loaded list, so a load never undoes them.
 *
 * A Redis that lost the list (restarted without persistence, flushed) shows a new epoch key: the
 * replica then keeps what it knows and writes it back, rather than forgetting every revocation.
 */
export class RedisRevocationSync implements RevocationSync {
  readonly kind = 'redis' as const;
  private readonly recordPrefix: string;
  private readonly epochKey: string;
  /** The epoch of the last list loaded. */
  private epoch?: string;
  private readonly loadTimeoutMs: number;
  private readonly writeTimeoutMs: number;
  private target?: RevocationSyncTarget;
  private subscription?: RedisSubscription;
  /** Messages received while a load runs (applied on top of it). */
  private loading?: RevocationMessage[];
  private running = false;
  private again = false;
  private retries = 0;
  private retryTimer?: NodeJS.Timeout;
  private closed = false;
  private resolveFirstLoad!: () => void;
  private rejectFirstLoad!: (error: Error) => void;
  private readonly firstLoad = new Promise<void>((resolve, reject) => {
    this.resolveFirstLoad = resolve;
    this.rejectFirstLoad = reject;
  });

  constructor(
    private readonly connection: RedisConnection,
    private readonly options: RedisRevocationSyncOptions,
  ) {
    this.recordPrefix = `${options.keyPrefix}revocation:`;
    this.epochKey = `${options.keyPrefix}revocation-epoch`;
    this.loadTimeoutMs = options.loadTimeoutMs ?? 10_000;
    this.writeTimeoutMs = options.writeTimeoutMs ?? 5_000;
    this.firstLoad.catch(() => undefined);
  }

  async start(target: RevocationSyncTarget): Promise<void> {
    this.target = target;
    this.subscription = await this.connection.subscribe(this.options.channel, {
      message: (text) => this.onMessage(text),
      // Subscribed first, loaded second: whatever is published after the load began arrives as a message.
      subscribed: () => void this.resync(),
      down: (reason) => target.interrupted(reason),
    });
    await this.firstLoad;
  }

  async publish(record: RevocationRecord): Promise<void> {
    const message = encodeRevocationMessage({ type: 'revoked', revocation: record, publishedAt: Date.now(), origin: this.options.origin });
    const ttlMs = Math.max(1, record.expiresAt - Date.now());
    await this.write((client) => client.eval(ADD_SCRIPT, 1, this.recordPrefix + record.id, JSON.stringify(serializeRevocation(record)), String(ttlMs), this.options.channel, message));
  }

  async withdraw(id: string): Promise<void> {
    const message = encodeRevocationMessage({ type: 'removed', id, publishedAt: Date.now(), origin: this.options.origin });
    await this.write((client) => client.eval(REMOVE_SCRIPT, 1, this.recordPrefix + id, this.options.channel, message));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.rejectFirstLoad(new Error('the revocation sync was closed'));
    await this.subscription?.unsubscribe();
    await this.connection.release();
  }

  /** A write fails fast (503, nothing applied) while Redis is away, rather than waiting in ioredis's offline queue. */
  private async write(run: (client: Awaited<ReturnType<RedisConnection['commands']>>) => Promise<unknown>): Promise<void> {
    if (this.closed) throw new RevocationSyncUnavailableError('the module is shutting down');
    if (!this.connection.ready) throw new RevocationSyncUnavailableError(this.connection.problem ?? 'Redis is not connected yet');
    try {
      await within(
        this.connection.commands().then(run),
        this.writeTimeoutMs,
        'writing to Redis',
      );
    } catch (error) {
      throw new RevocationSyncUnavailableError(problemOf(error));
    }
  }

  private onMessage(text: string): void {
    let message: RevocationMessage;
    try {
      message = parseRevocationMessage(text);
    } catch (error) {
      // Never the content: a malformed message could hold anything, a token included.
      this.target?.ignored(`a message on the revocation channel is not well-formed: ${error instanceof RevocationFormatError ? error.message : 'unreadable'}`);
      return;
    }
    // Applied now, and again on top of a load running meanwhile (which may have missed the key).
    // Messages of this replica's own origin too: publish() applies its record only once the
    // write returns, and a write that timed out (503) may still land; applying a known id again
    // is a no-op (RevocationList.add).
    this.loading?.push(message);
    if (message.type === 'revoked') this.target?.added(message.revocation, message.publishedAt);
    else this.target?.removed(message.id);
  }

  /** Loads the whole list; a request while one runs makes it run once more afterwards. */
  private async resync(): Promise<void> {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    clearTimeout(this.retryTimer);
    try {
      do {
        this.again = false;
        await this.loadOnce();
      } while (this.again && !this.closed);
    } finally {
      this.running = false;
    }
  }

  private async loadOnce(): Promise<void> {
    const received: RevocationMessage[] = [];
    this.loading = received;
    try {
      const { epoch, records } = await within(this.readAll(), this.loadTimeoutMs, 'loading the revocation list from Redis');
      if (this.closed) return;
      const target = this.target!;
      const merged = new Map(records.map((record) => [record.id, record]));
      for (const message of received) {
        if (message.type === 'revoked') merged.set(message.revocation.id, message.revocation);
        else merged.delete(message.id);
      }
      let lost: RevocationRecord[] = [];
      if (this.epoch !== undefined && epoch !== this.epoch) {
        // Redis lost the list: what this replica knows stays in force, and is written back for the others.
        const now = Date.now();
        lost = target.current().filter((record) => record.expiresAt > now && !merged.has(record.id));
        for (const record of lost) merged.set(record.id, record);
      }
      target.loaded([...merged.values()]);
      this.retries = 0;
      this.resolveFirstLoad();
      if (lost.length > 0) {
        target.notice(`Redis lost the revocation list (a new epoch): writing back the ${lost.length} revocation(s) this replica knows`);
        for (const record of lost) await this.publish(record);
      }
      // Only once written back: a failed write-back is retried by the next load, which sees the new epoch again.
      this.epoch = epoch;
    } catch (error) {
      if (this.closed) return;
      this.target!.interrupted(`the revocation list could not be loaded from Redis (${problemOf(error)})`);
      // Retried with backoff; a reconnection (subscribed()) also starts a load at once.
      const delay = Math.min(MAX_RETRY_MS, 500 * 2 ** Math.min(this.retries++, 6));
      this.retryTimer = setTimeout(() => void this.resync(), delay);
      this.retryTimer.unref();
    } finally {
      if (this.loading === received) this.loading = undefined;
    }
  }

  private async readAll(): Promise<{ epoch: string; records: RevocationRecord[] }> {
    const client = await this.connection.commands();
    const epoch = String(await client.eval(EPOCH_SCRIPT, 1, this.epochKey, randomUUID()));
    const keys = await scanKeys(client, this.recordPrefix);
    const records: RevocationRecord[] = [];
    for (let i = 0; i < keys.length; i += MGET_BATCH) {
      const batch = keys.slice(i, i + MGET_BATCH);
      const values = await client.mget(...batch);
      values.forEach((text, j) => {
        if (text === null) return; // expired since the SCAN
        try {
          const record = parseRevocationRecord(JSON.parse(text));
          if (batch[j] !== this.recordPrefix + record.id) throw new RevocationFormatError('the stored revocation is under another id');
          records.push(record);
        } catch (error) {
          this.target?.ignored(`a revocation in Redis is not well-formed: ${error instanceof RevocationFormatError ? error.message : 'not JSON'}`);
        }
      });
    }
    return { epoch, records };
  }
}
