import type { CredentialStore } from '../client/credential-store.js';
import { RedisCredentialStore } from '../client/redis-credential-store.js';
import type { ResolvedIdentityOptions } from '../identity-options.js';
import { MemoryRevocationSync } from './memory-revocation-sync.js';
import { RedisRevocationSync } from './redis-revocation-sync.js';
import type { RevocationSync } from './revocation-sync.js';
import { StoreRevocationSync } from './store-revocation-sync.js';

/**
 * The sync the options call for: Redis when the credential store is a Redis store opened from a
 * URL (`store: { type: 'redis', url }`: every replica), the credential store otherwise (one
 * replica; survives a restart), this process alone without a store. `warn` hears of a Redis
 * store built from a client: it has no subscriber connection to share, so it syncs as a store.
 */
export function createRevocationSync(options: ResolvedIdentityOptions, store: CredentialStore | undefined, origin: string, warn: (message: string) => void): RevocationSync {
  if (store instanceof RedisCredentialStore) {
    if (store.connection) {
      const keyPrefix = store.keyPrefix;
      return new RedisRevocationSync(store.connection.share(), { keyPrefix, channel: options.revocation.channel ?? `${keyPrefix}revocations`, origin });
    }
    warn('The Redis credential store was given an ioredis client, not a URL: revocations are kept in Redis but not broadcast to other replicas; pass store: { type: "redis", url } to share them');
  }
  return store ? new StoreRevocationSync(store) : new MemoryRevocationSync();
}
