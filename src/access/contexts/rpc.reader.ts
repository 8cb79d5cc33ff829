import { authorizationCredentials } from './credentials.js';
import { isObject, type CredentialReader } from './credential-reader.js';
import { identityErrorBody } from './identity-error-body.js';
import { messageAuthorization } from './message-authorization.js';
import { microservicesPackage } from './optional-package.js';

/**
 * Microservices (`@nestjs/microservices`): the token travels beside the payload, never in it
 * (see messageAuthorization() for each transport), and the identity is kept on the message's
 * context object, which every transport creates per message.
 */
export const rpcReader: CredentialReader = {
  type: 'rpc',
  package: microservicesPackage,

  carrier(context) {
    const messageContext: unknown = context.switchToRpc().getContext();
    return isObject(messageContext) ? messageContext : undefined;
  },

  credentials(carrier, maxTokenLength) {
    return authorizationCredentials(messageAuthorization(carrier), maxTokenLength, 'message authorization');
  },

  toError(error) {
    const { RpcException } = microservicesPackage.loaded!;
    return new RpcException(identityErrorBody(error));
  },
};
