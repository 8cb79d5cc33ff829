import type { INestApplication, ModuleMetadata } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { LogGuard } from './log-guard.js';

export type PlatformName = 'express' | 'fastify';

/** Every e2e suite runs on both HTTP adapters. */
export const PLATFORMS: PlatformName[] = ['express', 'fastify'];

/** Compiles a module and starts it on the given adapter, ready for supertest. */
export async function createApp(platform: PlatformName, metadata: ModuleMetadata): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule(metadata).compile();
  const app = platform === 'fastify' ? moduleRef.createNestApplication(new FastifyAdapter()) : moduleRef.createNestApplication();
  // Silent, but every line is scanned for tokens, keys and secrets (see log-guard.ts).
  app.useLogger(new LogGuard());
  await app.init();
  if (platform === 'fastify') await (app.getHttpAdapter().getInstance() as { ready(): Promise<unknown> }).ready();
  return app;
}
