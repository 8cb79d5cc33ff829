import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { DPOP_AUDIENCE as AUDIENCE, startDpopApp, type ListeningDpopApp } from './support/dpop-app.js';
import { dpopClient, dpopToken, proof, type DpopClient } from './support/dpop-client.js';
import { PLATFORMS } from './support/platforms.js';
import { redisSkipReason } from './support/redis-server.js';
import { ReplicaRedis } from './support/replica-redis.js';

const REPLAY = 'The DPoP proof was already used';

/**
 * Two replicas of one API (two Nest apps in this process) behind one public URL, sharing a real
 * redis-server as their DPoP replay cache: a proof accepted by one is a replay on the other.
 */
describe.skipIf(redisSkipReason).each(PLATFORMS)('DPoP replay cache shared through Redis, on %s', (platform) => {
  let redis: ReplicaRedis;
  let idp: DevelopmentIdentityProvider;
  let a: ListeningDpopApp;
  let b: ListeningDpopApp;
  let c: DpopClient;
  let token: string;
  const publicUrl = 'https://api.example.com';
  const htu = `${publicUrl}/orders`;

  beforeAll(async () => {
    redis = await ReplicaRedis.start();
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
    const keyPrefix = `dpop-${randomUUID().slice(0, 8)}:`;
    const options = { url: idp.issuer, audience: AUDIENCE, dpop: { mode: 'allowed' as const, publicUrl, replayStore: { type: 'redis' as const, url: redis.url, keyPrefix } } };
    a = await startDpopApp(platform, options);
    b = await startDpopApp(platform, options);
    c = await dpopClient(idp);
    token = await dpopToken(c, { scopes: ['orders:read'] });
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await idp?.stop();
    await redis?.stop();
  });

  const send = (app: ListeningDpopApp, value: string) => fetch(`${app.url}/orders`, { headers: { authorization: `DPoP ${token}`, dpop: value } });

  it('refuses a replay to the same replica', async () => {
    const value = await proof(c, { htu, token });
    expect((await send(a, value)).status).toBe(200);
    const replay = await send(a, value);
    expect(replay.status).toBe(401);
    expect(replay.headers.get('www-authenticate')).toContain(`error_description="${REPLAY}"`);
  });

  it('refuses a replay to another replica on the same Redis', async () => {
    const value = await proof(c, { htu, token });
    expect((await send(a, value)).status).toBe(200);
    const replay = await send(b, value);
    expect(replay.status).toBe(401);
    expect(replay.headers.get('www-authenticate')).toContain(`error_description="${REPLAY}"`);
    // Fresh proofs pass on either.
    expect((await send(b, await proof(c, { htu, token }))).status).toBe(200);
    expect((await send(a, await proof(c, { htu, token }))).status).toBe(200);
  });

  it('refuses with 503, never accepts unchecked, while Redis is away; works again once it is back', async () => {
    await redis.pause();
    try {
      const deadline = Date.now() + 5_000;
      let response = await send(a, await proof(c, { htu, token }));
      while (response.status !== 503 && Date.now() < deadline) response = await send(a, await proof(c, { htu, token }));
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('5');
      expect(await response.json()).toMatchObject({ message: 'The DPoP replay check is unavailable; try again later' });
    } finally {
      await redis.resume();
    }
    const deadline = Date.now() + 10_000;
    let status = 0;
    while (status !== 200 && Date.now() < deadline) {
      status = (await send(a, await proof(c, { htu, token }))).status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(200);
  });
});
