import { DpopReplayStoreUnavailableError, type DpopReplayStore } from './dpop-replay-store.js';

/** Default bound: at 1,000 proofs a second kept for 2 × 60 s, 120,000 would be reached; beyond it proofs get 503, never unbounded memory. */
export const DEFAULT_MAX_REPLAY_ENTRIES = 100_000;
/** A full sweep (every entry, not only the front) at most this often once the store is full: O(n) work cannot be forced per request. */
const FULL_SWEEP_INTERVAL_MS = 1_000;

/**
 * The `jti`s of one process, each until it expires. Entries are kept in insertion order; since a
 * key lives at most 2 × iatWindow, the oldest expire first, so expired entries are dropped from the
 * front as new ones arrive: O(1) amortised, no timer. One replica only: replicas behind a load
 * balancer need the Redis store, or a proof replayed to another replica is accepted there.
 */
export class MemoryDpopReplayStore implements DpopReplayStore {
  private readonly seen = new Map<string, number>();
  private lastFullSweep = -Infinity;

  constructor(
    private readonly clock: () => number = Date.now,
    private readonly maxEntries = DEFAULT_MAX_REPLAY_ENTRIES,
  ) {}

  remember(key: string, ttlMs: number): boolean {
    const now = this.clock();
    this.sweep(now);
    const until = this.seen.get(key);
    if (until !== undefined && until > now) return false;
    if (until === undefined && this.seen.size >= this.maxEntries) {
      if (now - this.lastFullSweep >= FULL_SWEEP_INTERVAL_MS) this.sweepAll(now);
      // Still full: the proof cannot be remembered, so it cannot be accepted (503 with Retry-After, never a replay let through).
      if (this.seen.size >= this.maxEntries) throw new DpopReplayStoreUnavailableError(`the in-memory DPoP replay cache holds ${this.maxEntries} live proofs`);
    }
    // Re-inserted at the end, so the front stays the oldest expiry.
    this.seen.delete(key);
    this.seen.set(key, now + ttlMs);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  private sweep(now: number): void {
    let checked = 0;
    for (const [key, until] of this.seen) {
      // TTLs differ a little (they end at iat + window): stop at the first live one, or after a few.
      if (until > now || ++checked > 64) break;
      this.seen.delete(key);
    }
  }

  /** Every expired entry, wherever it sits (TTLs differ a little, so one may hide behind a longer-lived one). */
  private sweepAll(now: number): void {
    this.lastFullSweep = now;
    for (const [key, until] of this.seen) if (until <= now) this.seen.delete(key);
  }

  close(): void {
    this.seen.clear();
  }
}
