// One benchmark app process (see bench/apps.mjs for the apps), started by bench/run.mjs, pinned to
// its own core, listening on 127.0.0.1 only, and driven over IPC:
//   parent -> { type: 'stats' }  => child -> { type: 'stats', cpu, rss, heap, verification, ... }
//   parent -> { type: 'selftest', tokens } => child -> { type: 'selftest', best } (µs per verify() in this process)
//   parent -> { type: 'exit' }   => the process exits (a --cpu-prof is written).
// Configuration comes as JSON in BENCH_APP: { adapter, mode, issuer, audience, tokenCache, jwksCooldown, dist }.
// It runs the COMPILED module (dist/ from `npm run build`); the classic recipe is the peer, not our code.
import { getHeapSpaceStatistics } from 'node:v8';
import { createBenchApp, moduleEntry } from './apps.mjs';

const config = JSON.parse(process.env.BENCH_APP ?? '{}');
const { adapter = 'express', mode = 'none' } = config;

/**
 * The module's own histogram of full verifications (identity_token_verification_duration_seconds,
 * accepted): count and sum in seconds, so run.mjs can report the mean time of a miss inside the app.
 */
async function verificationTime() {
  if (mode !== 'module') return undefined;
  const { register } = await import('prom-client');
  const metric = register.getSingleMetric('identity_token_verification_duration_seconds');
  if (!metric) return undefined;
  const { values } = await metric.get();
  const pick = (name) => values.find((v) => v.metricName === name && v.labels.result === 'accepted')?.value ?? 0;
  return { count: pick('identity_token_verification_duration_seconds_count'), sum: pick('identity_token_verification_duration_seconds_sum') };
}

/** Where the heap's memory is: V8's new space (young generation) grows with the allocation rate. */
function heapSpaces() {
  const out = {};
  for (const space of getHeapSpaceStatistics()) out[space.space_name] = { size: space.space_size, used: space.space_used_size };
  return out;
}

async function main() {
  const app = await createBenchApp({ ...config, adapter, mode });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address();

  process.on('message', async (message) => {
    if (message?.type === 'stats') {
      const cpu = process.cpuUsage();
      const memory = process.memoryUsage();
      const verification = await verificationTime();
      process.send({ type: 'stats', id: message.id, cpu, rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal, external: memory.external, spaces: heapSpaces(), uptime: process.uptime(), verification });
    } else if (message?.type === 'selftest') {
      // Times the module's authenticator inside this very process (no HTTP): to compare with bench/micro.mjs.
      const lib = await import(moduleEntry(config));
      const authenticator = app.get(lib.TokenAuthenticator);
      const tokens = message.tokens;
      let best = Infinity;
      for (let t = 0; t < 20; t++) {
        const t0 = performance.now();
        for (let i = 0; i < 50; i++) await authenticator.verify(tokens[(t * 50 + i) % tokens.length]);
        best = Math.min(best, ((performance.now() - t0) * 1000) / 50);
      }
      process.send({ type: 'selftest', id: message.id, best });
    } else if (message?.type === 'exit') {
      // No graceful close: keep-alive sockets would hold it open. process.exit still writes a --cpu-prof.
      process.exit(0);
    }
  });
  // The parent going away (crash, Ctrl-C) must not leave an app pinned to a core.
  process.on('disconnect', () => process.exit(0));
  process.send({ type: 'ready', port, pid: process.pid });
}

main().catch((error) => {
  console.error(`[bench app ${adapter}/${mode}]`, error);
  process.exit(1);
});
