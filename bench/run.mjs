// The nestjs-identity benchmark: `npm run bench` (full) or `npm run bench:smoke` (quick check).
//
//   node bench/run.mjs [--smoke] [--rounds N] [--duration S] [--warmup S] [--connections N]
//                      [--adapters express,fastify] [--cases none,noop,module-1,module-1-revocations,module-1000,classic-1000]
//                      [--memory-tokens N] [--no-memory] [--no-flood] [--profile adapter/case]
//                      [--app-core 1] [--client-core 0] [--out bench/results] [--ab other-dist]
//
// Starts the development Identity provider in this process, then one app process per case
// (bench/app.mjs, running the compiled dist/), pinned to --app-core while this process and
// autocannon are pinned to --client-core. Cases alternate in order over several rounds; each
// case's throughput is compared with the no-auth app on the same adapter in the same round.
// Every loop is bounded in count and time; everything listens on 127.0.0.1 only.
import { spawn, execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, relative, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { scratchDir } from './scratch.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const AUDIENCE = 'https://api.example.com';

// ------------------------------------------------------------------------------------ options

const { values: argv } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string', default: '10' },
    adapters: { type: 'string', default: 'express,fastify' },
    cases: { type: 'string', default: 'none,noop,module-1,module-1-revocations,module-dpop,module-1000,classic-1000' },
    'memory-tokens': { type: 'string' },
    'no-memory': { type: 'boolean', default: false },
    'baseline-token': { type: 'boolean', default: false },
    'memory-no-cache': { type: 'boolean', default: false },
    'no-flood': { type: 'boolean', default: false },
    'flood-seconds': { type: 'string' },
    'flood-cooldown': { type: 'string', default: '2' },
    profile: { type: 'string' },
    ab: { type: 'string' },
    'app-core': { type: 'string', default: '1' },
    'client-core': { type: 'string', default: '0' },
    out: { type: 'string', default: join(here, 'results') },
  },
});
const smoke = argv.smoke;
const opts = {
  rounds: clampInt(argv.rounds ?? (smoke ? 1 : 3), 1, 20),
  duration: clampInt(argv.duration ?? (smoke ? 3 : 6), 1, 120),
  warmup: clampInt(argv.warmup ?? (smoke ? 1 : 2), 0, 60),
  connections: clampInt(argv.connections, 1, 1000),
  adapters: argv.adapters.split(',').filter(Boolean),
  cases: argv.cases.split(',').filter(Boolean),
  memoryTokens: clampInt(argv['memory-tokens'] ?? (smoke ? 20_000 : 100_000), 1000, 1_000_000),
  floodSeconds: clampInt(argv['flood-seconds'] ?? (smoke ? 3 : 7), 1, 120),
  floodCooldown: clampInt(argv['flood-cooldown'], 1, 60),
  appCore: argv['app-core'],
  clientCore: argv['client-core'],
};

/**
 * The cases. `module-1000` turns the module's cache off (`tokenCache: false`): round-robin over
 * 1,000 tokens would otherwise become cache hits after the first pass.
 */
const CASES = {
  // --baseline-token: the no-auth and noop apps get the same Authorization header too (and ignore it),
  // so that receiving a 1 KB header is not counted as the cost of verifying it.
  none: { mode: 'none', tokens: argv['baseline-token'] ? 'one' : 'none', label: 'no auth' },
  noop: { mode: 'noop', tokens: argv['baseline-token'] ? 'one' : 'none', label: 'an APP_GUARD that returns true (the floor of any guard)' },
  'module-1': { mode: 'module', tokens: 'one', revocation: false, label: 'nestjs-identity, 1 token (cache hits), revocations off' },
  'module-1-revocations': { mode: 'module', tokens: 'one', revocations: 1000, label: 'nestjs-identity, 1 token (cache hits), revocations on (1,000 loaded)' },
  'module-dpop': { mode: 'module', tokens: 'dpop', dpop: true, label: 'nestjs-identity, 1 DPoP-bound token, a fresh ES256 proof per request' },
  'module-1000': { mode: 'module', tokens: 'many', tokenCache: false, label: 'nestjs-identity, 1,000 tokens, tokenCache: false (full verification)' },
  'module-1000-cached': { mode: 'module', tokens: 'many', label: 'nestjs-identity, 1,000 tokens, default cache (hits after 1st pass)' },
  'classic-1000': { mode: 'classic', tokens: 'many', label: 'classic passport-jwt + jwks-rsa, 1,000 tokens' },
  'classic-1': { mode: 'classic', tokens: 'one', label: 'classic passport-jwt + jwks-rsa, 1 token' },
};
// --ab <dist>: every nestjs-identity case also runs on another build (e.g. the previous commit's),
// in the same rounds, as "<case>@ab".
if (argv.ab) {
  const dist = resolvePath(argv.ab);
  if (!existsSync(join(dist, 'src/index.js'))) fail(`--ab ${argv.ab}: no src/index.js there`);
  for (const name of [...opts.cases]) {
    if (CASES[name]?.mode !== 'module') continue;
    CASES[`${name}@ab`] = { ...CASES[name], dist, label: `${CASES[name].label} [build ${argv.ab}]` };
    opts.cases.splice(opts.cases.indexOf(name) + 1, 0, `${name}@ab`);
  }
}
for (const name of opts.cases) if (!CASES[name]) fail(`unknown case ${name}; known: ${Object.keys(CASES).join(', ')}`);
for (const adapter of opts.adapters) if (adapter !== 'express' && adapter !== 'fastify') fail(`unknown adapter ${adapter}`);

function clampInt(value, min, max) {
  const n = Number.parseInt(String(value), 10);
  if (!Number.isFinite(n) || n < min || n > max) fail(`expected an integer in [${min}, ${max}], got ${value}`);
  return n;
}

function fail(message) {
  console.error(`bench: ${message}`);
  process.exit(2);
}

// ------------------------------------------------------------------------------------ helpers

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * How contended the machine is: Linux PSI "some avg10" for CPU (share of the last 10 s in which
 * some runnable task waited for a CPU), or NaN where /proc/pressure is missing.
 */
function cpuPressure() {
  try {
    const match = /some avg10=([\d.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    return match ? Number(match[1]) : NaN;
  } catch {
    return NaN;
  }
}

function pin(pid, core) {
  execFileSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
}

const appDir = scratchDir();
const liveApps = new Set();
function killLiveApps() {
  for (const child of liveApps) child.kill('SIGKILL');
}
process.on('exit', killLiveApps);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killLiveApps();
    process.exit(130);
  });
}

/** Starts bench/app.mjs pinned to the app core; resolves once it listens. */
async function startApp(adapter, caseConfig, { profileName } = {}) {
  const nodeArgs = [];
  if (profileName) {
    const dir = join(here, 'profiles');
    mkdirSync(dir, { recursive: true });
    nodeArgs.push('--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${profileName}.cpuprofile`);
  }
  const config = {
    adapter,
    mode: caseConfig.mode,
    issuer: idp.issuer,
    audience: AUDIENCE,
    tokenCache: caseConfig.tokenCache,
    jwksCooldown: caseConfig.jwksCooldown,
    revocation: caseConfig.revocation,
    revocations: caseConfig.revocations,
    dpop: caseConfig.dpop,
    dist: caseConfig.dist,
  };
  const child = spawn('taskset', ['-c', opts.appCore, process.execPath, ...nodeArgs, join(here, 'app.mjs')], {
    // Not the repository: an app without a store writes .identity/last-good.json in its working directory.
    cwd: appDir,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, NODE_ENV: 'production', BENCH_APP: JSON.stringify(config) },
  });
  liveApps.add(child);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  exited.then(() => liveApps.delete(child));
  let nextId = 0;
  const pending = new Map();
  child.on('message', (message) => {
    if (message?.type === 'stats' && pending.has(message.id)) {
      pending.get(message.id)(message);
      pending.delete(message.id);
    }
  });
  const ready = new Promise((resolve, reject) => {
    child.on('message', (message) => message?.type === 'ready' && resolve(message));
    exited.then((code) => reject(new Error(`app ${adapter}/${caseConfig.mode} exited with ${code} before listening`)));
  });
  const { port } = await withTimeout(ready, 30_000, `app ${adapter}/${caseConfig.mode} start`);
  return {
    port,
    url: `http://127.0.0.1:${port}/hello`,
    stats() {
      const id = ++nextId;
      const answer = new Promise((resolve) => pending.set(id, resolve));
      child.send({ type: 'stats', id });
      return withTimeout(answer, 5000, 'app stats');
    },
    async stop() {
      if (child.exitCode === null && child.connected) child.send({ type: 'exit' });
      try {
        await withTimeout(exited, 8000, 'app exit');
      } catch {
        child.kill('SIGKILL');
        await withTimeout(exited, 2000, 'app kill').catch(() => undefined);
      }
    },
  };
}

/** One request, to check the case answers what it should before it is measured (`token`: a Bearer token or a header set). */
async function probe(url, token) {
  const headers = typeof token === 'object' ? token : token ? { authorization: `Bearer ${token}` } : undefined;
  const response = await withTimeout(fetch(url, headers ? { headers } : {}), 10_000, 'probe');
  await response.arrayBuffer();
  return response.status;
}

/**
 * Runs autocannon against url for `seconds` (or `amount` requests) and collects latency in µs
 * (autocannon's own histogram has 1 ms resolution, too coarse here).
 */
async function load(url, { seconds, amount, tokens, dynamicTokens, headerSets }) {
  const requestOptions = { url, connections: opts.connections, pipelining: 1, timeout: 10 };
  if (amount) requestOptions.amount = amount;
  else requestOptions.duration = seconds;
  if (headerSets) {
    // Each header set (a DPoP proof is single-use) sent once, in order, whatever connection takes it.
    let next = 0;
    requestOptions.requests = [
      {
        method: 'GET',
        setupRequest(request) {
          request.headers = headerSets[next++ % headerSets.length];
          return request;
        },
      },
    ];
  } else if (dynamicTokens) {
    // Each token sent exactly once, in order, whatever connection takes it.
    let next = 0;
    requestOptions.requests = [
      {
        method: 'GET',
        setupRequest(request) {
          request.headers = { authorization: `Bearer ${dynamicTokens[next++ % dynamicTokens.length]}` };
          return request;
        },
      },
    ];
  } else if (tokens?.length === 1) {
    requestOptions.headers = { authorization: `Bearer ${tokens[0]}` };
  } else if (tokens?.length > 1) {
    // Prebuilt requests, one per token, that every connection walks round-robin.
    requestOptions.requests = tokens.map((token) => ({ method: 'GET', headers: { authorization: `Bearer ${token}` } }));
  }
  const buckets = new Uint32Array(100_001); // 1 µs buckets up to 100 ms, then overflow
  const clientCpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const instance = autocannon(requestOptions);
  instance.on('response', (_client, statusCode, _bytes, responseTimeMs) => {
    if (statusCode >= 200 && statusCode < 300) buckets[Math.min(100_000, Math.round(responseTimeMs * 1000))]++;
  });
  const result = await withTimeout(instance, ((seconds ?? 600) + 60) * 1000, 'autocannon');
  const wall = performance.now() - wall0;
  const clientCpu = process.cpuUsage(clientCpu0);
  const percentile = (p) => {
    const total = buckets.reduce((a, b) => a + b, 0);
    let seen = 0;
    for (let i = 0; i < buckets.length; i++) {
      seen += buckets[i];
      if (seen >= total * p) return i;
    }
    return NaN;
  };
  return {
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    seconds: wall / 1000,
    rps: result['2xx'] / (wall / 1000),
    p50: percentile(0.5),
    p99: percentile(0.99),
    clientBusy: (clientCpu.user + clientCpu.system) / 1000 / wall,
  };
}

// ------------------------------------------------------------------------------------ tokens

const b64 = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const decode = (segment) => JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));

/**
 * Signs many distinct tokens with the provider's own key, synchronously (node:crypto): the same
 * header and payload shape as idp.mintToken(), each with its own jti.
 */
function mintMany(template, count, privateKey, alg) {
  const [headerSegment, payloadSegment] = template.split('.');
  const payload = decode(payloadSegment);
  const out = new Array(count);
  for (let i = 0; i < count; i++) {
    const input = `${headerSegment}.${b64({ ...payload, jti: `bench-${i}` })}`;
    const signature = alg === 'ES256' ? sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }) : sign('sha256', Buffer.from(input), privateKey);
    out[i] = `${input}.${signature.toString('base64url')}`;
  }
  return out;
}

// ------------------------------------------------------------------------------------ main

pin(process.pid, opts.clientCore);
if (!existsSync(join(root, 'dist/src/index.js')) || !existsSync(join(root, 'dist/src/testing/index.js'))) {
  fail('dist/ is missing: run `npm run build` first (npm run bench does)');
}
const { DevelopmentIdentityProvider } = await import('../dist/src/testing/index.js');
const idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE, accessTokenTtl: 3600 });

const started = performance.now();
const log = (message) => console.error(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)}s] ${message}`);
log(`provider at ${idp.issuer}; app on core ${opts.appCore}, client on core ${opts.clientCore}; ${smoke ? 'SMOKE' : 'full'} run: ${opts.rounds} round(s) × ${opts.duration}s (+${opts.warmup}s warm-up), ${opts.connections} connections`);

const oneToken = await idp.mintToken({ expiresIn: 3600 });
const rsaKid = decode(oneToken.split('.')[0]).kid;
const manyTokens = mintMany(oneToken, 1000, idp.signingKeyMaterial(rsaKid).privateKey, 'RS256');
const tokensFor = (kind) => (kind === 'one' ? [oneToken] : kind === 'many' ? manyTokens : undefined);

// DPoP: one ES256 client key, one token bound to it (cnf.jkt), and single-use proofs made per measurement.
const dpopKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const dpopJwk = (({ kty, crv, x, y }) => ({ kty, crv, x, y }))(dpopKey.publicKey.export({ format: 'jwk' }));
const dpopJkt = createHash('sha256').update(JSON.stringify({ crv: dpopJwk.crv, kty: dpopJwk.kty, x: dpopJwk.x, y: dpopJwk.y })).digest('base64url');
const dpopToken = await idp.mintToken({ expiresIn: 3600, claims: { cnf: { jkt: dpopJkt } } });

/** `count` DPoP header sets for GET url, each with its own proof (fresh jti, iat now, ath of the token). */
function dpopHeaderSets(url, count) {
  const header = Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: dpopJwk })).toString('base64url');
  const ath = createHash('sha256').update(dpopToken).digest('base64url');
  const iat = Math.floor(Date.now() / 1000);
  const out = new Array(count);
  for (let i = 0; i < count; i++) {
    const payload = Buffer.from(JSON.stringify({ jti: randomUUID(), htm: 'GET', htu: url, iat, ath })).toString('base64url');
    const signature = sign('sha256', Buffer.from(`${header}.${payload}`), { key: dpopKey.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    out[i] = { authorization: `DPoP ${dpopToken}`, dpop: `${header}.${payload}.${signature}` };
  }
  return out;
}

const runs = [];
let exitCode = 0;

async function measure(adapter, caseName, round) {
  const caseConfig = CASES[caseName];
  const tokens = tokensFor(caseConfig.tokens);
  const dpop = caseConfig.tokens === 'dpop';
  const jwksBefore = idp.stats.jwks;
  const profileName = argv.profile === `${adapter}/${caseName}` && round === 0 ? `${adapter}-${caseName}-${Date.now()}` : undefined;
  const app = await startApp(adapter, caseConfig, { profileName });
  let run;
  try {
    // Enough single-use proofs for the whole load at well past the rate this machine reaches with a proof per request.
    const headerSets = dpop ? dpopHeaderSets(app.url, Math.min(120_000, (opts.warmup + opts.duration) * 8_000 + 1)) : undefined;
    const status = await probe(app.url, headerSets ? headerSets.pop() : tokens?.[0]);
    if (status !== 200) throw new Error(`${adapter}/${caseName}: a valid request answered ${status}`);
    if (caseConfig.mode !== 'none' && caseConfig.mode !== 'noop') {
      const anonymous = await probe(app.url);
      if (anonymous !== 401) throw new Error(`${adapter}/${caseName}: a request without a token answered ${anonymous}, expected 401`);
    }
    const warmSets = headerSets?.splice(0, opts.warmup * 8_000);
    if (opts.warmup > 0) await load(app.url, { seconds: opts.warmup, tokens, headerSets: warmSets });
    const before = await app.stats();
    const result = await load(app.url, { seconds: opts.duration, tokens, headerSets });
    const after = await app.stats();
    const cpuMicros = after.cpu.user + after.cpu.system - (before.cpu.user + before.cpu.system);
    const verifications = (after.verification?.count ?? 0) - (before.verification?.count ?? 0);
    const verifyMicros = verifications > 0 ? (((after.verification.sum - before.verification.sum) / verifications) * 1e6) : NaN;
    run = { adapter, caseName, round, ...result, verifications, verifyMicros, pressure: cpuPressure(), cpuPerRequest: cpuMicros / Math.max(1, result.ok + result.non2xx), appBusy: cpuMicros / 1000 / (result.seconds * 1000), rss: after.rss };
    if (result.non2xx || result.errors) {
      log(`WARNING ${adapter}/${caseName}: ${result.non2xx} non-2xx, ${result.errors} errors`);
      exitCode = 1;
    }
  } finally {
    await app.stop();
  }
  run.jwks = idp.stats.jwks - jwksBefore;
  runs.push(run);
  log(
    `round ${round + 1} ${adapter.padEnd(7)} ${caseName.padEnd(16)} ${run.rps.toFixed(0).padStart(6)} req/s  p50 ${run.p50} µs  p99 ${run.p99} µs  ${run.cpuPerRequest.toFixed(1)} µs CPU/req  app ${(run.appBusy * 100).toFixed(0)}% client ${(run.clientBusy * 100).toFixed(0)}%  RSS ${(run.rss / 2 ** 20).toFixed(0)} MB  JWKS ${run.jwks}${Number.isFinite(run.verifyMicros) ? `  ${run.verifications} full verifications, ${run.verifyMicros.toFixed(0)} µs each` : ''}  CPU pressure ${run.pressure}%`,
  );
}

try {
  for (let round = 0; round < opts.rounds; round++) {
    // Alternate the order every round so slow drift (thermal, neighbours) does not favour a case.
    const adapters = round % 2 ? [...opts.adapters].reverse() : opts.adapters;
    const cases = round % 2 ? [...opts.cases].reverse() : opts.cases;
    for (const adapter of adapters) for (const caseName of cases) await measure(adapter, caseName, round);
  }
  const memory = argv['no-memory'] ? [] : await memoryCheck();
  const flood = argv['no-flood'] ? [] : await floodCheck();
  report(memory, flood);
} finally {
  await idp.stop();
}
process.exit(exitCode);

// ------------------------------------------------------------------------------------ checks

/**
 * RSS after `memoryTokens` distinct valid tokens (each sent once, default cache) against RSS after
 * as many requests with one token. ES256 tokens: signing 100,000 RS256 tokens would take minutes.
 */
async function memoryCheck() {
  const es = await idp.mintToken({ alg: 'ES256', expiresIn: 3600 });
  const esKid = decode(es.split('.')[0]).kid;
  const t0 = performance.now();
  const distinct = mintMany(es, opts.memoryTokens, idp.signingKeyMaterial(esKid).privateKey, 'ES256');
  log(`minted ${opts.memoryTokens} ES256 tokens in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const results = [];
  for (const adapter of opts.adapters) {
    const rss = {};
    const heap = {};
    for (const [label, tokens] of [
      ['one', [es]],
      ['distinct', distinct],
    ]) {
      const app = await startApp(adapter, { mode: 'module', tokenCache: argv['memory-no-cache'] ? false : undefined });
      try {
        const result = await load(app.url, { amount: opts.memoryTokens, dynamicTokens: label === 'distinct' ? tokens : undefined, tokens });
        const stats = await app.stats();
        rss[label] = stats.rss;
        if (result.ok !== opts.memoryTokens) {
          log(`WARNING memory ${adapter}/${label}: ${result.ok}/${opts.memoryTokens} answered 2xx`);
          exitCode = 1;
        }
        const mb = (bytes) => (bytes / 2 ** 20).toFixed(1);
        const spaces = Object.entries(stats.spaces ?? {})
          .filter(([, space]) => space.size > 2 ** 20)
          .map(([name, space]) => `${name.replace(/_space$/, '')} ${mb(space.size)}`)
          .join(', ');
        heap[label] = { heapTotal: stats.heapTotal, heapUsed: stats.heapUsed, external: stats.external, spaces: stats.spaces };
        log(`memory ${adapter} ${label}: ${result.ok} × 2xx in ${result.seconds.toFixed(1)} s, RSS ${mb(stats.rss)} MB (V8 heap ${mb(stats.heapTotal)} MB: ${spaces}; used ${mb(stats.heapUsed)} MB; external ${mb(stats.external)} MB)`);
      } finally {
        await app.stop();
      }
    }
    results.push({
      adapter,
      tokens: opts.memoryTokens,
      rssOne: rss.one,
      rssDistinct: rss.distinct,
      deltaMB: (rss.distinct - rss.one) / 2 ** 20,
      heap,
    });
  }
  return results;
}

/**
 * A flood of unknown kids (1,000 distinct, round-robin) for floodSeconds with a short cooldown:
 * each cooldown may add at most one JWKS fetch. The app must still accept valid tokens after.
 */
async function floodCheck() {
  const [, payloadSegment, signatureSegment] = oneToken.split('.');
  const header = decode(oneToken.split('.')[0]);
  const unknownKids = Array.from({ length: 1000 }, (_, i) => `${b64({ ...header, kid: `flood-${i}` })}.${payloadSegment}.${signatureSegment}`);
  const results = [];
  for (const adapter of opts.adapters) {
    const before = idp.stats.jwks;
    const app = await startApp(adapter, { mode: 'module', jwksCooldown: opts.floodCooldown });
    let result;
    let after;
    try {
      const boot = idp.stats.jwks - before;
      // Let the boot fetch's cooldown run out, so the flood starts where a fetch is allowed.
      await sleep(opts.floodCooldown * 1000 + 100);
      const floodStart = idp.stats.jwks;
      result = await load(app.url, { seconds: opts.floodSeconds, tokens: unknownKids });
      const fetches = idp.stats.jwks - floodStart;
      const allowed = Math.floor(result.seconds / opts.floodCooldown) + 1;
      after = await probe(app.url, oneToken);
      const ok = fetches <= allowed && result.ok === 0 && after === 200;
      if (!ok) exitCode = 1;
      results.push({ adapter, boot, requests: result.non2xx, seconds: result.seconds, cooldown: opts.floodCooldown, fetches, allowed, validAfter: after, ok });
      log(`flood ${adapter}: ${result.non2xx} unknown-kid requests in ${result.seconds.toFixed(1)} s → ${fetches} JWKS fetches (allowed ≤ ${allowed}); valid token after: ${after}`);
    } finally {
      await app.stop();
    }
  }
  return results;
}

// ------------------------------------------------------------------------------------ report

function report(memory, flood) {
  const rows = [];
  const ratioOf = (adapter, caseName, baseCase, metric) => {
    const per = [];
    for (let round = 0; round < opts.rounds; round++) {
      const run = runs.find((r) => r.adapter === adapter && r.caseName === caseName && r.round === round);
      const base = runs.find((r) => r.adapter === adapter && r.caseName === baseCase && r.round === round);
      if (run && base) per.push(metric === 'cpu' ? base.cpuPerRequest / run.cpuPerRequest : run.rps / base.rps);
    }
    return median(per);
  };
  for (const adapter of opts.adapters) {
    for (const caseName of opts.cases) {
      const mine = runs.filter((r) => r.adapter === adapter && r.caseName === caseName);
      if (mine.length === 0) continue;
      rows.push({
        adapter,
        caseName,
        label: CASES[caseName].label,
        rps: median(mine.map((r) => r.rps)),
        p50: median(mine.map((r) => r.p50)),
        p99: median(mine.map((r) => r.p99)),
        cpu: median(mine.map((r) => r.cpuPerRequest)),
        rss: median(mine.map((r) => r.rss)) / 2 ** 20,
        jwks: Math.max(...mine.map((r) => r.jwks)),
        appBusy: median(mine.map((r) => r.appBusy)),
        clientBusy: median(mine.map((r) => r.clientBusy)),
        pressure: median(mine.map((r) => r.pressure)),
        verifyMicros: median(mine.map((r) => r.verifyMicros)),
        ratio: opts.cases.includes('none') ? ratioOf(adapter, caseName, 'none', 'rps') : NaN,
        cpuRatio: opts.cases.includes('none') ? ratioOf(adapter, caseName, 'none', 'cpu') : NaN,
      });
    }
  }
  const fmt = (v, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : '–');
  const lines = [];
  lines.push(
    `Node ${process.version}, ${opts.connections} connections, app on core ${opts.appCore}, autocannon on core ${opts.clientCore}; ${opts.rounds} round(s) × ${opts.duration} s (+${opts.warmup} s warm-up); medians over rounds; ratio = req/s ÷ no-auth req/s on the same adapter in the same round; CPU ratio = no-auth CPU/req ÷ case CPU/req; full verification µs = mean of the module's own identity_token_verification_duration_seconds over the run's misses (wall time inside the app); CPU pressure = Linux PSI "some avg10" after the run (0% = nothing else wanted the CPUs). Load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' ')}.`,
    '',
    '| adapter | case | req/s | p50 µs | p99 µs | app CPU µs/req | RSS MB | JWKS fetches | ratio to no auth | CPU ratio | full verification µs | app / client core busy | CPU pressure |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const r of rows) {
    lines.push(
      `| ${r.adapter} | ${r.label} | ${fmt(r.rps)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.cpu, 1)} | ${fmt(r.rss)} | ${r.jwks} | ${fmt(r.ratio, 2)} | ${fmt(r.cpuRatio, 2)} | ${fmt(r.verifyMicros)} | ${fmt(r.appBusy * 100)}% / ${fmt(r.clientBusy * 100)}% | ${fmt(r.pressure)}% |`,
    );
  }
  const checks = [];
  const row = (adapter, caseName) => rows.find((r) => r.adapter === adapter && r.caseName === caseName);
  const target = (name, value, min) => value !== undefined && Number.isFinite(value) && checks.push({ name, value, min, ok: value >= min });
  target('Fastify, 1 token: ratio ≥ 0.85', row('fastify', 'module-1')?.ratio, 0.85);
  target('Fastify, 1,000 tokens: ratio ≥ 0.40', row('fastify', 'module-1000')?.ratio, 0.4);
  target('Express, 1 token: ratio ≥ 0.95', row('express', 'module-1')?.ratio, 0.95);
  target('Express, 1,000 tokens: ratio ≥ 0.75', row('express', 'module-1000')?.ratio, 0.75);
  if (opts.cases.includes('module-1000') && opts.cases.includes('classic-1000')) {
    const per = [];
    for (let round = 0; round < opts.rounds; round++) {
      const mine = runs.find((r) => r.adapter === 'express' && r.caseName === 'module-1000' && r.round === round);
      const peer = runs.find((r) => r.adapter === 'express' && r.caseName === 'classic-1000' && r.round === round);
      if (mine && peer) per.push(mine.rps / peer.rps);
    }
    target('Express, 1,000 tokens: ≥ 2× the classic recipe', median(per), 2);
  }
  for (const r of rows) if (r.caseName !== 'none') checks.push({ name: `JWKS: one fetch per process (${r.adapter}, ${r.caseName})`, value: r.jwks, ok: r.jwks <= 1 });
  for (const f of flood) checks.push({ name: `Unknown-kid flood (${f.adapter}): ${f.fetches} fetches in ${f.seconds.toFixed(1)} s at cooldown ${f.cooldown} s, allowed ≤ ${f.allowed}`, value: f.fetches, ok: f.ok });
  for (const m of memory) checks.push({ name: `Memory (${m.adapter}): RSS after ${m.tokens} distinct tokens − one-token run ≤ 50 MB`, value: m.deltaMB, ok: m.deltaMB <= 50 });

  lines.push('', '| target | measured | met |', '|---|---:|:---:|');
  for (const c of checks) lines.push(`| ${c.name} | ${fmt(c.value, Number.isInteger(c.value) ? 0 : 2)} | ${c.ok ? 'yes' : 'NO'} |`);
  if (memory.length) {
    lines.push('', '| adapter | RSS, one token (MB) | RSS, distinct tokens (MB) | Δ MB | V8 heap used, one → distinct (MB) | V8 new space, one → distinct (MB) |', '|---|---:|---:|---:|---:|---:|');
    const mb = (bytes) => fmt((bytes ?? NaN) / 2 ** 20, 1);
    for (const m of memory) {
      const newSpace = (label) => m.heap[label]?.spaces?.new_space?.size;
      lines.push(`| ${m.adapter} | ${mb(m.rssOne)} | ${mb(m.rssDistinct)} | ${fmt(m.deltaMB, 1)} | ${mb(m.heap.one?.heapUsed)} → ${mb(m.heap.distinct?.heapUsed)} | ${mb(newSpace('one'))} → ${mb(newSpace('distinct'))} |`);
    }
  }
  const starved = rows.filter((r) => r.appBusy < 0.9);
  if (starved.length) {
    lines.push('', `Note: the app process had its core less than 90% of the time for ${starved.map((r) => `${r.adapter}/${r.caseName}`).join(', ')}: other work competed for it, so those req/s (and ratios) measure the machine, not the app. Rerun on a quiet machine.`);
  }
  const busyClient = rows.filter((r) => r.clientBusy > 0.9);
  if (busyClient.length) {
    lines.push('', `Note: the client core was ≥ 90% busy for ${busyClient.map((r) => `${r.adapter}/${r.caseName}`).join(', ')}: those req/s figures may be capped by autocannon, not by the app; the CPU ratio is the app-side measure.`);
  }
  const text = lines.join('\n');
  console.log(`\n${text}\n`);
  mkdirSync(argv.out, { recursive: true });
  const name = argv.ab ? 'ab' : smoke ? 'smoke' : 'latest';
  writeFileSync(join(argv.out, `${name}.md`), `${text}\n`);
  writeFileSync(join(argv.out, `${name}.json`), JSON.stringify({ date: new Date().toISOString(), node: process.version, opts, runs, rows, memory, flood, checks }, null, 2));
  log(`wrote ${relative(root, join(argv.out, `${name}.md`))} and .json`);
}
