// A Nest app in its own process for the kill -9 rotation tests: the API's own client is
// auto-provisioned into a file store, and the store stops the process dead (it hangs, and the
// test sends SIGKILL) right after the rotation write named by CRASH_AT:
//   after-mark     the record is marked "rotation started", nothing asked of the provider yet;
//   after-pending  the provider rotated and the new secret was written as pending;
//   none           never (the restart).
// Env: DIST (compiled tree), ISSUER, AUDIENCE, STORE_PATH, ENCRYPTION_KEY, CRASH_AT.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const { DIST, ISSUER, AUDIENCE, STORE_PATH, ENCRYPTION_KEY, CRASH_AT = 'none' } = process.env;
const { IdentityModule, FileCredentialStore } = await import(pathToFileURL(join(DIST, 'src/index.js')).href);

function isCrashPoint(key, value) {
  if (key !== 'client:self' || !value.includes('"rotationStartedAt"')) return false;
  const pending = value.includes('"pendingClientSecret"');
  return (CRASH_AT === 'after-mark' && !pending) || (CRASH_AT === 'after-pending' && pending);
}

class CrashingStore extends FileCredentialStore {
  async set(key, value) {
    await super.set(key, value);
    if (isCrashPoint(key, value)) {
      process.stdout.write('CRASH-POINT\n');
      await new Promise(() => {}); // hold here until SIGKILL
    }
  }
}

class AppModule {}
Reflect.decorate(
  [
    Module({
      imports: [
        IdentityModule.forRoot({
          url: ISSUER,
          audience: AUDIENCE,
          encryptionKey: ENCRYPTION_KEY,
          store: new CrashingStore(STORE_PATH),
          autoProvision: { scopes: ['orders:read'] },
          client: { redirectUri: `${AUDIENCE}/auth/callback` },
          admin: { enabled: true },
          health: { expose: true },
          metrics: false,
          audit: { file: join(STORE_PATH, '..', 'audit.log') },
        }),
      ],
    }),
  ],
  AppModule,
);

const app = await NestFactory.create(AppModule, { logger: ['error', 'warn', 'log'] });
await app.listen(0, '127.0.0.1');
process.stdout.write(`READY ${app.getHttpServer().address().port}\n`);
