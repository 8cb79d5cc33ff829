import { Controller, Get } from '@nestjs/common';
import { Authenticated, CurrentIdentity, Public, RequireRole, RequireScope, type Identity } from '../src/index.js';

@Controller()
export class OrdersController {
  /** Open to anyone, even with `global: true`. */
  @Get('hello')
  @Public()
  hello() {
    return { hello: 'world' };
  }

  /** Any valid token: shows who is calling. */
  @Get('me')
  @Authenticated()
  me(@CurrentIdentity() identity: Identity) {
    return {
      kind: identity.kind,
      summary: identity.describe(),
      scopes: [...identity.scopes],
      roles: [...identity.roles],
      user: identity.user,
      serviceAccount: identity.serviceAccount,
    };
  }

  /** Needs the orders:read scope (people and service accounts alike). */
  @Get('orders')
  @RequireScope('orders:read')
  list() {
    return { orders: [{ id: 'o-1', total: 42 }] };
  }

  /** Needs the admin role, which only people carry (`user.roles`). */
  @Get('reports')
  @RequireRole('admin')
  reports() {
    return { reports: ['daily-sales'] };
  }

  /** Only service accounts. */
  @Get('internal/sync')
  @Authenticated({ kind: 'service' })
  sync(@CurrentIdentity() identity: Identity) {
    return { syncedBy: identity.serviceAccount?.clientId };
  }
}
