import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Identity, IdentityModule, InvalidRequestError, InvalidTokenError, TokenAuthenticator } from '../src/index.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { createApp } from './support/platforms.js';

// What the guards rely on: an accepted token that needs no JWKS fetch comes back as the Identity
// itself (no promise to await), refusals as rejected promises, header mistakes as a throw.
const AUDIENCE = 'https://api.example.com';
const requestWith = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe('TokenAuthenticator.identify', () => {
  let idp: DevelopmentIdentityProvider;
  let app: INestApplication;
  let uncached: TokenAuthenticator;
  let cachedApp: INestApplication;
  let cached: TokenAuthenticator;

  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
    app = await createApp('express', { imports: [IdentityModule.forRoot({ url: idp.issuer, audience: AUDIENCE, tokenCache: false, jwksCooldown: 0 })] });
    uncached = app.get(TokenAuthenticator);
    cachedApp = await createApp('express', { imports: [IdentityModule.forRoot({ url: idp.issuer, audience: AUDIENCE })] });
    cached = cachedApp.get(TokenAuthenticator);
  });

  afterAll(async () => {
    await app?.close();
    await cachedApp?.close();
    await idp?.stop();
  });

  it('answers a full verification with a known key synchronously, with the same Identity as the async API', async () => {
    const token = await idp.mintToken();
    const identity = uncached.identify(requestWith(token));
    expect(identity).toBeInstanceOf(Identity);
    const viaPromise = await uncached.authenticate(requestWith(token));
    expect(viaPromise).toEqual(identity);
    expect((identity as Identity).describe()).toMatch(/^service-account:dev-service-account/);
  });

  it('answers a cache hit synchronously too, and the first verification of a token as well', async () => {
    const token = await idp.mintToken();
    const first = cached.identify(requestWith(token));
    expect(first).toBeInstanceOf(Identity);
    const again = cached.identify(requestWith(token));
    expect(again).toBe(first);
  });

  it('refuses through a rejected promise, never a synchronous throw, with the reason', async () => {
    const expired = await idp.mintToken({ expiresIn: -60 });
    const outcome = uncached.identify(requestWith(expired));
    expect(outcome).toBeInstanceOf(Promise);
    await expect(outcome).rejects.toMatchObject({ reason: 'expired' });
    const forged = `${expired.split('.').slice(0, 2).join('.')}.${Buffer.alloc(256, 7).toString('base64url')}`;
    await expect(uncached.identify(requestWith(forged))).rejects.toBeInstanceOf(InvalidTokenError);
  });

  it('waits (a promise) only when the key must be fetched: a token signed by a freshly rotated key', async () => {
    await idp.rotateKeys();
    const token = await idp.serviceAccountToken();
    const outcome = uncached.identify(requestWith(token));
    expect(outcome).toBeInstanceOf(Promise);
    expect(await outcome).toBeInstanceOf(Identity);
    // Now the key is known: synchronous again.
    expect(uncached.identify(requestWith(await idp.serviceAccountToken()))).toBeInstanceOf(Identity);
  });

  it('holds raw tokens given to verify() to the same length limit as the header', async () => {
    const huge = `${'a'.repeat(9000)}.${'b'.repeat(9000)}.c`;
    await expect(uncached.verify(huge)).rejects.toMatchObject({ reason: 'too_large' });
    expect(await uncached.verify(await idp.mintToken())).toBeInstanceOf(Identity);
  });

  it('throws synchronously for a malformed Authorization header (400), before any verification', () => {
    expect(() => uncached.identify({ headers: { authorization: 'Bearer a b' } })).toThrow(InvalidRequestError);
  });
});
