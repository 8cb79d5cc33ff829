import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Identity, IdentityModule, InvalidTokenError, TokenAuthenticator } from '../src/index.js';
import type { RevocationRecord } from '../src/revocation/revocation.js';
import type { RevocationList } from '../src/revocation/revocation-list.js';
import { RevocationService } from '../src/revocation/revocation.service.js';
import type { VerifiedTokenCache } from '../src/tokens/verified-token-cache.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { createApp } from './support/platforms.js';

// What the authenticator promises around revocations: the cache drops a revoked token at once,
// a cache hit checks the list anyway (an entry cached while its revocation arrived), the guards'
// synchronous answer for accepted tokens is kept.
const AUDIENCE = 'https://api.example.com';
const requestWith = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe('TokenAuthenticator with revocations', () => {
  let idp: DevelopmentIdentityProvider;
  let app: INestApplication;
  let uncachedApp: INestApplication;
  let authenticator: TokenAuthenticator;
  let revocations: RevocationService;

  const cacheOf = (a: TokenAuthenticator) => (a as unknown as { cache: VerifiedTokenCache }).cache;
  const listOf = (r: RevocationService) => (r as unknown as { revocations: RevocationList }).revocations;
  const token = (clientId: string) =>
    idp.mintToken({ claims: { sub: `sa:${clientId}`, client_id: clientId, jti: randomUUID(), iat: Math.floor(Date.now() / 1000) - 30, service_account: { clientId, name: clientId, scopes: [], audiences: [AUDIENCE] } } });

  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
    app = await createApp('express', { imports: [IdentityModule.forRoot({ url: idp.issuer, audience: AUDIENCE, metrics: false, audit: false })] });
    authenticator = app.get(TokenAuthenticator);
    revocations = app.get(RevocationService);
    uncachedApp = await createApp('express', { imports: [IdentityModule.forRoot({ url: idp.issuer, audience: AUDIENCE, metrics: false, audit: false, tokenCache: false })] });
  });
  afterAll(async () => {
    await app?.close();
    await uncachedApp?.close();
    await idp?.stop();
  });

  it('a revocation drops the cached verification at once; the next request is refused', async () => {
    const jwt = await token('drop-me');
    expect(authenticator.identify(requestWith(jwt))).toBeInstanceOf(Identity);
    const before = cacheOf(authenticator).size;
    await revocations.revoke({ clientId: 'drop-me' }, 'test');
    expect(cacheOf(authenticator).size).toBe(before - 1);
    await expect(authenticator.identify(requestWith(jwt))).rejects.toMatchObject({ reason: 'revoked', description: 'The access token was revoked' });
  });

  it('a cache hit checks the list too: an entry cached while its revocation arrived is refused and dropped', async () => {
    const jwt = await token('raced');
    const cached = authenticator.identify(requestWith(jwt));
    expect(cached).toBeInstanceOf(Identity);
    expect(authenticator.identify(requestWith(jwt))).toBe(cached); // a hit, synchronous
    // The revocation lands in the list without the cache hearing of it (the race the hit check covers).
    const now = Date.now();
    const record: RevocationRecord = { id: randomUUID(), kind: 'jti', value: String((cached as Identity).claims.jti), before: now, createdAt: now, expiresAt: now + 60_000 };
    listOf(revocations).add(record);
    const size = cacheOf(authenticator).size;
    const refused = authenticator.identify(requestWith(jwt));
    expect(refused).toBeInstanceOf(Promise);
    await expect(refused).rejects.toBeInstanceOf(InvalidTokenError);
    expect(cacheOf(authenticator).size).toBe(size - 1);
    listOf(revocations).remove(record.id);
  });

  it('without a cache, a full verification is checked; accepted tokens stay synchronous with revocations loaded', async () => {
    const uncached = uncachedApp.get(TokenAuthenticator);
    const jwt = await token('uncached');
    expect(uncached.identify(requestWith(jwt))).toBeInstanceOf(Identity);
    await uncachedApp.get(RevocationService).revoke({ subject: 'sa:uncached' }, 'test');
    await expect(uncached.identify(requestWith(jwt))).rejects.toMatchObject({ reason: 'revoked' });
    await expect(uncached.verify(jwt)).rejects.toMatchObject({ reason: 'revoked' });
    for (let i = 0; i < 200; i++) await uncachedApp.get(RevocationService).revoke({ jti: `other-${i}` }, 'test');
    const fine = await token('fine');
    expect(uncached.identify(requestWith(fine))).toBeInstanceOf(Identity);
    expect(authenticator.identify(requestWith(fine))).toBeInstanceOf(Identity);
    expect(authenticator.identify(requestWith(fine))).toBeInstanceOf(Identity);
  });
});
