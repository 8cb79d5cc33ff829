import { UseFilters } from '@nestjs/common';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { Authenticated, CurrentIdentity, IdentityExceptionFilter, RequireScope, type Identity } from '../../src/index.js';

/**
 * A socket.io gateway. The handshake is verified by IdentityWsAdapter (see contexts.wiring.ts);
 * the decorators then work per message. Nest runs no global filter on gateways, hence
 * @UseFilters for `identity.assert*()` in handlers.
 */
@WebSocketGateway()
@UseFilters(IdentityExceptionFilter)
export class OrdersGateway {
  @SubscribeMessage('whoami')
  @Authenticated()
  whoami(@CurrentIdentity() identity: Identity) {
    return { event: 'whoami', data: identity.describe() };
  }

  @SubscribeMessage('orders')
  @RequireScope('orders:read')
  orders() {
    return { event: 'orders', data: [{ id: '1', item: 'book' }] };
  }
}
