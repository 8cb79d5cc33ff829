import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { Identity } from '../identity/identity.js';
import { credentialReader } from './contexts/credential-readers.js';
import { IDENTITY_ON_REQUEST } from './identity-on-request.js';

/**
 * Injects the caller's Identity (undefined on a public route) in a controller, a resolver, a
 * gateway or a message handler: wherever the guard kept it for this context type.
 */
export const CurrentIdentity = createParamDecorator((_data: unknown, context: ExecutionContext): Identity | undefined => {
  const carrier = credentialReader(context.getType())?.carrier(context);
  const identity = carrier?.[IDENTITY_ON_REQUEST];
  return identity instanceof Identity ? identity : undefined;
});
