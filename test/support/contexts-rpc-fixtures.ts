import { Controller } from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { Authenticated, CurrentIdentity, Public, RequireScope, type Identity } from '../../src/index.js';

/** Events the `order.created` handler accepted. */
export const acceptedEvents: unknown[] = [];

/** Every decorator, in message handlers (the same on every transport). */
@Controller()
export class OrdersMessages {
  @MessagePattern('orders.list')
  @RequireScope('orders:read')
  list(@Payload() data: unknown, @CurrentIdentity() identity: Identity) {
    return { orders: [{ id: '1' }], caller: identity.subject, data };
  }

  @MessagePattern('whoami')
  @Authenticated()
  whoami(@CurrentIdentity() identity: Identity, @Ctx() context: { getMetadata?(): unknown }) {
    // The token stays out of the payload; handlers see the metadata if they ask (here: only its keys).
    return { kind: identity.kind, subject: identity.subject, metadataKeys: Object.keys((context.getMetadata?.() as object | undefined) ?? {}) };
  }

  @MessagePattern('ping')
  @Public()
  ping() {
    return 'pong';
  }

  /** No decorator: open unless the module is `global: true`. */
  @MessagePattern('plain')
  plain() {
    return 'plain';
  }

  @MessagePattern('dispatch')
  @Authenticated()
  dispatch(@CurrentIdentity() identity: Identity) {
    identity.assertScope('jobs:dispatch');
    return 'dispatched';
  }

  @EventPattern('order.created')
  @RequireScope('orders:write')
  created(@Payload() data: unknown) {
    acceptedEvents.push(data);
  }
}
