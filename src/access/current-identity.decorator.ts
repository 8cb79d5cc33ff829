import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { Identity } from '../identity/identity.js';
import { IDENTITY_ON_REQUEST } from './identity-on-request.js';

/** Injects the caller's Identity (undefined on a public route). */
export const CurrentIdentity = createParamDecorator((_data: unknown, context: ExecutionContext): Identity | undefined => {
  const request = context.getType() === 'http' ? context.switchToHttp().getRequest() : context.switchToWs?.().getClient();
  const identity = request?.[IDENTITY_ON_REQUEST];
  return identity instanceof Identity ? identity : undefined;
});
