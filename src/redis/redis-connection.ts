import type { RedisCommandClient } from './redis-client.js';

/**
 * The part of an ioredis client this file uses, typed structurally so that the published
 * declarations do not require ioredis (an optional peer dependency).
 */
interface IoRedis {
  readonly status: string;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  on(event: 'ready' | 'close', listener: () => void): unknown;
  on(event: 'message', listener: (channel: string, text: string) => void): unknown;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  ping(): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(reconnect?: boolean): void;
}

type IoRedisConstructor = new (url: string, options?: { autoResubscribe?: boolean }) => IoRedis;

/** How often the subscriber connection is asked for a PING, and how long it may take to answer. */
const WATCHDOG_INTERVAL_MS = 5_000;
const WATCHDOG_TIMEOUT_MS = 3_000;
/** How long quit() may wait for Redis before the socket is simply closed. */
const QUIT_WAIT_MS = 1_000;

/** What one subscriber of a channel is told. Every call is synchronous and must not throw. */
export interface RedisChannelListener {
  /** A message on the channel, as received (untrusted: parse it). */
  message(text: string): void;
  /**
   * The subscription is confirmed: the first time, and again after every reconnection. Messages
   * published while it was down are lost, so this is where a listener resynchronises.
   */
  subscribed(): void;
  /** The subscriber connection is lost (why, in safe words: never the URL or a password). */
  down(reason: string): void;
}

export interface RedisSubscription {
  unsubscribe(): Promise<void>;
}

/** Why a connection failed, in words fit for health and logs: an error code, never the URL or its password. */
export function describeRedisProblem(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,31}$/.test(code)) return `Redis unreachable (${code})`;
  const message = error instanceof Error ? error.message : '';
  // Redis error replies start with an upper-case code: NOAUTH, WRONGPASS, LOADING, READONLY...
  const reply = /^([A-Z]{3,20})\b/.exec(message)?.[1];
  if (reply) return `Redis refused the connection (${reply})`;
  return 'Redis connection lost';
}

async function loadIoredis(): Promise<IoRedisConstructor> {
  try {
    // Lazy: ioredis is an optional peer dependency, needed only with a Redis store.
    return (await import('ioredis')).Redis as unknown as IoRedisConstructor;
  } catch (error) {
    throw new Error('a Redis store needs the optional peer dependency "ioredis": run `npm install ioredis`', { cause: error });
  }
}

/**
 * The connections of one process to one Redis URL: one client for commands (opened at once) and
 * one subscriber connection (opened on the first subscription), shared by every lease: the
 * credential store, the revocation sync (and later the DPoP replay cache), across every module
 * instance in the process. Closed when the last lease is released.
 */
class SharedRedis {
  leases = 0;
  commandState: 'connecting' | 'ready' | 'down' = 'connecting';
  commandProblem?: string;
  readonly commands: Promise<IoRedis>;
  private subscriberClient?: Promise<IoRedis>;
  private subscriberUp = false;
  /** Bumped on every (re)connection of the subscriber: an older resubscription stops when it changes. */
  private subscriberGeneration = 0;
  private readonly channels = new Map<string, Set<RedisChannelListener>>();
  private watchdog?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly forget: () => void,
  ) {
    this.commands = this.createCommandClient();
    // An early failure (ioredis missing) surfaces on first use, never as an unhandled rejection.
    this.commands.catch(() => undefined);
  }

  private async createCommandClient(): Promise<IoRedis> {
    const Redis = await loadIoredis();
    // Connects in the background; commands issued meanwhile wait in ioredis's offline queue.
    const client = new Redis(this.url);
    let lastProblem: string | undefined;
    // Without an error listener ioredis prints every connection error to the console.
    client.on('error', (error: unknown) => (lastProblem = describeRedisProblem(error)));
    client.on('ready', () => {
      this.commandState = 'ready';
      this.commandProblem = undefined;
    });
    client.on('close', () => {
      if (this.closed) return;
      this.commandState = 'down';
      this.commandProblem = lastProblem ?? 'Redis connection lost';
    });
    return client;
  }

  subscriber(): Promise<IoRedis> {
    if (this.closed) return Promise.reject(new Error('the Redis connection is closed'));
    this.subscriberClient ??= this.createSubscriber();
    return this.subscriberClient;
  }

  private async createSubscriber(): Promise<IoRedis> {
    const Redis = await loadIoredis();
    // Subscriptions are restored by resubscribe() on every 'ready', so that listeners hear when they are live again.
    const client = new Redis(this.url, { autoResubscribe: false });
    let lastProblem: string | undefined;
    client.on('error', (error: unknown) => (lastProblem = describeRedisProblem(error)));
    client.on('message', (channel: string, text: string) => {
      for (const listener of this.channels.get(channel) ?? []) listener.message(text);
    });
    client.on('ready', () => void this.resubscribe(client, ++this.subscriberGeneration));
    client.on('close', () => {
      if (this.closed) return;
      this.subscriberUp = false;
      this.subscriberGeneration++;
      const reason = lastProblem ?? 'Redis connection lost';
      for (const listeners of this.channels.values()) for (const listener of listeners) listener.down(reason);
    });
    this.watchdog = setInterval(() => void this.ping(client), WATCHDOG_INTERVAL_MS);
    this.watchdog.unref();
    return client;
  }

  /** Subscribes every channel (again), then tells the listeners. Bounded: channels added meanwhile get one more round each. */
  private async resubscribe(client: IoRedis, generation: number): Promise<void> {
    const done = new Set<string>();
    for (let round = 0; round < 8; round++) {
      const pending = [...this.channels.keys()].filter((channel) => !done.has(channel));
      if (pending.length === 0) break;
      try {
        await client.subscribe(...pending);
      } catch {
        // The connection dropped again (its next 'ready' retries), or Redis refused: start over.
        if (generation === this.subscriberGeneration && !this.closed) client.disconnect(true);
        return;
      }
      if (generation !== this.subscriberGeneration || this.closed) return;
      for (const channel of pending) done.add(channel);
    }
    this.subscriberUp = true;
    for (const channel of done) for (const listener of this.channels.get(channel) ?? []) listener.subscribed();
  }

  /**
   * A connection that stopped answering without closing (a network partition) looks alive to the
   * socket: a PING that gets no answer forces a reconnection, so listeners hear down() and resync.
   */
  private async ping(client: IoRedis): Promise<void> {
    if (this.closed || !this.subscriberUp || client.status !== 'ready') return;
    let timer: NodeJS.Timeout | undefined;
    const answered = await Promise.race([
      client.ping().then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), WATCHDOG_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    if (!answered && !this.closed) client.disconnect(true);
  }

  async listen(channel: string, listener: RedisChannelListener): Promise<void> {
    let listeners = this.channels.get(channel);
    const isNew = listeners === undefined;
    if (listeners === undefined) this.channels.set(channel, (listeners = new Set()));
    listeners.add(listener);
    const client = await this.subscriber();
    // Not up yet: the 'ready' handler subscribes every channel and calls subscribed().
    if (!this.subscriberUp) return;
    if (isNew) {
      try {
        await client.subscribe(channel);
      } catch {
        if (!this.closed) client.disconnect(true);
        return;
      }
    }
    if (this.subscriberUp && listeners.has(listener)) listener.subscribed();
  }

  async unlisten(channel: string, listener: RedisChannelListener): Promise<void> {
    const listeners = this.channels.get(channel);
    if (!listeners?.delete(listener) || listeners.size > 0) return;
    this.channels.delete(channel);
    if (this.subscriberUp && this.subscriberClient) await (await this.subscriberClient).unsubscribe(channel).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.forget();
    clearInterval(this.watchdog);
    const clients = await Promise.all([this.commands, this.subscriberClient].map((client) => client?.catch(() => undefined)));
    await Promise.all(clients.map((client) => client && quit(client)));
  }
}

async function quit(client: IoRedis): Promise<void> {
  if (client.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([client.quit().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, QUIT_WAIT_MS)))]);
    clearTimeout(timer);
  }
  client.disconnect();
}

const shared = new Map<string, SharedRedis>();

/**
 * A lease on the process's connections to one Redis URL. Everything in this package that talks
 * to Redis holds one: `openRedisConnection(url)` to take it, `release()` when done (the last
 * release closes the connections). The URL (it may hold a password) is never logged or shown.
 */
export class RedisConnection {
  #released = false;
  readonly #listening = new Set<{ channel: string; listener: RedisChannelListener }>();

  constructor(private readonly target: SharedRedis) {}

  /** The command client. It connects in the background: commands issued meanwhile wait for it. */
  commands(): Promise<RedisCommandClient> {
    if (this.#released) return Promise.reject(new Error('this Redis connection was released'));
    return this.target.commands as unknown as Promise<RedisCommandClient>;
  }

  /** Whether the command connection is up right now (no I/O). */
  get ready(): boolean {
    return !this.#released && this.target.commandState === 'ready';
  }

  /** Why the command connection is down, in safe words; undefined while it is up or still connecting. */
  get problem(): string | undefined {
    return this.target.commandState === 'down' ? this.target.commandProblem : undefined;
  }

  /**
   * Listens on a channel through the process's one subscriber connection. Resolves once the
   * subscription is requested; the listener's subscribed() says when it is live.
   */
  async subscribe(channel: string, listener: RedisChannelListener): Promise<RedisSubscription> {
    if (this.#released) throw new Error('this Redis connection was released');
    const entry = { channel, listener };
    this.#listening.add(entry);
    await this.target.listen(channel, listener);
    return {
      unsubscribe: async () => {
        if (!this.#listening.delete(entry)) return;
        await this.target.unlisten(channel, listener);
      },
    };
  }

  /** Another lease on the same connections, for a component with a lifetime of its own (release it separately). */
  share(): RedisConnection {
    if (this.#released) throw new Error('this Redis connection was released');
    this.target.leases++;
    return new RedisConnection(this.target);
  }

  /** Ends this lease (and its subscriptions); the connections close with the last lease. Idempotent. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    for (const { channel, listener } of this.#listening) await this.target.unlisten(channel, listener);
    this.#listening.clear();
    if (--this.target.leases === 0) await this.target.close();
  }
}

/** Takes a lease on the connections to url, opening them when this process has none yet. */
export function openRedisConnection(url: string): RedisConnection {
  let target = shared.get(url);
  if (target === undefined) {
    const created = new SharedRedis(url, () => {
      if (shared.get(url) === created) shared.delete(url);
    });
    shared.set(url, (target = created));
  }
  target.leases++;
  return new RedisConnection(target);
}
