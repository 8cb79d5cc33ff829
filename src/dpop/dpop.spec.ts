import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../errors/invalid-request.error.js';
import { InvalidTokenError } from '../errors/invalid-token.error.js';
import { DpopNonces } from './dpop-nonces.js';
import { resolveDpopOptions } from './dpop-options.js';
import { htuForm } from './dpop-proof.js';
import { dpopSchemeToken, headerCount, requestUrl, usesDpopScheme } from './dpop-request.js';
import { MemoryDpopReplayStore } from './memory-dpop-replay-store.js';

const context = { allowInsecureHttp: false };

describe('resolveDpopOptions', () => {
  it('is off by default, with the default algorithms, window and memory replay cache', () => {
    expect(resolveDpopOptions(undefined, context)).toEqual({
      mode: 'off',
      algorithms: ['ES256', 'EdDSA', 'Ed25519', 'PS256', 'RS256'],
      iatWindowSeconds: 60,
      nonce: false,
      replayStore: { type: 'memory' },
      publicUrl: undefined,
      trustProxyHeaders: false,
    });
  });

  it('names the option and the fix for each mistake', () => {
    expect(() => resolveDpopOptions({ mode: 'on' as never }, context)).toThrow(/option "dpop.mode": must be 'off', 'allowed' or 'required'/);
    expect(() => resolveDpopOptions({ algorithms: ['HS256' as never] }, context)).toThrow(/option "dpop.algorithms": "HS256" is not accepted.*never none or HS/);
    expect(() => resolveDpopOptions({ algorithms: [] }, context)).toThrow(/option "dpop.algorithms": must list at least one/);
    expect(() => resolveDpopOptions({ iatWindow: 0 }, context)).toThrow(/option "dpop.iatWindow": must be a whole number of seconds from 1 to 3600/);
    expect(() => resolveDpopOptions({ nonce: { secret: 'short' } }, context)).toThrow(/option "dpop.nonce.secret": must be a string of at least 32/);
    expect(() => resolveDpopOptions({ replayStore: { type: 'redis' } }, context)).toThrow(/option "dpop.replayStore.url": must be a redis:\/\/ or rediss:\/\/ URL/);
    expect(() => resolveDpopOptions({ replayStore: 'disk' as never }, context)).toThrow(/option "dpop.replayStore"/);
    expect(() => resolveDpopOptions({ publicUrl: 'http://api.example.com' }, context)).toThrow(/option "dpop.publicUrl": must use https:\/\//);
    expect(() => resolveDpopOptions({ publicUrl: 'https://api.example.com/x?y' }, context)).toThrow(/must not contain a query or a fragment/);
  });

  it('takes the Redis store URL and prefix from store: { type: "redis" } and keeps publicUrl without a trailing slash', () => {
    const resolved = resolveDpopOptions({ mode: 'required', replayStore: { type: 'redis' }, publicUrl: 'HTTPS://API.example.com/prefix/', nonce: true }, { allowInsecureHttp: false, redisStoreUrl: 'redis://r:6379', redisKeyPrefix: 'app:' });
    expect(resolved).toMatchObject({ mode: 'required', replayStore: { type: 'redis', url: 'redis://r:6379', keyPrefix: 'app:' }, publicUrl: 'https://api.example.com/prefix', nonce: { rotationSeconds: 60 } });
    expect(Object.isFrozen(resolved)).toBe(true);
  });
});

describe('DpopNonces', () => {
  it('rotates with the clock and accepts the previous, current and next nonces only', () => {
    let now = 1_000_000;
    const nonces = new DpopNonces(Buffer.alloc(32, 1), 60_000, () => now);
    const first = nonces.current();
    expect(first).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(nonces.accepts(first)).toBe(true);
    now += 60_000;
    const second = nonces.current();
    expect(second).not.toBe(first);
    expect(nonces.accepts(first)).toBe(true);
    now += 120_000;
    expect(nonces.accepts(first)).toBe(false);
    expect(nonces.accepts('made-up')).toBe(false);
  });

  it('gives replicas that share a secret the same nonces, and others different ones', () => {
    const clock = () => 5_000_000;
    const a = new DpopNonces(DpopNonces.secretFrom('s'.repeat(32), undefined), 60_000, clock);
    const b = new DpopNonces(DpopNonces.secretFrom('s'.repeat(32), undefined), 60_000, clock);
    const c = new DpopNonces(DpopNonces.secretFrom(undefined, undefined), 60_000, clock);
    expect(b.accepts(a.current())).toBe(true);
    expect(c.accepts(a.current())).toBe(false);
    expect(DpopNonces.secretFrom(undefined, Buffer.alloc(32, 2)).equals(DpopNonces.secretFrom(undefined, Buffer.alloc(32, 2)))).toBe(true);
  });
});

describe('MemoryDpopReplayStore', () => {
  it('refuses a key until it expires, and drops expired keys as new ones arrive', () => {
    let now = 0;
    const store = new MemoryDpopReplayStore(() => now);
    expect(store.remember('a', 1000)).toBe(true);
    expect(store.remember('a', 1000)).toBe(false);
    now = 1001;
    expect(store.remember('b', 1000)).toBe(true);
    expect(store.size).toBe(1);
    expect(store.remember('a', 1000)).toBe(true);
  });
});

describe('the request URL (htu)', () => {
  const policy = { trustProxyHeaders: false };
  it('is rebuilt from Host and the connection, without query, for Express and Fastify requests', () => {
    expect(requestUrl({ method: 'GET', originalUrl: '/api/orders?x=1', url: '/orders', headers: { host: 'API.example.com:443' } }, policy)).toBe('http://api.example.com:443/api/orders');
    expect(requestUrl({ method: 'GET', url: '/orders?x', headers: { host: 'api.example.com' }, raw: { url: '/orders?x', socket: { encrypted: true } } }, policy)).toBe('https://api.example.com/orders');
    expect(requestUrl({ url: '/orders', headers: {} }, policy)).toBeUndefined();
    expect(requestUrl({ url: 'http://absolute/form', headers: { host: 'a' } }, policy)).toBeUndefined();
  });

  it('follows publicUrl, or trusted forwarded headers (first value), and refuses odd forwarded values', () => {
    expect(requestUrl({ url: '/orders', headers: { host: 'internal:3000' } }, { publicUrl: 'https://api.example.com/gw', trustProxyHeaders: true })).toBe('https://api.example.com/gw/orders');
    const forwarded = { 'x-forwarded-proto': 'https, http', 'x-forwarded-host': 'api.example.com', 'x-forwarded-prefix': '/gw/' };
    expect(requestUrl({ url: '/orders', headers: { host: 'internal:3000', ...forwarded } }, { trustProxyHeaders: true })).toBe('https://api.example.com/gw/orders');
    expect(requestUrl({ url: '/orders', headers: { host: 'internal:3000', ...forwarded } }, policy)).toBe('http://internal:3000/orders');
    expect(requestUrl({ url: '/orders', headers: { host: 'h', 'x-forwarded-proto': 'gopher' } }, { trustProxyHeaders: true })).toBeUndefined();
    expect(requestUrl({ url: '/orders', headers: { host: 'h', 'x-forwarded-host': 'a/b' } }, { trustProxyHeaders: true })).toBeUndefined();
  });

  it('compares htu in normal form: case of scheme and host, default port, no query or fragment', () => {
    expect(htuForm('HTTPS://API.Example.com:443/orders?a#b')).toBe('https://api.example.com/orders');
    expect(htuForm('ftp://x/y')).toBeUndefined();
    expect(htuForm('not a url')).toBeUndefined();
  });
});

describe('the DPoP authorization scheme', () => {
  const request = (authorization: string | undefined, extra: string[] = []) => ({
    headers: authorization === undefined ? {} : { authorization },
    rawHeaders: [...(authorization === undefined ? [] : ['Authorization', authorization]), ...extra],
  });

  it('reads `DPoP <token>` with the Bearer rules, and leaves other schemes alone', () => {
    expect(dpopSchemeToken(request('DPoP abc.def.ghi'), 100)).toBe('abc.def.ghi');
    expect(dpopSchemeToken(request('dpop   abc'), 100)).toBe('abc');
    expect(dpopSchemeToken(request('Bearer abc'), 100)).toBeUndefined();
    expect(dpopSchemeToken(request('DPoPabc'), 100)).toBeUndefined();
    expect(dpopSchemeToken(request(undefined), 100)).toBeUndefined();
    expect(() => dpopSchemeToken(request('DPoP'), 100)).toThrow(InvalidRequestError);
    expect(() => dpopSchemeToken(request('DPoP a"b'), 100)).toThrow(InvalidRequestError);
    expect(() => dpopSchemeToken(request('DPoP abc', ['authorization', 'DPoP x']), 100)).toThrow(/exactly one Authorization header/);
    expect(() => dpopSchemeToken(request(`DPoP ${'a'.repeat(101)}`), 100)).toThrow(InvalidTokenError);
    expect(usesDpopScheme({ headers: { authorization: 'DPoP\tx' } })).toBe(true);
    expect(usesDpopScheme({ headers: { authorization: 'Dpopx' } })).toBe(false);
  });

  it('counts header lines in rawHeaders (Express) or raw.rawHeaders (Fastify)', () => {
    expect(headerCount({ headers: {}, rawHeaders: ['DPoP', 'a', 'dpop', 'b'] }, 'dpop')).toBe(2);
    expect(headerCount({ headers: {}, raw: { rawHeaders: ['DPoP', 'a'] } }, 'dpop')).toBe(1);
    expect(headerCount({ headers: { dpop: ['a', 'b'] } }, 'dpop')).toBe(2);
    expect(headerCount({ headers: {} }, 'dpop')).toBe(0);
  });
});

describe('MemoryDpopReplayStore bounds', () => {
  it('refuses (unavailable, never a replay let through) once full of live proofs, and makes room as they expire', async () => {
    const { MemoryDpopReplayStore } = await import('./memory-dpop-replay-store.js');
    const { DpopReplayStoreUnavailableError } = await import('./redis-dpop-replay-store.js');
    let now = 0;
    const store = new MemoryDpopReplayStore(() => now, 3);
    expect([store.remember('a', 1000), store.remember('b', 1000), store.remember('c', 10_000)]).toEqual([true, true, true]);
    expect(() => store.remember('d', 1000)).toThrow(DpopReplayStoreUnavailableError);
    expect(store.remember('a', 1000)).toBe(false); // a replay is still a replay when full
    now = 2_000; // a and b expired; c still live, in front of nothing
    expect(store.remember('d', 1000)).toBe(true);
    expect(store.size).toBeLessThanOrEqual(3);
  });

  it('sweeps expired entries that sit behind a longer-lived one once full', async () => {
    const { MemoryDpopReplayStore } = await import('./memory-dpop-replay-store.js');
    let now = 0;
    const store = new MemoryDpopReplayStore(() => now, 3);
    store.remember('long', 60_000); // at the front, lives long
    store.remember('short-1', 100);
    store.remember('short-2', 100);
    now = 5_000; // the front-only sweep stops at "long"; the full sweep finds the two behind it
    expect(store.remember('new', 100)).toBe(true);
    expect(store.size).toBe(2);
  });
});
