import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { compileClaims } from '../identity/claims-presets.js';
import { Identity } from '../identity/identity.js';
import type { RevocationKind, RevocationRecord } from './revocation.js';
import { RevocationList } from './revocation-list.js';

const s3db = compileClaims('s3db');
const T = Date.parse('2026-03-01T12:00:00Z');
const sec = (ms: number) => Math.floor(ms / 1000);

function service(clientId: string, claims: Record<string, unknown> = {}): Identity {
  return Identity.fromClaims({ sub: `sa:${clientId}`, token_use: 'service', client_id: clientId, service_account: { clientId }, iat: sec(T) - 60, jti: randomUUID(), ...claims }, s3db)!;
}

function user(sub: string, claims: Record<string, unknown> = {}): Identity {
  return Identity.fromClaims({ sub, token_use: 'user', client_id: 'web-app', iat: sec(T) - 60, jti: randomUUID(), ...claims }, s3db)!;
}

function record(kind: RevocationKind, value: string, before = T, extra: Partial<RevocationRecord> = {}): RevocationRecord {
  return { id: randomUUID(), kind, value, before, createdAt: T, expiresAt: T + 86_405_000, ...extra };
}

describe('RevocationList', () => {
  it('is empty and matches nothing to begin with', () => {
    const list = new RevocationList();
    expect(list.size).toBe(0);
    expect(list.isRevoked(service('a'))).toBe(false);
  });

  it('matches a client by the service account, client_id or azp; a subject by sub; a token by jti', () => {
    const list = new RevocationList();
    list.add(record('client', 'orders'));
    list.add(record('subject', 'alice'));
    list.add(record('jti', 'token-7'));
    expect(list.isRevoked(service('orders'))).toBe(true);
    expect(list.isRevoked(service('billing'))).toBe(false);
    // The s3db preset prefers service_account.clientId; a client_id claim naming the revoked client still matches.
    expect(list.isRevoked(service('billing', { client_id: 'orders' }))).toBe(true);
    expect(list.isRevoked(user('bob', { azp: 'orders' }))).toBe(true);
    expect(list.isRevoked(user('bob', { client_id: 'orders' }))).toBe(true);
    expect(list.isRevoked(user('alice'))).toBe(true);
    expect(list.isRevoked(user('bob'))).toBe(false);
    expect(list.isRevoked(service('billing', { jti: 'token-7' }))).toBe(true);
    expect(list.isRevoked(service('billing', { jti: 'token-8' }))).toBe(false);
    // A subject revocation does not match a client of the same name, nor the other way round.
    expect(list.isRevoked(user('orders-user', { sub: 'token-7' }))).toBe(false);
  });

  it('refuses only tokens issued before `before` (iat in ms, strictly earlier); a token without iat always matches', () => {
    const list = new RevocationList();
    list.add(record('client', 'orders', T + 500));
    expect(list.isRevoked(service('orders', { iat: sec(T) }))).toBe(true); // issued in the same second, maybe before
    expect(list.isRevoked(service('orders', { iat: sec(T) + 1 }))).toBe(false);
    expect(list.isRevoked(service('orders', { iat: undefined }))).toBe(true);
    expect(list.isRevoked(service('orders', { iat: 'yesterday' }))).toBe(true);
    const exact = new RevocationList();
    exact.add(record('subject', 'alice', T));
    expect(exact.isRevoked(user('alice', { iat: sec(T) }))).toBe(false); // iat 12:00:00 is not before 12:00:00.000
    expect(exact.isRevoked(user('alice', { iat: sec(T) - 1 }))).toBe(true);
  });

  it('keeps the latest `before` per value, and recomputes it when a revocation is removed', () => {
    const list = new RevocationList();
    const early = record('client', 'orders', T - 60_000);
    const late = record('client', 'orders', T);
    list.add(early);
    list.add(late);
    const between = service('orders', { iat: sec(T) - 30 });
    expect(list.isRevoked(between)).toBe(true);
    expect(list.remove(late.id)).toBe(late);
    expect(list.isRevoked(between)).toBe(false);
    expect(list.isRevoked(service('orders', { iat: sec(T) - 120 }))).toBe(true);
    list.remove(early.id);
    expect(list.isRevoked(service('orders', { iat: sec(T) - 120 }))).toBe(false);
    expect(list.remove(early.id)).toBeUndefined();
    expect(list.add(late)).toBe(true);
    expect(list.add(late)).toBe(false);
  });

  it('prunes expired revocations and replaces the whole list', () => {
    const list = new RevocationList();
    const gone = record('client', 'old', T, { expiresAt: T + 1000 });
    const kept = record('client', 'orders', T);
    list.add(gone);
    list.add(kept);
    expect(list.prune(T + 999)).toEqual([]);
    expect(list.prune(T + 1000)).toEqual([gone]);
    expect(list.isRevoked(service('old'))).toBe(false);
    expect(list.isRevoked(service('orders'))).toBe(true);
    list.replace([record('jti', 'x')]);
    expect(list.size).toBe(1);
    expect(list.isRevoked(service('orders'))).toBe(false);
    expect(list.isRevoked(service('any', { jti: 'x' }))).toBe(true);
  });

  it('matches() says whether one revocation matches a token (for the cache drop)', () => {
    const r = record('client', 'orders');
    expect(RevocationList.matches(r, service('orders'))).toBe(true);
    expect(RevocationList.matches(r, user('bob', { azp: 'orders' }))).toBe(true);
    expect(RevocationList.matches(r, service('orders', { iat: sec(T) + 5 }))).toBe(false);
    expect(RevocationList.matches(record('subject', 'alice'), user('alice'))).toBe(true);
    expect(RevocationList.matches(record('jti', 'j'), user('alice', { jti: 'j' }))).toBe(true);
    expect(RevocationList.matches(record('jti', 'j'), user('alice'))).toBe(false);
  });

  it('answers in well under a microsecond with 1,000 revocations of each kind', () => {
    const list = new RevocationList();
    for (let i = 0; i < 1000; i++) {
      list.add(record('client', `client-${i}`));
      list.add(record('subject', `user-${i}`));
      list.add(record('jti', `jti-${i}`));
    }
    const identity = service('not-revoked');
    let revoked = 0;
    const n = 200_000;
    let best = Number.POSITIVE_INFINITY;
    for (let trial = 0; trial < 5; trial++) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < n; i++) if (list.isRevoked(identity)) revoked++;
      best = Math.min(best, Number(process.hrtime.bigint() - started) / n);
    }
    expect(revoked).toBe(0);
    // A generous bound for a shared CI core; bench/micro.mjs measures it precisely.
    expect(best).toBeLessThan(1000);
  });
});
