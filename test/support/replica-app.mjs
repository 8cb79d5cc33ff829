// One API replica for test/revocation-replicas.e2e-spec.ts, in its own process: the COMPILED module
// (a private build, REPLICA_APP.build) with a Redis store, the admin routes, /health and /metrics,
// and `GET /me` (@Authenticated). Listens on 127.0.0.1 only, port 0; tells the parent its port over
// IPC ({ type: 'ready', port }) once the app listens, i.e. after the boot loaded the revocation list.
// SIGTERM closes the app (and its Redis connections) and exits; so does losing the parent.
import 'reflect-metadata';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const config = JSON.parse(process.env.REPLICA_APP ?? '{}');
const lib = await import(pathToFileURL(join(config.build, 'src/index.js')).href);

class MeController {
  me() {
    return { ok: true };
  }
}
Reflect.decorate([Get('me'), lib.Authenticated()], MeController.prototype, 'me', Object.getOwnPropertyDescriptor(MeController.prototype, 'me'));
Reflect.decorate([Controller()], MeController);

class ReplicaModule {}
const identity = lib.IdentityModule.forRoot({
  url: config.issuer,
  audience: config.audience,
  encryptionKey: config.encryptionKey,
  store: { type: 'redis', url: config.redisUrl, keyPrefix: config.keyPrefix },
  admin: { enabled: true },
  audit: false,
  routes: { admin: true, health: true, metrics: true },
});
Reflect.decorate([Module({ imports: [identity], controllers: [MeController] })], ReplicaModule);

// Warnings and errors on stderr: the parent reads them (and checks they never hold a token).
const app = await NestFactory.create(ReplicaModule, { logger: ['fatal', 'error', 'warn', 'log'] });
await app.listen(0, '127.0.0.1');
const { port } = app.getHttpServer().address();

let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  const timer = setTimeout(() => process.exit(1), 5_000);
  timer.unref();
  await app.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('disconnect', () => void shutdown());
process.send({ type: 'ready', port, pid: process.pid });
