import type { RequestWithHeaders } from '../../tokens/bearer-token.js';
import { NO_CREDENTIALS, socketIoCredentials, type SocketIoHandshake } from './credentials.js';
import { isObject, type CredentialReader } from './credential-reader.js';
import { identityErrorBody } from './identity-error-body.js';
import { websocketsPackage } from './optional-package.js';

/**
 * WebSockets (`@nestjs/websockets`, socket.io or ws): the identity lives on the client, put there
 * at the handshake by IdentityWsAdapter, which also watches its expiry. Without the adapter a
 * socket.io client is verified from its handshake on the first guarded message (and then kept); a
 * ws client, whose upgrade request is gone by then, has no credentials: use the adapter.
 */
export const wsReader: CredentialReader = {
  type: 'ws',
  package: websocketsPackage,

  carrier(context) {
    const client: unknown = context.switchToWs().getClient();
    return isObject(client) ? client : undefined;
  },

  credentials(carrier, maxTokenLength) {
    const client = carrier as { handshake?: unknown; request?: unknown };
    if (!isObject(client.handshake)) return NO_CREDENTIALS;
    return socketIoCredentials(client.handshake as SocketIoHandshake, isObject(client.request) ? (client.request as unknown as RequestWithHeaders) : undefined, maxTokenLength);
  },

  toError(error) {
    const { WsException } = websocketsPackage.loaded!;
    return new WsException({ status: 'error', ...identityErrorBody(error) });
  },
};
