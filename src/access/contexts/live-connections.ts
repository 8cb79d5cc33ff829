import { InvalidTokenError } from '../../errors/invalid-token.error.js';
import type { Identity } from '../../identity/identity.js';
import { endedBecause, expiresAt, type RevocationCheck } from './identity-liveness.js';

/** Longest delay setTimeout takes (about 24.8 days); a later exp is re-armed when it fires. */
const MAX_TIMER_MS = 2_147_483_647;

/** One open connection whose identity is watched. */
export interface LiveConnection {
  readonly identity: Identity;
  /** Why the identity no longer holds (expired, revoked), checked now and without I/O; undefined while it holds. */
  check(): InvalidTokenError | undefined;
  /** A fresh token for the same caller: the timer moves to its exp. */
  renew(identity: Identity): void;
  /** Ends the connection for this reason (once), as the timer or a revocation would. */
  end(error: InvalidTokenError): void;
  /** Stops watching (the connection closed on its own). */
  stop(): void;
}

/**
 * The connections (sockets, subscription connections) that hold an identity, each ended at its
 * token's `exp` by a timer and at once when a revocation matches it. Everything in memory.
 */
export class LiveConnections {
  private readonly open = new Set<Watched>();
  private readonly unsubscribe?: () => void;

  constructor(private readonly revocations?: RevocationCheck) {
    this.unsubscribe = revocations?.onRevoked?.((matches) => {
      for (const connection of [...this.open]) if (matches(connection.identity)) connection.end(new InvalidTokenError('revoked'));
    });
  }

  /** Watches a connection; `onEnd` closes it (called once, with the reason). */
  track(identity: Identity, onEnd: (error: InvalidTokenError) => void): LiveConnection {
    const connection = new Watched(identity, onEnd, this.revocations, (c) => this.open.delete(c));
    this.open.add(connection);
    return connection;
  }

  get size(): number {
    return this.open.size;
  }

  /** Stops every timer and the revocation listener (the server is closing). */
  close(): void {
    this.unsubscribe?.();
    for (const connection of [...this.open]) connection.stop();
  }
}

class Watched implements LiveConnection {
  private timer?: NodeJS.Timeout;
  private done = false;

  constructor(
    public identity: Identity,
    private readonly onEnd: (error: InvalidTokenError) => void,
    private readonly revocations: RevocationCheck | undefined,
    private readonly forget: (connection: Watched) => void,
  ) {
    this.arm();
  }

  check(): InvalidTokenError | undefined {
    return endedBecause(this.identity, this.revocations);
  }

  renew(identity: Identity): void {
    if (this.done) return;
    this.identity = identity;
    this.arm();
  }

  end(error: InvalidTokenError): void {
    if (this.done) return;
    this.stop();
    this.onEnd(error);
  }

  stop(): void {
    this.done = true;
    clearTimeout(this.timer);
    this.forget(this);
  }

  private arm(): void {
    clearTimeout(this.timer);
    const delay = expiresAt(this.identity) - Date.now();
    this.timer = setTimeout(() => {
      const ended = this.check();
      if (ended) this.end(ended);
      else this.arm();
    }, Math.min(Math.max(delay, 0), MAX_TIMER_MS));
    this.timer.unref();
  }
}
