import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve('.');
const built = existsSync(join(ROOT, 'dist/src/index.js'));

/**
 * The package as a consumer gets it: `npm pack`, installed into a fresh app with its peers, and
 * compiled by tsc with `skipLibCheck: false` (tsc's default). Every type the public declarations
 * name must come with the package or its declared dependencies.
 */
describe.skipIf(!built)('the packed package compiles in a fresh consumer app (skipLibCheck: false)', () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('main, keycloak, auth0 and okta entry points type-check', async () => {
    dir = await mkdtemp(join(tmpdir(), 'nestjs-identity-consumer-'));
    const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: ROOT });
    const tarball = join(dir, stdout.trim().split('\n').at(-1)!);
    const own = JSON.parse(await (await import('node:fs/promises')).readFile(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    const pin = (name: string) => own.devDependencies[name]!;
    const peers = ['@nestjs/common', '@nestjs/core', '@nestjs/passport', '@nestjs/terminus', '@willsoto/nestjs-prometheus', 'prom-client', 'reflect-metadata', 'rxjs', 'typescript', '@types/node'];
    await writeFile(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { 'nestjs-identity': `file:${tarball}`, ...Object.fromEntries(peers.map((name) => [name, pin(name)])) } }),
    );
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, skipLibCheck: false, noEmit: true, experimentalDecorators: true, emitDecoratorMetadata: true, types: ['node'] }, files: ['app.ts'] }),
    );
    await writeFile(
      join(dir, 'app.ts'),
      [
        "import { Controller, Get, Module } from '@nestjs/common';",
        "import { IdentityModule, IdentityStrategy, RequireScope, CurrentIdentity, type Identity } from 'nestjs-identity';",
        "import type { KeycloakServiceAccountProvider } from 'nestjs-identity/keycloak';",
        "import type { Auth0ServiceAccountProvider } from 'nestjs-identity/auth0';",
        "import type { OktaServiceAccountProvider } from 'nestjs-identity/okta';",
        '@Controller() class OrdersController {',
        "  @Get('orders') @RequireScope('orders:read') list(@CurrentIdentity() identity: Identity): string { return identity.subject; }",
        '}',
        "@Module({ imports: [IdentityModule.forRoot({ url: 'https://auth.example.com', audience: 'https://api.example.com' })], controllers: [OrdersController] })",
        'export class AppModule {}',
        'export type Adapters = KeycloakServiceAccountProvider | Auth0ServiceAccountProvider | OktaServiceAccountProvider;',
        'export const strategyName: typeof IdentityStrategy = IdentityStrategy;',
      ].join('\n'),
    );
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], { cwd: dir, timeout: 240_000 });
    const tsc = await run(process.execPath, [join(dir, 'node_modules/typescript/bin/tsc'), '-p', dir], { cwd: dir }).then(
      () => ({ code: 0, out: '' }),
      (error: { code: number; stdout: string }) => ({ code: error.code, out: error.stdout }),
    );
    expect(tsc.out).toBe('');
    expect(tsc.code).toBe(0);
  }, 300_000);
});
