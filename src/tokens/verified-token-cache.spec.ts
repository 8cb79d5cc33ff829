import { describe, expect, it } from 'vitest';
import { compileClaims } from '../identity/claims-presets.js';
import { Identity } from '../identity/identity.js';
import { VerifiedTokenCache } from './verified-token-cache.js';

const sa = (clientId: string) => Identity.fromClaims({ sub: `sa:${clientId}`, token_use: 'service', scope: 'a', client_id: clientId }, compileClaims('s3db'))!;

describe('VerifiedTokenCache', () => {
  it('keys by a hash, never the token', () => {
    const key = VerifiedTokenCache.keyOf('header.payload.signature');
    expect(key).not.toContain('payload');
    expect(key).toHaveLength(43);
  });

  it('returns an entry until the token would stop verifying, not after', () => {
    const cache = new VerifiedTokenCache({ maxEntries: 10, maxBytes: 1 << 20 });
    const now = Date.now();
    cache.set('k', sa('w'), 'kid1', now + 1000, 100);
    expect(cache.get('k', now)).toBeDefined();
    expect(cache.get('k', now + 1001)).toBeUndefined();
    cache.set('old', sa('w'), 'kid1', now - 1, 100);
    expect(cache.get('old', now)).toBeUndefined();
  });

  it('is bounded in entries and bytes (LRU)', () => {
    const byCount = new VerifiedTokenCache({ maxEntries: 3, maxBytes: 1 << 20 });
    for (let i = 0; i < 10; i++) byCount.set(`k${i}`, sa('w'), 'kid', Date.now() + 60_000, 100);
    expect(byCount.size).toBe(3);
    expect(byCount.get('k9')).toBeDefined();
    expect(byCount.get('k0')).toBeUndefined();
    const byBytes = new VerifiedTokenCache({ maxEntries: 1000, maxBytes: 10_000 });
    for (let i = 0; i < 100; i++) byBytes.set(`k${i}`, sa('w'), 'kid', Date.now() + 60_000, 1000);
    expect(byBytes.size).toBeLessThanOrEqual(3);
  });

  it('drops entries whose key left the JWKS, and a rotated service account', () => {
    const cache = new VerifiedTokenCache({ maxEntries: 10, maxBytes: 1 << 20 });
    const later = Date.now() + 60_000;
    cache.set('a', sa('one'), 'kid1', later, 10);
    cache.set('b', sa('two'), 'kid2', later, 10);
    cache.set('c', sa('three'), 'kid2', later, 10);
    cache.dropKeys(['kid1']);
    expect(cache.get('a')).toBeUndefined();
    cache.dropClient('two');
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('c')).toBeDefined();
    cache.clear();
    expect(cache.size).toBe(0);
  });

  it('drops the entries a predicate matches (a new revocation), in one pass', () => {
    const cache = new VerifiedTokenCache({ maxEntries: 10, maxBytes: 1 << 20 });
    const later = Date.now() + 60_000;
    cache.set('a', sa('one'), 'kid1', later, 10);
    cache.set('b', sa('two'), 'kid1', later, 10);
    cache.set('c', sa('one'), 'kid2', later, 10);
    expect(cache.dropWhere((identity) => identity.serviceAccount?.clientId === 'one')).toBe(2);
    expect([cache.get('a'), cache.get('c')]).toEqual([undefined, undefined]);
    expect(cache.get('b')).toBeDefined();
    expect(cache.dropWhere(() => false)).toBe(0);
    cache.delete('b');
    expect(cache.size).toBe(0);
  });
});
