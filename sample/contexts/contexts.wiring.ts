import type { INestApplication } from '@nestjs/common';
import { Transport } from '@nestjs/microservices';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { IdentityWsAdapter } from '../../src/index.js';

/** Default port of the sample's TCP microservice. */
export const CONTEXTS_TCP_PORT = 3001;

/**
 * What main.ts adds for the contexts, before app.listen(): socket.io handshakes verified by
 * IdentityWsAdapter, and a TCP microservice in the same app (hybrid) that inherits the app's
 * global guard and filter.
 */
export async function wireContexts(app: INestApplication, tcpPort = CONTEXTS_TCP_PORT): Promise<void> {
  app.useWebSocketAdapter(new IdentityWsAdapter(new IoAdapter(app), app));
  app.connectMicroservice({ transport: Transport.TCP, options: { host: '127.0.0.1', port: tcpPort } }, { inheritAppConfig: true });
  await app.startAllMicroservices();
}
