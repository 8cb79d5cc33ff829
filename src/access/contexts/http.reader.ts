import type { RequestWithHeaders } from '../../tokens/bearer-token.js';
import type { CredentialReader, IdentityCarrier } from './credential-reader.js';

/** HTTP (Express, Fastify): the Authorization header of the request; the identity stays on the request. */
export const httpReader: CredentialReader = {
  type: 'http',
  carrier: (context) => context.switchToHttp().getRequest<IdentityCarrier | undefined>(),
  credentials: (carrier) => carrier as RequestWithHeaders,
  toError: (error) => error,
};
