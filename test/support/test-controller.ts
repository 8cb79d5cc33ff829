import { Controller, Get, HttpCode, Post } from '@nestjs/common';
import { Authenticated, CurrentIdentity, Public, RequireRole, RequireScope, type Identity } from '../../src/index.js';

/** Routes that show each decorator; the e2e suites call them with real tokens. */
@Controller()
export class TestController {
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
  me(@CurrentIdentity() identity: Identity) {
    return { kind: identity.kind, summary: identity.describe(), scopes: [...identity.scopes], roles: [...identity.roles] };
  }

  @Get('orders')
  @RequireScope('orders:read')
  orders() {
    return { orders: [] };
  }

  @Get('reports')
  @RequireScope({ any: ['reports:read', 'orders:write'] })
  reports() {
    return { reports: [] };
  }

  @Get('admin')
  @RequireRole('admin')
  admin(@CurrentIdentity() identity: Identity) {
    return { admin: identity.user?.email };
  }

  @Get('machines')
  @Authenticated({ kind: 'service' })
  machines() {
    return { ok: true };
  }

  /** The design document's POST /jobs handler, the Nest way. */
  @Post('jobs')
  @HttpCode(201)
  @Authenticated()
  dispatch(@CurrentIdentity() identity: Identity) {
    if (identity.isServiceAccount()) identity.assertScope('jobs:dispatch');
    else identity.assertRole('admin');
    return { ok: true, actor: identity.describe() };
  }
}
