import { Controller, Get, HttpCode, Post, type INestApplication, type ModuleMetadata } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { Authenticated, CurrentIdentity, IdentityModule, RequireScope, type Identity, type IdentityModuleOptions } from '../../src/index.js';
import { RequireDpop } from '../../src/dpop/require-dpop.decorator.js';
import { LogGuard } from './log-guard.js';
import type { PlatformName } from './platforms.js';

export const DPOP_AUDIENCE = 'https://api.example.com';

/** Routes the DPoP suites call. */
@Controller()
export class DpopTestController {
  @Get('orders')
  @RequireScope('orders:read')
  orders(@CurrentIdentity() identity: Identity) {
    return { orders: [], subject: identity.subject };
  }

  @Post('orders')
  @HttpCode(201)
  @RequireScope('orders:write')
  create() {
    return { created: true };
  }

  @Get('me')
  @Authenticated()
  me(@CurrentIdentity() identity: Identity) {
    return { subject: identity.subject, bound: typeof (identity.claims.cnf as { jkt?: unknown } | undefined)?.jkt === 'string' };
  }

  @Get('dpop-only')
  @RequireDpop()
  dpopOnly() {
    return { ok: true };
  }
}

export interface ListeningDpopApp {
  app: INestApplication;
  /** http://127.0.0.1:<port> */
  url: string;
  close(): Promise<void>;
}

/** An app with IdentityModule (the given options) and the DPoP routes, listening on 127.0.0.1. */
export async function startDpopApp(platform: PlatformName, options: IdentityModuleOptions, metadata: ModuleMetadata = {}): Promise<ListeningDpopApp> {
  const moduleRef = await Test.createTestingModule({
    ...metadata,
    imports: [IdentityModule.forRoot({ metrics: false, ...options }), ...(metadata.imports ?? [])],
    controllers: [DpopTestController, ...(metadata.controllers ?? [])],
  }).compile();
  const app = platform === 'fastify' ? moduleRef.createNestApplication(new FastifyAdapter()) : moduleRef.createNestApplication();
  app.useLogger(new LogGuard());
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${address.port}`, close: () => app.close() };
}

