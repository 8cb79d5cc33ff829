import { within } from '../deadline.js';
import type { RedisConnection } from '../redis/redis-connection.js';
import { DpopReplayStoreUnavailableError, type DpopReplayStore } from './dpop-replay-store.js';

export { DpopReplayStoreUnavailableError };

/**
 * The `jti`s of every replica on one Redis: `SET <prefix>dpop-jti:<key> 1 NX PX <ttl>`, one round
 * trip, atomic; the first replica to see a proof wins and every other one sees a replay. The
 * connection is the process's shared one (src/redis/). While it is down, or when Redis takes
 * longer than `timeoutMs`, proofs are refused (503) rather than accepted unchecked.
 */
export class RedisDpopReplayStore implements DpopReplayStore {
  constructor(
    private readonly connection: RedisConnection,
    private readonly keyPrefix: string,
    private readonly timeoutMs = 1000,
  ) {}

  async remember(key: string, ttlMs: number): Promise<boolean> {
    // A connection known to be down answers at once: commands would otherwise wait in ioredis's offline queue.
    if (this.connection.problem !== undefined) throw new DpopReplayStoreUnavailableError(this.connection.problem);
    const client = await this.connection.commands();
    try {
      const answer = await within(
        client.set(`${this.keyPrefix}dpop-jti:${key}`, '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'),
        this.timeoutMs,
        () => new DpopReplayStoreUnavailableError(`Redis did not answer within ${this.timeoutMs} ms`),
      );
      return answer === 'OK';
    } catch (error) {
      if (error instanceof DpopReplayStoreUnavailableError) throw error;
      throw new DpopReplayStoreUnavailableError('Redis refused the DPoP replay check');
    }
  }

  async close(): Promise<void> {
    await this.connection.release();
  }
}
