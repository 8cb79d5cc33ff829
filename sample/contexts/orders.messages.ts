import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { CurrentIdentity, RequireScope, type Identity } from '../../src/index.js';

/** Message handlers: the token comes in the packet metadata (`authorization: 'Bearer …'`), never in the payload. */
@Controller()
export class OrdersMessages {
  @MessagePattern('orders.count')
  @RequireScope('orders:read')
  count(@Payload() filter: { item?: string } | undefined, @CurrentIdentity() identity: Identity) {
    return { count: filter?.item ? 0 : 1, askedBy: identity.describe() };
  }
}
