// Hot-path guard for CI: `npm run build && node bench/hot-path-guard.mjs`. Exits 1 when
//   - a full verification (tokenCache: false, RS256-2048, key known) costs more than crypto.verify
//     alone on the same tokens + 25 µs (--full-budget), or
//   - a verified-token cache hit, with revocations off or on (1,000 loaded, none matching), costs
//     more than 5 µs (--hit-budget).
// Everything is measured in this one process on the compiled dist/ (like micro.mjs), without HTTP,
// through TokenAuthenticator.identify() with requests shaped as Node builds them. Each round times
// every case (best of a few short trials, cases in rotating order), and the verdict uses the medians
// over rounds of each figure and of the per-round difference "full − crypto.verify": a busy
// moment of a shared CI machine slows the cases of a round alike and moves a median little.
// Loops are bounded and the whole run takes well under 30 s (--time-limit stops adding rounds).
//
// Not covered: "the same with three issuers configured" (issue "Many providers at once, opaque
// tokens, and key rotation"). The module verifies tokens of one issuer; multi-issuer is not built
// yet. When it is, add a case here: the same full verification and cache hit with three issuers
// configured, against the same budgets.
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { parseArgs } from 'node:util';
import { useScratchDir } from './scratch.mjs';
import { revocationApps, tokenPathApps } from './token-path.mjs';

const started = performance.now();
// Apps built here keep their last good metadata under the working directory: not the repository.
useScratchDir();

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '21' },
    trials: { type: 'string', default: '7' },
    revocations: { type: 'string', default: '1000' },
    'full-budget': { type: 'string', default: '25' },
    'hit-budget': { type: 'string', default: '5' },
    'time-limit': { type: 'string', default: '20' },
    core: { type: 'string' },
  },
});
const bounded = (value, min, max, fallback) => Math.max(min, Math.min(max, Number.isFinite(Number(value)) ? Number(value) : fallback));
const ROUNDS = bounded(values.rounds, 3, 101, 21);
const TRIALS = bounded(values.trials, 1, 50, 7);
const REVOCATIONS = bounded(values.revocations, 0, 100_000, 1000);
const FULL_BUDGET_US = bounded(values['full-budget'], 0, 10_000, 25);
const HIT_BUDGET_US = bounded(values['hit-budget'], 0, 10_000, 5);
const TIME_LIMIT_MS = bounded(values['time-limit'], 1, 25, 20) * 1000;

// Not pinned by default: on a shared CI machine the scheduler moves this process to whichever core
// is free, where a pinned one would share its core with whatever else runs there. `--core N` pins
// it (taskset, best effort) as micro.mjs does, for a quiet machine.
const core = values.core;
if (core !== undefined) {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', core, String(process.pid)], { stdio: 'ignore' });
  } catch {}
}

const lib = await import('../dist/src/index.js');
const { RevocationService } = await import('../dist/src/revocation/revocation.service.js');
const { startProviderProcess } = await import('./provider-process.mjs');

const AUDIENCE = 'https://api.example.com';
// The provider runs in a child process: in this one its AsyncLocalStorage would slow every promise.
const idp = await startProviderProcess({ audience: AUDIENCE });
const tokens = await idp.tokens({ count: 1000, alg: 'RS256' });
const one = tokens[0];
const header = JSON.parse(Buffer.from(one.split('.')[0], 'base64url').toString());
const jwks = await (await fetch(`${idp.issuer}/.well-known/jwks.json`)).json();
const publicKey = createPublicKey({ key: jwks.keys.find((k) => k.kid === header.kid), format: 'jwk' });
if (header.alg !== 'RS256' || publicKey.asymmetricKeyDetails?.modulusLength !== 2048) throw new Error(`expected RS256-2048 tokens, got ${header.alg} with a ${publicKey.asymmetricKeyDetails?.modulusLength}-bit key`);
// What crypto.verify alone is given: the signing input and the signature, already decoded.
const signed = tokens.map((token) => {
  const dot = token.lastIndexOf('.');
  return { input: Buffer.from(token.slice(0, dot)), signature: Buffer.from(token.slice(dot + 1), 'base64url') };
});

// A GET as Node (and Express, Fastify) hands it over: URL, headers, raw headers, no body.
const requestFor = (token) => ({
  method: 'GET',
  url: '/hello',
  headers: { host: '127.0.0.1', authorization: `Bearer ${token}` },
  rawHeaders: ['Host', '127.0.0.1', 'Authorization', `Bearer ${token}`],
});

const paths = await tokenPathApps(lib, { issuer: idp.issuer, audience: AUDIENCE });
const revocation = await revocationApps(paths, RevocationService, REVOCATIONS);
const full = paths.uncached.authenticator;
const hitOff = revocation.off.authenticator;
const hitOn = revocation.on.authenticator;

// Every case must answer as expected before it is timed: a refusal, or a hit that went async, is a failure of its own.
const isIdentity = (value) => value instanceof lib.Identity;
for (const [name, authenticator] of [['full verification', full], ['cache hit', hitOff], ['cache hit, revocations on', hitOn]]) {
  const first = await authenticator.identify(requestFor(one));
  if (!isIdentity(first)) throw new Error(`${name}: the token was not accepted`);
}
for (const [name, authenticator] of [['cache hit', hitOff], ['cache hit, revocations on', hitOn]]) {
  if (!isIdentity(authenticator.identify(requestFor(one)))) throw new Error(`${name}: a cache hit did not answer synchronously`);
}
if (!isIdentity(full.identify(requestFor(tokens[1])))) throw new Error('full verification: a known key did not answer synchronously');

const requestsOfMany = tokens.map(requestFor);
const requestOfOne = requestFor(one);
let sink = 0;
// Short trials (about half a millisecond each, under a scheduler time slice), so that the best of
// a round's trials is most often one that no other process interrupted.
const CASES = [
  { key: 'verify', name: 'crypto.verify alone (RS256-2048)', calls: 20, run: (i) => (sink += cryptoVerify('sha256', signed[i % 1000].input, publicKey, signed[i % 1000].signature) ? 1 : 0) },
  { key: 'full', name: 'full verification (identify, tokenCache: false)', calls: 12, run: (i) => full.identify(requestsOfMany[i % 1000]) },
  { key: 'hit', name: 'cache hit (identify, revocations off)', calls: 400, run: () => hitOff.identify(requestOfOne) },
  { key: 'hitRevoked', name: `cache hit (identify, revocations on, ${REVOCATIONS} loaded)`, calls: 400, run: () => hitOn.identify(requestOfOne) },
];

/** µs per call over `calls` calls; a promise (never expected here) is awaited, so it is counted, not skipped. */
async function trial(testCase, offset) {
  const { calls, run } = testCase;
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) {
    const result = run(offset + i);
    if (result instanceof Promise) await result;
  }
  return ((performance.now() - t0) * 1000) / calls;
}

// Warm-up: let V8 optimise every case before anything counts.
for (const testCase of CASES) for (let t = 0; t < 40; t++) await trial(testCase, t * testCase.calls);

const perRound = Object.fromEntries(CASES.map((c) => [c.key, []]));
const differences = [];
let rounds = 0;
while (rounds < ROUNDS && (rounds < 3 || performance.now() - started < TIME_LIMIT_MS)) {
  const figures = {};
  // Rotating order: no case always runs right after the same other.
  for (let k = 0; k < CASES.length; k++) {
    const testCase = CASES[(k + rounds) % CASES.length];
    let best = Infinity;
    for (let t = 0; t < TRIALS; t++) best = Math.min(best, await trial(testCase, (rounds * TRIALS + t) * testCase.calls));
    figures[testCase.key] = best;
  }
  for (const testCase of CASES) perRound[testCase.key].push(figures[testCase.key]);
  differences.push(figures.full - figures.verify);
  rounds++;
}

const median = (list) => {
  const sorted = [...list].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const spread = (list) => `${Math.min(...list).toFixed(2)}–${Math.max(...list).toFixed(2)}`;
const fmt = (us) => us.toFixed(2).padStart(8);

const m = Object.fromEntries(CASES.map((c) => [c.key, median(perRound[c.key])]));
const overhead = median(differences);
console.log(`hot-path guard: Node ${process.version}, ${rounds} rounds × best of ${TRIALS} trials, medians (per-round range)${core !== undefined ? `, pinned to core ${core}` : ''}`);
for (const testCase of CASES) console.log(`${fmt(m[testCase.key])} µs  ${testCase.name}  (${spread(perRound[testCase.key])})`);
console.log(`${fmt(overhead)} µs  full verification − crypto.verify, median of per-round differences (${spread(differences)}); budget ${FULL_BUDGET_US} µs`);
console.log(`${fmt(m.full / m.verify)} ×   full verification ÷ crypto.verify`);
console.log(`${fmt(m.hitRevoked - m.hit)} µs  added to a cache hit by ${REVOCATIONS} revocations`);

const failures = [];
if (overhead > FULL_BUDGET_US) failures.push(`a full verification costs crypto.verify + ${overhead.toFixed(2)} µs (budget + ${FULL_BUDGET_US} µs)`);
if (m.hit > HIT_BUDGET_US) failures.push(`a cache hit costs ${m.hit.toFixed(2)} µs (budget ${HIT_BUDGET_US} µs)`);
if (m.hitRevoked > HIT_BUDGET_US) failures.push(`a cache hit with ${REVOCATIONS} revocations loaded costs ${m.hitRevoked.toFixed(2)} µs (budget ${HIT_BUDGET_US} µs)`);

await revocation.close();
await paths.close();
await idp.stop();
const elapsed = ((performance.now() - started) / 1000).toFixed(1);
if (sink < 0) console.log(sink); // keeps crypto.verify's result alive
if (failures.length > 0) {
  for (const failure of failures) console.log(`FAIL: ${failure}`);
  console.log(`hot-path guard failed (${elapsed} s)`);
  process.exit(1);
}
console.log(`hot-path guard passed (${elapsed} s)`);
process.exit(0);
