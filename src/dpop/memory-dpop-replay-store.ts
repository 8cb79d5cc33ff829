import type { DpopReplayStore } from './dpop-replay-store.js';

/**
 * The `jti`s of one process, each until it expires. Entries are kept in insertion order; since a
 * key lives at most 2 × iatWindow, the oldest expire first, so expired entries are dropped from the
 * front as new ones arrive: O(1) amortised, no timer. One replica only: replicas behind a load
 * balancer need the Redis store, or a proof replayed to another replica is accepted there.
 */
export class MemoryDpopReplayStore implements DpopReplayStore {
  private readonly seen = new Map<string, number>();

  constructor(private readonly clock: () => number = Date.now) {}

  remember(key: string, ttlMs: number): boolean {
    const now = this.clock();
    this.sweep(now);
    const until = this.seen.get(key);
    if (until !== undefined && until > now) return false;
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

  close(): void {
    this.seen.clear();
  }
}
