import { ServiceUnavailableException } from '@nestjs/common';
import type { RevocationSyncKind } from '../health/identity-status.js';
import type { RevocationRecord } from './revocation.js';

/**
 * What a sync tells the revocation service. Every call is synchronous and never throws; the
 * service applies it to the in-memory RevocationList (the request path never waits for a sync).
 */
export interface RevocationSyncTarget {
  /** The whole list, freshly loaded from the shared copy: it replaces what is in memory. */
  loaded(records: RevocationRecord[]): void;
  /** A revocation made elsewhere; publishedAt (epoch ms) when it was published, for the sync latency. */
  added(record: RevocationRecord, publishedAt?: number): void;
  /** A revocation withdrawn elsewhere. */
  removed(id: string): void;
  /** The sync is interrupted (why, in safe words): known revocations keep applying, new ones may be missed until the next loaded(). */
  interrupted(reason: string): void;
  /** Something not well-formed was ignored (why names the problem, never the content). */
  ignored(why: string): void;
  /** Something worth a log line (safe words). */
  notice(message: string): void;
  /** The revocations in memory now (to write back to a shared copy that lost them). */
  current(): RevocationRecord[];
}

/**
 * The port between the in-memory list and wherever revocations are shared: Redis (every replica,
 * redis-revocation-sync.ts), the credential store (one replica, store-revocation-sync.ts), or
 * nowhere (this process, memory-revocation-sync.ts).
 */
export interface RevocationSync {
  readonly kind: RevocationSyncKind;
  /** Loads the whole list into target, then keeps it in sync; resolves once the first load was delivered. */
  start(target: RevocationSyncTarget): Promise<void>;
  /** Stores a new revocation durably and tells the other replicas. Throws (nothing applies) when it cannot. */
  publish(record: RevocationRecord): Promise<void>;
  /** Deletes a revocation durably and tells the other replicas. */
  withdraw(id: string): Promise<void>;
  /** The in-memory list forgot these (expired): a store without its own expiry deletes them too. */
  expired?(ids: string[]): Promise<void>;
  close(): Promise<void>;
}

/** The shared copy cannot be written now: 503, and nothing was applied anywhere. */
export class RevocationSyncUnavailableError extends ServiceUnavailableException {
  constructor(reason: string) {
    super({
      statusCode: 503,
      error: 'temporarily_unavailable',
      message: `revocations cannot be shared right now (${reason}); nothing was changed and revocations already known keep applying: try again`,
    });
  }
}
