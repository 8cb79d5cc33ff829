import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Identity } from '../identity/identity.js';

interface Entry {
  readonly identity: Identity;
  readonly kid?: string;
  /** Epoch ms after which the token would no longer verify (exp + clock tolerance). */
  readonly validUntil: number;
}

/**
 * Remembers tokens that passed full verification, keyed by a SHA-256 of the exact token bytes
 * (the token itself is never kept). Bounded by entries and bytes (LRU); an entry never outlives
 * the token's own exp plus the clock tolerance. Dropped when its key leaves the JWKS, when its
 * service account is rotated or deleted, and on metadata refresh.
 */
export class VerifiedTokenCache {
  private readonly lru: LRUCache<string, Entry>;

  constructor(limits: { maxEntries: number; maxBytes: number }) {
    this.lru = new LRUCache<string, Entry>({
      max: Math.max(1, limits.maxEntries),
      maxSize: Math.max(1, limits.maxBytes),
    });
  }

  static keyOf(token: string): string {
    return createHash('sha256').update(token).digest('base64url');
  }

  get(key: string, now = Date.now()): Identity | undefined {
    const entry = this.lru.get(key);
    if (!entry) return undefined;
    if (now > entry.validUntil) {
      this.lru.delete(key);
      return undefined;
    }
    return entry.identity;
  }

  /** tokenLength sizes the entry: the decoded claims and the Identity built from them grow with it. */
  set(key: string, identity: Identity, kid: string | undefined, validUntil: number, tokenLength: number): void {
    if (validUntil > Date.now()) this.lru.set(key, { identity, kid, validUntil }, { size: 512 + tokenLength * 3 });
  }

  dropKeys(kids: readonly string[]): void {
    const gone = new Set(kids);
    for (const [key, entry] of this.lru.entries()) if (entry.kid !== undefined && gone.has(entry.kid)) this.lru.delete(key);
  }

  dropClient(clientId: string): void {
    for (const [key, entry] of this.lru.entries()) {
      if (entry.identity.serviceAccount?.clientId === clientId) this.lru.delete(key);
    }
  }

  clear(): void {
    this.lru.clear();
  }

  get size(): number {
    return this.lru.size;
  }
}
