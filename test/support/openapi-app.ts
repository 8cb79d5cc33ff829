import { Body, Controller, Get, Param, Post, UseGuards, type INestApplication } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { ApiResponse } from '@nestjs/swagger';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import { Authenticated, IdentityGuard, IdentityModule, Public, RequireRole, RequireScope, type IdentityModuleOptions } from '../../src/index.js';
import { LogGuard } from './log-guard.js';
import type { PlatformName } from './platforms.js';

/** One route per kind of requirement the document must describe. */
@Controller()
export class OpenApiOrdersController {
  @Get('public')
  @Public()
  open() {
    return { ok: true };
  }

  @Get('unguarded')
  unguarded() {
    return { ok: true };
  }

  @Get('me')
  @Authenticated()
  me() {
    return { ok: true };
  }

  @Get('orders')
  @RequireScope('orders:read')
  list() {
    return { orders: [{ id: 'o-1', total: 42 }] };
  }

  @Get('orders/:id')
  @RequireScope('orders:read')
  @ApiResponse({ status: 401, description: 'Documented by the app itself' })
  one(@Param('id') id: string) {
    return { id };
  }

  @Post('orders')
  @RequireScope('orders:read', 'orders:write')
  create(@Body() body: unknown) {
    return { created: body };
  }

  @Get('reports')
  @RequireScope({ any: ['reports:read', 'orders:write'] })
  reports() {
    return { reports: [] };
  }

  @Get('admin')
  @RequireRole('admin')
  admin() {
    return { ok: true };
  }

  @Get('machines')
  @Authenticated({ kind: 'service' })
  machines() {
    return { ok: true };
  }
}

/** A guard of ours in @UseGuards, no decorator: authenticated even without `global`. */
@Controller('guarded')
@UseGuards(IdentityGuard)
export class OpenApiGuardedController {
  @Get()
  guarded() {
    return { ok: true };
  }
}

/** One handler inherited by two controllers that demand different scopes at class level. */
export class CatalogBase {
  @Get()
  list() {
    return { items: [] };
  }
}

@Controller('books')
@RequireScope('books:read')
export class OpenApiBooksController extends CatalogBase {}

@Controller('films')
@RequireScope('films:read')
export class OpenApiFilmsController extends CatalogBase {}

/** A public controller whose method demands a scope: the method's own demand wins. */
@Controller('mixed')
@Public()
export class OpenApiMixedController {
  @Get('open')
  open() {
    return { ok: true };
  }

  @Get('closed')
  @RequireScope('jobs:dispatch')
  closed() {
    return { ok: true };
  }
}

export const OPENAPI_CONTROLLERS = [OpenApiOrdersController, OpenApiGuardedController, OpenApiBooksController, OpenApiFilmsController, OpenApiMixedController];

export interface OpenApiAppOptions {
  issuer: string;
  audience: string;
  global?: boolean;
  /** More module options (admin routes, say). */
  extra?: Partial<IdentityModuleOptions>;
  /** Runs after the app is created, before init/listen (where SwaggerModule.setup belongs on Fastify). */
  beforeInit?: (app: INestApplication) => Promise<void> | void;
  /** Listen on 127.0.0.1 on a free port (for a browser); otherwise only initialised (for supertest). */
  listen?: boolean;
}

/** Like createApp (test/support/platforms.ts), with a hook before init and an optional listen on loopback. */
export async function createOpenApiApp(platform: PlatformName, options: OpenApiAppOptions): Promise<{ app: INestApplication; url?: string }> {
  const moduleRef = await Test.createTestingModule({
    imports: [IdentityModule.forRoot({ ...options.extra, url: options.issuer, audience: options.audience, global: options.global ?? false })],
    controllers: OPENAPI_CONTROLLERS,
  }).compile();
  const app = platform === 'fastify' ? moduleRef.createNestApplication(new FastifyAdapter()) : moduleRef.createNestApplication();
  app.useLogger(new LogGuard());
  await options.beforeInit?.(app);
  if (options.listen) {
    await app.listen(0, '127.0.0.1');
    const address = app.getHttpServer().address() as AddressInfo;
    return { app, url: `http://127.0.0.1:${address.port}` };
  }
  await app.init();
  if (platform === 'fastify') await (app.getHttpAdapter().getInstance() as { ready(): Promise<unknown> }).ready();
  return { app };
}
