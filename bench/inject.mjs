// What each case adds per request, without sockets: `node bench/inject.mjs [--rounds 3] [--trials 30]`.
// One child process per case (apps sharing a process would share, and slow down, Nest's and
// Fastify's inline caches), pinned to one core; requests go through light-my-request (Fastify's
// inject, and the same library around Express's handler). Each child reports the minimum over
// short trials of the CPU time per request; cases alternate over rounds and the minimum over
// rounds is kept. A busy machine disturbs this far less than the HTTP run, but it cannot show the
// socket and HTTP parsing cost of a real request, which belongs to the baseline: so the projected
// ratios divide by HTTP baselines (the issue's figures unless given):
//   --baseline-express 165 --baseline-fastify 31   µs of CPU per no-auth HTTP request
import { execFileSync, spawn } from 'node:child_process';
import { sign } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { scratchDir } from './scratch.mjs';

const { values } = parseArgs({
  options: {
    child: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    trials: { type: 'string', default: '30' },
    core: { type: 'string', default: '1' },
    adapters: { type: 'string', default: 'express,fastify' },
    cases: { type: 'string', default: 'none,noop,module-1,module-1000,classic-1000' },
    'baseline-express': { type: 'string', default: '165' },
    'baseline-fastify': { type: 'string', default: '31' },
  },
});

if (values.child) await child(JSON.parse(await readStdin()));
else await parent();

async function readStdin() {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text;
}

/** One case in this process: build the app, warm up, then trials; prints one JSON line. */
async function child({ adapter, mode, tokenCache, tokens, n, trials, issuer, audience }) {
  const { createBenchApp } = await import('./apps.mjs');
  const { default: inject } = await import('light-my-request');
  const app = await createBenchApp({ adapter, mode, issuer, audience, tokenCache });
  const instance = app.getHttpAdapter().getInstance();
  const dispatch = adapter === 'fastify' ? (options) => instance.inject(options) : (options) => inject(instance, options);
  let next = 0;
  const send = async () => {
    const headers = tokens ? { authorization: `Bearer ${tokens[next++ % tokens.length]}` } : {};
    const response = await dispatch({ method: 'GET', url: '/hello', headers });
    if (response.statusCode !== 200) throw new Error(`${adapter}/${mode}: ${response.statusCode} ${response.body}`);
  };
  for (let i = 0; i < Math.max(2000, n * 10); i++) await send(); // warm-up, JIT
  let cpu = Infinity;
  let wall = Infinity;
  for (let t = 0; t < trials; t++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await send();
    wall = Math.min(wall, ((performance.now() - t0) * 1000) / n);
    const c = process.cpuUsage(c0);
    cpu = Math.min(cpu, (c.user + c.system) / n);
  }
  console.log(JSON.stringify({ cpu, wall }));
  process.exit(0);
}

async function parent() {
  const rounds = Math.max(1, Math.min(20, Number.parseInt(values.rounds, 10) || 3));
  const trials = Math.max(3, Math.min(500, Number.parseInt(values.trials, 10) || 30));
  const baselines = { express: Number(values['baseline-express']), fastify: Number(values['baseline-fastify']) };
  execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
  const { DevelopmentIdentityProvider } = await import(new URL('../dist/src/testing/index.js', import.meta.url).href);
  const audience = 'https://api.example.com';
  const idp = await DevelopmentIdentityProvider.start({ audience, accessTokenTtl: 3600 });
  const one = await idp.mintToken({ expiresIn: 3600 });
  const [h, p] = one.split('.');
  const key = idp.signingKeyMaterial(JSON.parse(Buffer.from(h, 'base64url').toString()).kid);
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
  const many = Array.from({ length: 1000 }, (_, i) => {
    const input = `${h}.${Buffer.from(JSON.stringify({ ...payload, jti: `bench-${i}` })).toString('base64url')}`;
    return `${input}.${sign('sha256', Buffer.from(input), key.privateKey).toString('base64url')}`;
  });
  const CASES = {
    none: { mode: 'none', n: 500 },
    noop: { mode: 'noop', n: 500 },
    'module-1': { mode: 'module', tokens: [one], n: 500 },
    'module-1000': { mode: 'module', tokenCache: false, tokens: many, n: 100 },
    'classic-1000': { mode: 'classic', tokens: many, n: 30 },
  };
  const cases = values.cases.split(',');
  const adapters = values.adapters.split(',');
  const best = new Map();
  const appDir = scratchDir();
  const runChild = (spec) =>
    new Promise((resolve, reject) => {
      // The spec (with 1,000 tokens) is too long for argv: it goes in on stdin.
      const proc = spawn('taskset', ['-c', values.core, process.execPath, fileURLToPath(import.meta.url), '--child'], { cwd: appDir, stdio: ['pipe', 'pipe', 'inherit'] });
      proc.stdin.end(JSON.stringify(spec));
      let out = '';
      proc.stdout.on('data', (chunk) => (out += chunk));
      const timer = setTimeout(() => proc.kill('SIGKILL'), 120_000);
      proc.on('exit', (code) => {
        clearTimeout(timer);
        if (code === 0) resolve(JSON.parse(out.trim().split('\n').at(-1)));
        else reject(new Error(`${spec.adapter}/${spec.mode} exited with ${code}`));
      });
    });
  for (let round = 0; round < rounds; round++) {
    for (const adapter of round % 2 ? [...adapters].reverse() : adapters) {
      for (const name of round % 2 ? [...cases].reverse() : cases) {
        const c = CASES[name];
        const result = await runChild({ adapter, ...c, trials, issuer: idp.issuer, audience });
        const key = `${adapter}/${name}`;
        const previous = best.get(key) ?? { cpu: Infinity, wall: Infinity };
        best.set(key, { cpu: Math.min(previous.cpu, result.cpu), wall: Math.min(previous.wall, result.wall) });
        console.error(`round ${round + 1} ${key}: ${result.cpu.toFixed(1)} µs CPU per request`);
      }
    }
  }
  await idp.stop();
  console.log(`\n${rounds} round(s) × ${trials} trials per case; minimum CPU µs per injected request; projected ratio = B / (B + added), B = no-auth HTTP CPU µs per request (express ${baselines.express}, fastify ${baselines.fastify})\n`);
  console.log('| adapter | case | CPU µs/req | added µs | projected ratio |');
  console.log('|---|---|---:|---:|---:|');
  for (const adapter of adapters) {
    const none = best.get(`${adapter}/none`);
    for (const name of cases) {
      const b = best.get(`${adapter}/${name}`);
      const added = none ? b.cpu - none.cpu : NaN;
      const ratio = baselines[adapter] / (baselines[adapter] + Math.max(0, added));
      console.log(`| ${adapter} | ${name} | ${b.cpu.toFixed(1)} | ${added.toFixed(1)} | ${ratio.toFixed(2)} |`);
    }
  }
  process.exit(0);
}
