// Before/after comparison of the token path, in one process, without HTTP:
//   node bench/compare.mjs <other-dist-dir> [--trials 25] [--core 1]
// Loads two compiled trees (e.g. a build of the previous commit, and ./dist), builds the same
// apps on both (default cache, and tokenCache: false), and times the guard and the authenticator
// on cache hits and full verifications. Trials of both trees alternate and each figure is the
// minimum over trials of the time per call: on a shared machine that is far steadier than
// two separate runs.
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { launchDir, useScratchDir } from './scratch.mjs';
import { requestFor, tokenPathApps } from './token-path.mjs';

// Apps built here keep their last good metadata under the working directory: not the repository.
useScratchDir();

const { values, positionals } = parseArgs({ allowPositionals: true, options: { trials: { type: 'string', default: '25' }, core: { type: 'string', default: '1' } } });
if (positionals.length !== 1) {
  console.error('usage: node bench/compare.mjs <other-dist-dir> [--trials N]');
  process.exit(2);
}
const TRIALS = Math.max(3, Math.min(200, Number.parseInt(values.trials, 10) || 25));
execFileSync('taskset', ['-a', '-p', '-c', values.core, String(process.pid)], { stdio: 'ignore' });

const here = new URL('.', import.meta.url);
const trees = {
  other: resolve(launchDir, positionals[0]),
  this: resolve(new URL('../dist', here).pathname),
};

const { startProviderProcess } = await import('./provider-process.mjs');
const AUDIENCE = 'https://api.example.com';
// The provider runs in a child process: in this one its AsyncLocalStorage would slow every promise.
const idp = await startProviderProcess({ audience: AUDIENCE });
const many = await idp.tokens({ count: 1000 });
const one = many[0];

async function load(dist) {
  const lib = await import(pathToFileURL(`${dist}/src/index.js`).href);
  const { cached, uncached, context, close } = await tokenPathApps(lib, { issuer: idp.issuer, audience: AUDIENCE });
  return {
    close,
    cases: {
      'guard.canActivate, cache hit': { n: 2000, run: () => cached.guard.canActivate(context(requestFor(one))) },
      'authenticator.authenticate, cache hit': { n: 2000, run: () => cached.authenticator.authenticate(requestFor(one)) },
      'guard.canActivate, full verification': { n: 200, run: (i) => uncached.guard.canActivate(context(requestFor(many[i % 1000]))) },
      'authenticator.verify, full verification': { n: 200, run: (i) => uncached.authenticator.verify(many[i % 1000]) },
    },
  };
}

// Wall time of short trials: the minimum over many is a trial nobody else interrupted
// (process.cpuUsage() may be tick-granular, too coarse for trials this short).
const cpu = () => performance.now() * 1000;
async function trial({ n, run }, offset) {
  const t0 = cpu();
  for (let i = 0; i < n; i++) {
    const r = run(offset + i);
    if (r instanceof Promise) await r;
  }
  return (cpu() - t0) / n;
}

const sides = { other: await load(trees.other), this: await load(trees.this) };
console.log(`other = ${trees.other}\nthis  = ${trees.this}\ntoken ${one.length} chars; ${TRIALS} alternating trials, min µs per call\n`);
console.log(`${'case'.padEnd(42)} ${'other'.padStart(9)} ${'this'.padStart(9)}   change`);
for (const name of Object.keys(sides.this.cases)) {
  const best = { other: Infinity, this: Infinity };
  for (const side of ['other', 'this']) await trial(sides[side].cases[name], 0); // warm-up
  for (let t = 0; t < TRIALS; t++) {
    for (const side of t % 2 ? ['this', 'other'] : ['other', 'this']) {
      best[side] = Math.min(best[side], await trial(sides[side].cases[name], t * 7));
    }
  }
  const change = ((best.this - best.other) / best.other) * 100;
  console.log(`${name.padEnd(42)} ${best.other.toFixed(2).padStart(9)} ${best.this.toFixed(2).padStart(9)}   ${change >= 0 ? '+' : ''}${change.toFixed(0)}%`);
}
await sides.other.close();
await sides.this.close();
await idp.stop();
process.exit(0);
