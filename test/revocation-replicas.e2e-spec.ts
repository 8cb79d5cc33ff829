import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { redisSkipReason } from './support/redis-server.js';
import { ReplicaRedis } from './support/replica-redis.js';

// Three API processes (test/support/replica-app.mjs, the compiled module) share one real
// redis-server. Every server binds 127.0.0.1; every wait is bounded.
const ROOT = resolve(import.meta.dirname, '..');
// A private build (inside node_modules, so the package's dependencies resolve): other suites may be rebuilding dist/.
const BUILD = join(ROOT, 'node_modules/.cache/nestjs-identity-e2e/revocation-replicas');
const APP = join(ROOT, 'test/support/replica-app.mjs');
const AUDIENCE = 'https://api.example.com';
const REVOKED = 'The access token was revoked';
const SYNC_BUDGET_MS = 1_000;
const ROUNDS = 20;
const JWT = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/;

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

interface Replica {
  name: string;
  base: string;
  child: ChildProcess;
  logs: () => string;
}

/** Polls check until it returns true, every intervalMs, for at most timeoutMs; the last error or false fails the test. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    await sleep(intervalMs);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last instanceof Error ? ` (${last.message})` : ''}`);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

describe.skipIf(redisSkipReason)('revocation across replica processes sharing one Redis', () => {
  let redis: ReplicaRedis;
  let idp: DevelopmentIdentityProvider;
  let admin: string;
  const replicas: Replica[] = [];
  const exited: Replica[] = [];
  const config = { build: BUILD, audience: AUDIENCE, encryptionKey: randomBytes(32).toString('base64'), keyPrefix: `replicas-${randomUUID().slice(0, 8)}:`, issuer: '', redisUrl: '' };

  async function startReplica(name: string): Promise<Replica> {
    const child = fork(APP, [], { cwd: BUILD, execArgv: [], env: { ...process.env, REPLICA_APP: JSON.stringify(config) }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    // Nest logs (stdout and stderr), read for the outage messages and checked for tokens.
    let stderr = '';
    for (const stream of [child.stdout!, child.stderr!]) stream.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const port = await new Promise<number>((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`replica ${name} did not start within 60 s:\n${stderr.slice(-2000)}`)), 60_000);
      child.on('message', (message: { type?: string; port?: number }) => {
        if (message?.type !== 'ready') return;
        clearTimeout(timer);
        done(message.port!);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        fail(new Error(`replica ${name} exited (${code}) before listening:\n${stderr.slice(-2000)}`));
      });
    });
    const replica = { name, base: `http://127.0.0.1:${port}`, child, logs: () => stderr };
    replicas.push(replica);
    return replica;
  }

  async function stopReplica(replica: Replica): Promise<void> {
    replicas.splice(replicas.indexOf(replica), 1);
    exited.push(replica);
    if (replica.child.exitCode !== null) return;
    const gone = new Promise<void>((done) => replica.child.once('exit', () => done()));
    replica.child.kill('SIGTERM');
    const timer = setTimeout(() => replica.child.kill('SIGKILL'), 8_000);
    await gone;
    clearTimeout(timer);
  }

  const me = (replica: Replica, token: string) => fetch(`${replica.base}/me`, { headers: { authorization: `Bearer ${token}` } });
  const health = async (replica: Replica) => ((await (await fetch(`${replica.base}/health`)).json()) as { details?: { identity?: Record<string, unknown> }; error?: { identity?: Record<string, unknown> } });
  const identityHealth = async (replica: Replica) => {
    const body = await health(replica);
    return (body.details?.identity ?? body.error?.identity)!;
  };
  const post = (replica: Replica, body: object) =>
    fetch(`${replica.base}/admin/identity/revocations`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  async function refused(replica: Replica, token: string): Promise<boolean> {
    const response = await me(replica, token);
    const body = (await response.json()) as { message?: string };
    if (response.status === 401 && body.message === REVOKED) return true;
    expect(response.status).toBe(200);
    return false;
  }

  /** A token of clientId; issuedSecondsAgo makes it older than a revocation made earlier in the test. */
  function serviceToken(clientId: string, issuedSecondsAgo = 0): Promise<string> {
    return idp.mintToken({
      claims: {
        sub: `sa:${clientId}`,
        client_id: clientId,
        scope: 'orders:read',
        jti: randomUUID(),
        iat: Math.floor(Date.now() / 1000) - issuedSecondsAgo,
        service_account: { clientId, client_id: clientId, name: clientId, scopes: ['orders:read'], audiences: [AUDIENCE] },
      },
    });
  }

  /** Revokes clientId on `on` and times, from just before the POST, when every one of `others` first refuses token. */
  async function revokeAndTime(on: Replica, others: Replica[], clientId: string, token: string): Promise<number[]> {
    const started = performance.now();
    const deadline = started + SYNC_BUDGET_MS + 2_000;
    const watchers = others.map(async (replica) => {
      while (performance.now() < deadline) {
        if (await refused(replica, token)) return performance.now() - started;
        await sleep(1);
      }
      return Number.POSITIVE_INFINITY;
    });
    const created = await post(on, { clientId });
    expect(created.status, await created.clone().text()).toBe(201);
    return Promise.all(watchers);
  }

  beforeAll(async () => {
    const build = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', BUILD], { cwd: ROOT, encoding: 'utf8' });
    expect(existsSync(join(BUILD, 'src/index.js')), `build failed:\n${build.stdout}${build.stderr}`).toBe(true);
    // Inside node_modules Node finds no package scope: say the build is ESM.
    await writeFile(join(BUILD, 'package.json'), '{"type":"module"}\n');
    redis = await ReplicaRedis.start();
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
    admin = await idp.serviceAccountToken({ scopes: ['identity:admin'] });
    config.issuer = idp.issuer;
    config.redisUrl = redis.url;
    await Promise.all(['a', 'b', 'c'].map((name) => startReplica(name)));
  }, 240_000);

  afterAll(async () => {
    await Promise.all([...replicas].map((replica) => stopReplica(replica)));
    // Nothing a replica logged holds a token.
    for (const replica of exited) expect(replica.logs(), `replica ${replica.name} logged a token`).not.toMatch(JWT);
    await idp?.stop();
    await redis?.stop();
    await rm(BUILD, { recursive: true, force: true });
  }, 60_000);

  it(`a revocation made on one replica is refused by the other two within ${SYNC_BUDGET_MS} ms (${ROUNDS} revocations)`, async () => {
    const latencies: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const [on, ...others] = [replicas[i % 3]!, replicas[(i + 1) % 3]!, replicas[(i + 2) % 3]!];
      const clientId = `sync-${i}`;
      const token = await serviceToken(clientId);
      // Cached on every replica first: the cache must drop it.
      for (const replica of replicas) expect(await refused(replica, token)).toBe(false);
      latencies.push(...(await revokeAndTime(on, others, clientId, token)));
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    // The replicas' own histogram (publish -> applied, from the time in each message).
    let count = 0;
    let sum = 0;
    for (const replica of replicas) {
      const text = await (await fetch(`${replica.base}/metrics`)).text();
      count += Number(/^identity_revocation_sync_seconds_count (\S+)$/m.exec(text)?.[1] ?? 0);
      sum += Number(/^identity_revocation_sync_seconds_sum (\S+)$/m.exec(text)?.[1] ?? 0);
    }
    console.log(
      `revocation sync over ${latencies.length} replica-revocations: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms ` +
        `(from just before the POST to the first 401 seen by polling); replicas' own publish->applied mean ${count ? ((sum / count) * 1000).toFixed(2) : '?'} ms over ${count} messages`,
    );
    expect(count).toBe(ROUNDS * 2);
    expect(sorted.at(-1)).toBeLessThanOrEqual(SYNC_BUDGET_MS);
  }, 120_000);

  it('a restarted replica loads the whole list before it serves: revoked tokens are refused from its first request', async () => {
    const token = await serviceToken('sync-0', 600); // revoked above (issued before that), never seen by the new process
    const old = replicas.find((replica) => replica.name === 'c')!;
    await stopReplica(old);
    const fresh = await startReplica('c2');
    expect(await refused(fresh, token)).toBe(true);
    expect(await identityHealth(fresh)).toMatchObject({ status: 'up', revocations: { sync: 'redis', state: 'synced', entries: ROUNDS } });
  }, 120_000);

  it('Redis down: degraded, known revocations still refused, new ones 503; Redis back (empty): resync, nothing forgotten, new revocations reach all', async () => {
    const revokedBefore = await serviceToken('outage-revoked');
    const cached = await serviceToken('outage-cached');
    const fine = await serviceToken('outage-fine');
    for (const replica of replicas) expect(await refused(replica, cached)).toBe(false);
    expect((await revokeAndTime(replicas[0]!, replicas.slice(1), 'outage-cached', cached)).every((ms) => ms <= SYNC_BUDGET_MS)).toBe(true);
    expect((await post(replicas[1]!, { clientId: 'outage-revoked' })).status).toBe(201);
    await until('every replica knows outage-revoked', async () => (await Promise.all(replicas.map((replica) => refused(replica, revokedBefore)))).every(Boolean), SYNC_BUDGET_MS);

    await redis.pause();
    for (const replica of replicas) {
      await until(
        `${replica.name} reports degraded`,
        async () => {
          const section = await identityHealth(replica);
          return section.status === 'degraded' && (section.revocations as { state: string }).state === 'degraded';
        },
        10_000,
      );
      const section = await identityHealth(replica);
      expect(section.revocations).toMatchObject({ sync: 'redis', state: 'degraded', error: expect.stringMatching(/Redis/) });
      // Known revocations keep applying, cached or not; other tokens pass.
      expect(await refused(replica, cached)).toBe(true);
      expect(await refused(replica, revokedBefore)).toBe(true);
      expect(await refused(replica, await serviceToken('sync-5', 600))).toBe(true);
      expect(await refused(replica, fine)).toBe(false);
    }
    const during = await post(replicas[2]!, { clientId: 'outage-during' });
    expect(during.status).toBe(503);
    expect(((await during.json()) as { message: string }).message).toMatch(/revocations cannot be shared right now .*nothing was changed/);

    await redis.resume();
    for (const replica of replicas) {
      await until(`${replica.name} resynchronised`, async () => (await identityHealth(replica)).status === 'up', 15_000);
      // The restarted Redis came back empty: what the replicas knew was written back, not forgotten.
      expect(await refused(replica, revokedBefore)).toBe(true);
      expect(await refused(replica, cached)).toBe(true);
      expect(await refused(replica, fine)).toBe(false);
    }
    const after = await serviceToken('after-restart');
    for (const replica of replicas) expect(await refused(replica, after)).toBe(false);
    const latencies = await revokeAndTime(replicas[2]!, replicas.slice(0, 2), 'after-restart', after);
    expect(latencies.every((ms) => ms <= SYNC_BUDGET_MS), `latencies ${latencies.join(', ')}`).toBe(true);
    // A replica started now gets the written-back list from Redis.
    const late = await startReplica('d');
    expect(await refused(late, revokedBefore)).toBe(true);
    expect(await refused(late, after)).toBe(true);

    const logs = replicas.map((replica) => replica.logs()).join('\n');
    expect(logs).toMatch(/Revocation sync interrupted \(/);
    expect(logs).toMatch(/Revocation sync restored/);
    expect(logs).toMatch(/Redis lost the revocation list/);
  }, 180_000);
});
