import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import { Authenticated, CurrentIdentity, Public, RequireRole, RequireScope, type Identity } from '../../../src/index.js';

const view = (identity: Identity) => ({ kind: identity.kind, subject: identity.subject, scopes: [...identity.scopes].sort(), roles: [...identity.roles].sort() });

/** Routes the security suites attack. Answers never include claims beyond names and kinds. */
@Controller('sec')
export class SecurityController {
  @Get('public')
  @Public()
  open() {
    return { ok: true };
  }

  @Get('any')
  @Authenticated()
  any(@CurrentIdentity() identity: Identity) {
    return view(identity);
  }

  @Post('any')
  @HttpCode(200)
  @Authenticated()
  anyPost(@CurrentIdentity() identity: Identity, @Body() _body: unknown) {
    return view(identity);
  }

  @Get('user')
  @Authenticated({ kind: 'user' })
  user(@CurrentIdentity() identity: Identity) {
    return view(identity);
  }

  @Get('service')
  @Authenticated({ kind: 'service' })
  service(@CurrentIdentity() identity: Identity) {
    return view(identity);
  }

  @Get('orders')
  @RequireScope('orders:read')
  orders(@CurrentIdentity() identity: Identity) {
    return view(identity);
  }

  @Get('orders-write')
  @RequireScope('orders:write')
  ordersWrite(@CurrentIdentity() identity: Identity) {
    return view(identity);
  }

  @Get('admin')
  @RequireRole('admin')
  admin(@CurrentIdentity() identity: Identity) {
    return view(identity);
  }

  /** What the prototype chain looks like from inside a handler that read hostile claims. */
  @Get('proto')
  @Authenticated()
  proto(@CurrentIdentity() identity: Identity) {
    const probe = {} as Record<string, unknown>;
    return {
      ...view(identity),
      polluted: probe.polluted ?? null,
      isAdmin: probe.isAdmin ?? null,
      objectPrototypeKeys: Object.getOwnPropertyNames(Object.prototype).length,
      claimNames: Object.keys(identity.claims).sort(),
    };
  }
}
