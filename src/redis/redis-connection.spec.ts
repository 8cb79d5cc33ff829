import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { redisSkipReason } from '../../test/support/redis-server.js';
import { ReplicaRedis } from '../../test/support/replica-redis.js';
import { describeRedisProblem, openRedisConnection, type RedisChannelListener } from './redis-connection.js';

function listener() {
  const heard = { messages: [] as string[], subscribed: 0, down: [] as string[] };
  const handlers: RedisChannelListener = {
    message: (text) => void heard.messages.push(text),
    subscribed: () => void heard.subscribed++,
    down: (reason) => void heard.down.push(reason),
  };
  return { heard, handlers };
}

async function clients(url: string): Promise<string[]> {
  const admin = new Redis(url);
  try {
    const list = String(await admin.client('LIST'));
    return list.split('\n').filter((line) => line.includes('addr=') && !line.includes('cmd=client'));
  } finally {
    await admin.quit();
  }
}

describe('describeRedisProblem', () => {
  it('names an error code or a Redis reply code, never the message around it', () => {
    expect(describeRedisProblem(Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:6379'), { code: 'ECONNREFUSED' }))).toBe('Redis unreachable (ECONNREFUSED)');
    expect(describeRedisProblem(new Error('WRONGPASS invalid username-password pair'))).toBe('Redis refused the connection (WRONGPASS)');
    expect(describeRedisProblem(new Error('redis://user:hunter2@host failed'))).toBe('Redis connection lost');
  });
});

describe.skipIf(redisSkipReason)('openRedisConnection', () => {
  let redis: ReplicaRedis;

  beforeAll(async () => {
    redis = await ReplicaRedis.start();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('shares one command and one subscriber connection per URL between leases; the last release closes them', async () => {
    const a = openRedisConnection(redis.url);
    const b = openRedisConnection(redis.url);
    const c = a.share();
    expect(await a.commands()).toBe(await b.commands());
    await (await a.commands()).ping();
    expect(a.ready).toBe(true);
    const one = listener();
    const two = listener();
    await a.subscribe('chan-1', one.handlers);
    await b.subscribe('chan-2', two.handlers);
    await vi.waitFor(() => expect([one.heard.subscribed, two.heard.subscribed]).toEqual([1, 1]), { timeout: 5_000 });
    expect(await clients(redis.url)).toHaveLength(2);

    const publisher = new Redis(redis.url);
    await publisher.publish('chan-1', 'hello');
    await publisher.publish('chan-2', 'world');
    await vi.waitFor(() => expect([one.heard.messages, two.heard.messages]).toEqual([['hello'], ['world']]), { timeout: 5_000 });

    await a.release();
    await a.release(); // idempotent
    await expect(a.commands()).rejects.toThrow(/released/);
    await publisher.publish('chan-1', 'after');
    await publisher.publish('chan-2', 'still');
    await vi.waitFor(() => expect(two.heard.messages).toEqual(['world', 'still']), { timeout: 5_000 });
    expect(one.heard.messages).toEqual(['hello']);
    await b.release();
    expect(await clients(redis.url)).toHaveLength(3); // c still holds them (+ publisher)
    await c.release();
    await vi.waitFor(async () => expect(await clients(redis.url)).toHaveLength(1), { timeout: 5_000 });
    await publisher.quit();
  });

  it('tells listeners when Redis goes away and when the subscription is live again', async () => {
    const lease = openRedisConnection(redis.url);
    const { heard, handlers } = listener();
    try {
      await lease.subscribe('chan-restart', handlers);
      await vi.waitFor(() => expect(heard.subscribed).toBe(1), { timeout: 5_000 });
      await redis.pause();
      await vi.waitFor(() => expect(heard.down.length).toBeGreaterThan(0), { timeout: 5_000 });
      expect(heard.down[0]).toMatch(/^Redis/);
      await vi.waitFor(() => expect(lease.ready).toBe(false), { timeout: 5_000 });
      expect(lease.problem).toMatch(/^Redis/);
      await redis.resume();
      await vi.waitFor(() => expect(heard.subscribed).toBe(2), { timeout: 10_000 });
      const publisher = new Redis(redis.url);
      await publisher.publish('chan-restart', 'back');
      await publisher.quit();
      await vi.waitFor(() => expect(heard.messages).toEqual(['back']), { timeout: 5_000 });
      await vi.waitFor(() => expect(lease.ready).toBe(true), { timeout: 5_000 });
    } finally {
      if (!redis.running) await redis.resume();
      await lease.release();
    }
  }, 30_000);

  it('a server that stops answering without closing (a partition) is noticed by the PING watchdog and reconnected', async () => {
    const lease = openRedisConnection(redis.url);
    const { heard, handlers } = listener();
    try {
      await lease.subscribe('chan-frozen', handlers);
      await vi.waitFor(() => expect(heard.subscribed).toBe(1), { timeout: 5_000 });
      redis.freeze(true);
      // PING every 5 s, 3 s to answer.
      await vi.waitFor(() => expect(heard.down.length).toBeGreaterThan(0), { timeout: 12_000, interval: 100 });
      redis.freeze(false);
      await vi.waitFor(() => expect(heard.subscribed).toBeGreaterThanOrEqual(2), { timeout: 15_000, interval: 100 });
    } finally {
      redis.freeze(false);
      await lease.release();
    }
  }, 40_000);
});
