import type { Identity } from '../identity/identity.js';
import type { RevocationKind, RevocationRecord } from './revocation.js';

/** The moment (epoch ms) a token says it was issued; without a usable `iat` it cannot show it is newer than any revocation. */
function issuedAt(identity: Identity): number {
  const iat = identity.claims.iat;
  return typeof iat === 'number' && Number.isFinite(iat) ? iat * 1000 : Number.NEGATIVE_INFINITY;
}

/**
 * The revocations in force, in memory. isRevoked() is what every request asks, cache hits
 * included: no I/O, no allocation, at most a handful of Map lookups (one per client id the token
 * names, its `sub`, its `jti`), and one size check while the list is empty.
 *
 * For each client id, subject and jti the list keeps the latest `before` among its revocations:
 * a token matches when its `iat` (in ms) is earlier than that.
 */
export class RevocationList {
  private readonly records = new Map<string, RevocationRecord>();
  /** Value → the latest `before` (epoch ms) of the revocations naming it. */
  private readonly byClient = new Map<string, number>();
  private readonly bySubject = new Map<string, number>();
  private readonly byJti = new Map<string, number>();

  get size(): number {
    return this.records.size;
  }

  has(id: string): boolean {
    return this.records.has(id);
  }

  get(id: string): RevocationRecord | undefined {
    return this.records.get(id);
  }

  all(): RevocationRecord[] {
    return [...this.records.values()];
  }

  /** Adds a revocation; false when one with its id is already there. */
  add(record: RevocationRecord): boolean {
    if (this.records.has(record.id)) return false;
    this.records.set(record.id, record);
    const index = this.indexOf(record.kind);
    const latest = index.get(record.value);
    if (latest === undefined || record.before > latest) index.set(record.value, record.before);
    return true;
  }

  /** Removes a revocation; the record, or undefined when there was none. */
  remove(id: string): RevocationRecord | undefined {
    const record = this.records.get(id);
    if (record === undefined) return undefined;
    this.records.delete(id);
    this.reindex(record.kind, record.value);
    return record;
  }

  /** Replaces the whole list (a full load from Redis or the store). */
  replace(records: Iterable<RevocationRecord>): void {
    this.records.clear();
    this.byClient.clear();
    this.bySubject.clear();
    this.byJti.clear();
    for (const record of records) this.add(record);
  }

  /** Forgets the revocations whose tokens have all expired; returns them. */
  prune(now = Date.now()): RevocationRecord[] {
    const expired: RevocationRecord[] = [];
    const kept: RevocationRecord[] = [];
    for (const record of this.records.values()) (record.expiresAt <= now ? expired : kept).push(record);
    // One rebuild rather than a reindex per removal: many entries expire together.
    if (expired.length > 0) this.replace(kept);
    return expired;
  }

  /** Whether a verified token is revoked. Synchronous, no I/O: called on every request. */
  isRevoked(identity: Identity): boolean {
    if (this.records.size === 0) return false;
    const claims = identity.claims;
    const issued = issuedAt(identity);
    if (this.byClient.size !== 0) {
      // Every client id the token names: the service account's, client_id, azp (they usually agree).
      const account = identity.serviceAccount?.clientId;
      if (account !== undefined && issued < (this.byClient.get(account) ?? Number.NEGATIVE_INFINITY)) return true;
      const clientId = claims.client_id;
      if (typeof clientId === 'string' && clientId !== account && issued < (this.byClient.get(clientId) ?? Number.NEGATIVE_INFINITY)) return true;
      const azp = claims.azp;
      if (typeof azp === 'string' && azp !== account && azp !== clientId && issued < (this.byClient.get(azp) ?? Number.NEGATIVE_INFINITY)) return true;
    }
    if (this.bySubject.size !== 0) {
      const sub = claims.sub;
      if (typeof sub === 'string' && issued < (this.bySubject.get(sub) ?? Number.NEGATIVE_INFINITY)) return true;
    }
    if (this.byJti.size !== 0) {
      const jti = claims.jti;
      if (typeof jti === 'string' && issued < (this.byJti.get(jti) ?? Number.NEGATIVE_INFINITY)) return true;
    }
    return false;
  }

  /** Whether one revocation matches a token (to drop the verified-token cache's entries when it arrives). */
  static matches(record: Pick<RevocationRecord, 'kind' | 'value' | 'before'>, identity: Identity): boolean {
    if (!(issuedAt(identity) < record.before)) return false;
    const claims = identity.claims;
    if (record.kind === 'subject') return claims.sub === record.value;
    if (record.kind === 'jti') return claims.jti === record.value;
    return identity.serviceAccount?.clientId === record.value || claims.client_id === record.value || claims.azp === record.value;
  }

  private indexOf(kind: RevocationKind): Map<string, number> {
    return kind === 'client' ? this.byClient : kind === 'subject' ? this.bySubject : this.byJti;
  }

  /** After a removal: the latest `before` among the value's remaining revocations, if any. */
  private reindex(kind: RevocationKind, value: string): void {
    let latest: number | undefined;
    for (const record of this.records.values()) {
      if (record.kind === kind && record.value === value && (latest === undefined || record.before > latest)) latest = record.before;
    }
    const index = this.indexOf(kind);
    if (latest === undefined) index.delete(value);
    else index.set(value, latest);
  }
}
