import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Identity } from '../identity/identity.js';

/** What one cached verification is taken to weigh: the decoded claims and the Identity grow with the token. */
function entrySize(tokenLength: number): number {
  return 512 + tokenLength * 3;
}

const DOORKEEPER_SLOTS = 1 << 16;
/** base64url character → its 6 bits. */
const SEXTET = new Uint8Array(128);
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].entries()) SEXTET[c.charCodeAt(0)] = i;
const sextet = (key: string, i: number): number => SEXTET[key.charCodeAt(i) & 0x7f]!;

/** 16 bits of the key (a base64url SHA-256) pick the doorkeeper slot... */
function doorkeeperSlot(key: string): number {
  return ((sextet(key, 0) << 12) | (sextet(key, 1) << 6) | sextet(key, 2)) & (DOORKEEPER_SLOTS - 1);
}

/** ...and 31 others, never 0 (an empty slot), are the fingerprint stored there. */
function doorkeeperPrint(key: string): number {
  return (((sextet(key, 3) << 25) | (sextet(key, 4) << 19) | (sextet(key, 5) << 13) | (sextet(key, 6) << 7) | (sextet(key, 7) << 1)) | 1) >>> 0;
}

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
 * service account is rotated or deleted, when a revocation matches it, and on metadata refresh.
 */
export class VerifiedTokenCache {
  private readonly lru: LRUCache<string, Entry>;
  /** Fingerprints of tokens verified while the cache was full (see offer()). 256 KiB, allocated once. */
  private readonly doorkeeper = new Uint32Array(DOORKEEPER_SLOTS);

  constructor(limits: { maxEntries: number; maxBytes: number }) {
    this.lru = new LRUCache<string, Entry>({
      max: Math.max(1, limits.maxEntries),
      maxSize: Math.max(1, limits.maxBytes),
    });
  }

  /** One-shot SHA-256 (crypto.hash): no Hash object, no stream machinery, on every request. */
  static keyOf(token: string): string {
    return hash('sha256', token, 'base64url');
  }

  get(key: string, now = Date.now()): Identity | undefined {
    const entry = this.lru.get(key);
    if (entry === undefined) return undefined;
    // checkAccessTokenClaims refuses once now >= exp + tolerance, i.e. from validUntil on.
    if (now >= entry.validUntil) {
      this.lru.delete(key);
      return undefined;
    }
    return entry.identity;
  }

  /** tokenLength sizes the entry: the decoded claims and the Identity built from them grow with it. */
  set(key: string, identity: Identity, kid: string | undefined, validUntil: number, tokenLength: number): void {
    if (validUntil > Date.now()) this.lru.set(key, { identity, kid, validUntil }, { size: entrySize(tokenLength) });
  }

  /**
   * set() with admission control once the cache is full. While there is room every verified token
   * is kept; when keeping one would evict another, a token gets in on its second verification
   * only (a "doorkeeper" of fingerprints remembers the first). So a stream of tokens that are each
   * seen once (100,000 distinct clients, or a flood of fresh valid tokens) cannot churn the cache:
   * every entry it evicted would be garbage that outlived the young generation, and V8 sizes its
   * old generation after such garbage (RSS grows far beyond the cache's own bound). The doorkeeper
   * is a fixed typed array: it allocates nothing per token and keeps no token or key.
   */
  offer(key: string, identity: Identity, kid: string | undefined, validUntil: number, tokenLength: number): void {
    if (validUntil <= Date.now()) return;
    const size = entrySize(tokenLength);
    const lru = this.lru;
    if (lru.size >= lru.max || lru.calculatedSize + size > lru.maxSize) {
      const slot = doorkeeperSlot(key);
      const print = doorkeeperPrint(key);
      if (this.doorkeeper[slot] !== print) {
        this.doorkeeper[slot] = print;
        return;
      }
      this.doorkeeper[slot] = 0;
    }
    lru.set(key, { identity, kid, validUntil }, { size });
  }

  /** Drops what the removed keys verified; entries with no recorded kid go too (their key may be one of them). */
  dropKeys(kids: readonly string[]): void {
    const gone = new Set(kids);
    for (const [key, entry] of this.lru.entries()) if (entry.kid === undefined || gone.has(entry.kid)) this.lru.delete(key);
  }

  dropClient(clientId: string): void {
    this.dropWhere((identity) => identity.serviceAccount?.clientId === clientId);
  }

  /** Drops every entry whose Identity matches (a new revocation); returns how many went. One pass over the cache. */
  dropWhere(matches: (identity: Identity) => boolean): number {
    const gone: string[] = [];
    for (const [key, entry] of this.lru.entries()) if (matches(entry.identity)) gone.push(key);
    for (const key of gone) this.lru.delete(key);
    return gone.length;
  }

  delete(key: string): void {
    this.lru.delete(key);
  }

  clear(): void {
    this.lru.clear();
  }

  get size(): number {
    return this.lru.size;
  }
}
