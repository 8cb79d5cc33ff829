import type { ExecutionContext } from '@nestjs/common';
import type { IdentityHttpError } from '../../errors/identity-http.error.js';
import type { Identity } from '../../identity/identity.js';
import type { RequestWithHeaders } from '../../tokens/bearer-token.js';
import { IDENTITY_ON_REQUEST } from '../identity-on-request.js';
import type { OptionalPackage } from './optional-package.js';

/**
 * Where a call's Identity is kept once verified: the HTTP request, the GraphQL request or
 * subscription connection, the WebSocket client, the RPC message context. Later guards of the same
 * call (and `@CurrentIdentity()`) find it there instead of verifying again.
 */
export type IdentityCarrier = object & { [IDENTITY_ON_REQUEST]?: Identity; user?: unknown };

/**
 * How one kind of execution context (`context.getType()`) carries credentials. The guard picks the
 * reader by type; a type without a reader is denied.
 */
export interface CredentialReader {
  readonly type: string;
  /** The optional package this context's errors are built from; the guard loads it before the first call. */
  readonly package?: OptionalPackage<unknown>;
  /** Where this call's identity lives, or undefined when the context holds nothing we can read (denied). */
  carrier(context: ExecutionContext): IdentityCarrier | undefined;
  /** The caller's credentials in the request shape TokenAuthenticator reads. Throws 400 invalid_request for malformed ones. */
  credentials(carrier: IdentityCarrier, maxTokenLength: number): RequestWithHeaders;
  /** One of our errors in the context's own form (HTTP: unchanged). Only called once `package` is loaded. */
  toError(error: IdentityHttpError): unknown;
}

export function isObject(value: unknown): value is Record<PropertyKey, unknown> {
  return typeof value === 'object' && value !== null;
}
