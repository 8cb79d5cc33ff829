/**
 * Where the `jti` of every accepted DPoP proof is remembered for as long as a proof could still be
 * accepted (RFC 9449 §11.1). The memory store serves one replica; the Redis store
 * (`SET key 1 NX PX ttl`) every replica on one Redis. A custom store implements this port.
 */
export interface DpopReplayStore {
  /**
   * Records `key` for `ttlMs` milliseconds. Resolves true when the key was new (the proof may be
   * accepted), false when it was already there (a replay). Rejects when the store cannot answer:
   * the request is then refused with 503, never accepted unchecked.
   */
  remember(key: string, ttlMs: number): Promise<boolean> | boolean;
  /** Releases connections and timers (module shutdown). */
  close?(): Promise<void> | void;
}

/** A store that cannot answer (Redis away or slow, the memory store full): the proof is refused with 503, never accepted unchecked. */
export class DpopReplayStoreUnavailableError extends Error {
  readonly safeMessage = true as const;
  override readonly name = 'DpopReplayStoreUnavailableError';
}

export function isDpopReplayStore(value: unknown): value is DpopReplayStore {
  return typeof (value as Partial<DpopReplayStore> | undefined)?.remember === 'function';
}
