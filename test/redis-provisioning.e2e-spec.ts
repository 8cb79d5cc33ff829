import 'reflect-metadata';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientCredentialsService, ClientProvisioningService, IdentityModule, type IdentityModuleOptions } from '../src/index.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { redisSkipReason, startRedisServer, type RedisServerHandle } from './support/redis-server.js';

const ROOT = resolve(import.meta.dirname, '..');
// A private build (inside node_modules, so the package's dependencies resolve): other suites may be rebuilding dist/.
const BUILD = join(ROOT, 'node_modules/.cache/nestjs-identity-e2e/redis');
const AUDIENCE = 'https://api.example.com';
const KEY = randomBytes(32).toString('base64');

/** One API process: boots the module from the build with auto-provisioning on a shared Redis, reports, exits. */
const API_PROCESS = `
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { ClientCredentialsService, ClientProvisioningService, IdentityModule } from './src/index.js';
const options = JSON.parse(process.argv[2]);
// Start together: wait for the agreed moment, so the replicas really race for the registration.
await new Promise((resolve) => setTimeout(resolve, Math.max(0, options.startAt - Date.now())));
delete options.startAt;
const app = await NestFactory.createApplicationContext(IdentityModule.forRoot(options), { logger: false, abortOnError: false });
const report = { clientId: app.get(ClientCredentialsService).clientId, source: app.get(ClientProvisioningService).source, probe: app.get(ClientCredentialsService).lastProbe()?.valid };
await app.close();
process.stdout.write(JSON.stringify(report));
`;

// Skipped (with the reason in redisSkipReason) where no redis-server binary is installed.
describe.skipIf(redisSkipReason)('auto-provisioning on a shared Redis', () => {
  let redis: RedisServerHandle;
  let idp: DevelopmentIdentityProvider;

  beforeAll(async () => {
    const build = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', BUILD], { cwd: ROOT, encoding: 'utf8' });
    expect(existsSync(join(BUILD, 'src/index.js')), `build failed:\n${build.stdout}${build.stderr}`).toBe(true);
    // Inside node_modules Node finds no package scope: say the build is ESM.
    await writeFile(join(BUILD, 'package.json'), '{"type":"module"}\n');
    await writeFile(join(BUILD, 'api-process.mjs'), API_PROCESS);
    redis = await startRedisServer();
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
  }, 180_000);

  afterAll(async () => {
    await idp?.stop();
    await redis?.stop();
    await rm(BUILD, { recursive: true, force: true });
  });

  function options(keyPrefix: string): IdentityModuleOptions {
    return {
      url: idp.issuer,
      audience: AUDIENCE,
      metrics: false,
      encryptionKey: KEY,
      store: { type: 'redis', url: redis.url, keyPrefix },
      audit: false,
      client: { redirectUri: `${AUDIENCE}/auth/callback` },
      autoProvision: { name: 'orders-api', scopes: ['orders:read'] },
    };
  }

  it('replicas booting at once in one process register exactly one client and all use it', async () => {
    const before = idp.stats.registration;
    const shared = options('in-process:');
    const apps: INestApplicationContext[] = await Promise.all(
      Array.from({ length: 4 }, () => NestFactory.createApplicationContext(IdentityModule.forRoot(shared), { logger: false, abortOnError: false })),
    );
    try {
      expect(idp.stats.registration).toBe(before + 1);
      const ids = new Set(apps.map((app) => app.get(ClientCredentialsService).clientId));
      expect(ids.size).toBe(1);
      expect(apps.map((app) => app.get(ClientProvisioningService).source).sort()).toEqual(['provisioned', 'store', 'store', 'store']);
      expect(apps.every((app) => app.get(ClientCredentialsService).lastProbe()?.valid)).toBe(true);
    } finally {
      await Promise.all(apps.map((app) => app.close()));
    }
  });

  it('separate API processes starting at the same moment register exactly one client', async () => {
    const before = idp.stats.registration;
    const shared = { ...options('processes:'), startAt: Date.now() + 1_500 };
    const run = () =>
      new Promise<{ clientId: string; source: string; probe: boolean }>((done, fail) => {
        execFile(process.execPath, [join(BUILD, 'api-process.mjs'), JSON.stringify(shared)], { cwd: BUILD, timeout: 60_000 }, (error, stdout, stderr) => {
          if (error) fail(new Error(`API process failed (${error.message}): ${stderr}`));
          else done(JSON.parse(stdout) as { clientId: string; source: string; probe: boolean });
        });
      });
    const reports = await Promise.all([run(), run(), run()]);
    expect(idp.stats.registration).toBe(before + 1);
    expect(new Set(reports.map((r) => r.clientId)).size).toBe(1);
    expect(reports.map((r) => r.source).sort()).toEqual(['provisioned', 'store', 'store']);
    expect(reports.every((r) => r.probe)).toBe(true);

    // A later restart of any replica reuses the stored client.
    const restart = await run();
    expect(restart).toMatchObject({ clientId: reports[0]!.clientId, source: 'store' });
    expect(idp.stats.registration).toBe(before + 1);
  }, 120_000);
});
