import type { CredentialStore } from '../client/credential-store.js';
import { parseRevocationRecord, RevocationFormatError, serializeRevocation, type RevocationRecord } from './revocation.js';
import type { RevocationSync, RevocationSyncTarget } from './revocation-sync.js';

/** Where revocations live in the credential store: `revocation:<id>`. */
export const STORE_REVOCATION_PREFIX = 'revocation:';

/**
 * Revocations kept in the credential store (the file store, or a store instance): they survive a
 * restart. No other process hears of a change: one replica only (Redis shares them, see
 * redis-revocation-sync.ts). Expired entries are deleted when loaded and when pruned.
 */
export class StoreRevocationSync implements RevocationSync {
  readonly kind = 'store' as const;

  constructor(private readonly store: CredentialStore) {}

  async start(target: RevocationSyncTarget): Promise<void> {
    const now = Date.now();
    const records: RevocationRecord[] = [];
    const expired: string[] = [];
    for (const key of await this.store.keys(STORE_REVOCATION_PREFIX)) {
      const text = await this.store.get(key);
      if (text === undefined) continue;
      let record: RevocationRecord;
      try {
        record = parseRevocationRecord(JSON.parse(text));
        if (key !== `${STORE_REVOCATION_PREFIX}${record.id}`) throw new RevocationFormatError('the stored revocation is under another id');
      } catch (error) {
        target.ignored(`a stored revocation is not well-formed: ${error instanceof RevocationFormatError ? error.message : 'not JSON'}`);
        continue;
      }
      if (record.expiresAt <= now) expired.push(record.id);
      else records.push(record);
    }
    target.loaded(records);
    await this.expired(expired);
  }

  async publish(record: RevocationRecord): Promise<void> {
    await this.store.set(`${STORE_REVOCATION_PREFIX}${record.id}`, JSON.stringify(serializeRevocation(record)));
  }

  async withdraw(id: string): Promise<void> {
    await this.store.delete(`${STORE_REVOCATION_PREFIX}${id}`);
  }

  async expired(ids: string[]): Promise<void> {
    for (const id of ids) await this.store.delete(`${STORE_REVOCATION_PREFIX}${id}`);
  }

  /** The store is the module's (closed with it). */
  async close(): Promise<void> {}
}
