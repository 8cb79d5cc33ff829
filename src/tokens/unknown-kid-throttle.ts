/** The first interval after a refetch that found nothing; it doubles while kids keep missing. */
const FIRST_INTERVAL_MS = 1_000;
/** How many missing kids are remembered (the negative cache is bounded like everything on the request path). */
const MAX_REMEMBERED_MISSES = 1_024;

/**
 * When a token names a kid we do not hold, may the JWKS be fetched again now?
 *
 * - After a quiet spell the answer is yes, at once: a key the provider has just published (and
 *   signs with at once, as Keycloak does on rotation) is accepted on its first try, whenever the
 *   last scheduled or boot fetch happened.
 * - A refetch that does not find the kid it was made for starts a wait of 1 s, doubling with each
 *   further fruitless refetch up to `capMs` (the `jwksCooldown` option): a flood of made-up kids
 *   costs the provider 1 fetch in its first second and 4 in its first 10 s (at 0, 1, 3 and 7 s).
 * - A kid that was just looked for and missing is refused without a fetch until the cap passes.
 * - A refetch that finds its kid, or a quiet spell of twice the current wait, ends the backoff.
 * A cap of 0 turns throttling off (every unknown kid refetches; for tests).
 */
export class UnknownKidThrottle {
  private intervalMs = 0;
  private nextAllowedAt = 0;
  private lastFetchAt = 0;
  private readonly misses = new Map<string, number>();

  constructor(private readonly capMs: number) {}

  /** True when an unknown-kid refetch may start now. */
  allows(kid: string | undefined, now = Date.now()): boolean {
    if (this.capMs === 0) return true;
    if (this.intervalMs > 0 && now - this.lastFetchAt > 2 * this.intervalMs) this.intervalMs = 0;
    const missUntil = kid === undefined ? undefined : this.misses.get(kid);
    if (missUntil !== undefined) {
      if (now < missUntil) return false;
      this.misses.delete(kid!);
    }
    return now >= this.nextAllowedAt || this.intervalMs === 0;
  }

  /** An unknown-kid refetch starts: the next one waits unless this one finds its kid. */
  started(now = Date.now()): void {
    if (this.capMs === 0) return;
    this.intervalMs = this.intervalMs === 0 ? Math.min(FIRST_INTERVAL_MS, this.capMs) : Math.min(this.intervalMs * 2, this.capMs);
    this.lastFetchAt = now;
    this.nextAllowedAt = now + this.intervalMs;
  }

  /** The refetch found the kid: it was a real new key, not a flood. */
  found(): void {
    this.intervalMs = 0;
    this.nextAllowedAt = 0;
  }

  /** The refetch did not find this kid: refuse it without fetching for a while. */
  missed(kid: string | undefined, now = Date.now()): void {
    if (this.capMs === 0 || kid === undefined) return;
    if (this.misses.size >= MAX_REMEMBERED_MISSES) this.misses.delete(this.misses.keys().next().value!);
    this.misses.set(kid, now + this.capMs);
  }
}
