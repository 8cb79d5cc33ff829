import type { INestApplication, ModuleMetadata } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { LogGuard } from './log-guard.js';
import type { PlatformName } from './platforms.js';

export const CONTEXTS_AUDIENCE = 'https://api.example.com';

export interface ListeningApp {
  app: INestApplication;
  /** http://127.0.0.1:<port> */
  url: string;
  close(): Promise<void>;
}

/**
 * Starts an app on a real port, for real clients (GraphQL over HTTP and WebSocket, socket.io, ws).
 * `configure` runs before init: WebSocket adapters, connected microservices. Logs go through the
 * LogGuard like every e2e app's.
 */
export async function startListening(platform: PlatformName, metadata: ModuleMetadata, configure?: (app: INestApplication) => void | Promise<void>): Promise<ListeningApp> {
  const moduleRef = await Test.createTestingModule(metadata).compile();
  const app = platform === 'fastify' ? moduleRef.createNestApplication(new FastifyAdapter()) : moduleRef.createNestApplication();
  app.useLogger(new LogGuard());
  await configure?.(app);
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${address.port}`, close: () => app.close() };
}

/** Resolves when `predicate` holds, polling; rejects after `timeoutMs`. */
export async function eventually<T>(read: () => T | undefined, timeoutMs = 8_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
