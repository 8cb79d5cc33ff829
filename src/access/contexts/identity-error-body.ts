import { IdentityHttpError } from '../../errors/identity-http.error.js';
import { IdentityUnavailableError } from '../../errors/identity-unavailable.error.js';
import { InsufficientScopeError } from '../../errors/insufficient-scope.error.js';

/**
 * An RFC 6750 answer outside HTTP: what a WebSocket client, a message sender or a GraphQL client
 * gets instead of a status line and WWW-Authenticate. The same fields as the HTTP JSON body
 * (`statusCode`, `error`, `message`) plus `error_description`, and `scope` / `retryAfter` where
 * the HTTP answer has them as header parameters. Never token content.
 */
export interface IdentityErrorBody {
  statusCode: number;
  /** `invalid_token`, `invalid_request`, `insufficient_scope`; `unauthorized` when no token was sent; `temporarily_unavailable` (503). */
  error: string;
  error_description: string;
  message: string;
  /** The scopes a refused call needed (insufficient_scope). */
  scope?: string;
  /** Seconds to wait (503). */
  retryAfter?: number;
}

export function isIdentityError(error: unknown): error is IdentityHttpError {
  return error instanceof IdentityHttpError;
}

export function identityErrorBody(error: IdentityHttpError): IdentityErrorBody {
  const response = error.getResponse() as { error?: unknown };
  const body: IdentityErrorBody = {
    statusCode: error.getStatus(),
    error: error.code ?? (typeof response.error === 'string' ? response.error : 'unauthorized'),
    error_description: error.description,
    message: error.description,
  };
  if (error instanceof InsufficientScopeError && error.requiredScope) body.scope = error.requiredScope;
  if (error instanceof IdentityUnavailableError) body.retryAfter = error.retryAfterSeconds;
  return body;
}

/** GraphQL `extensions.code` for an answer: the usual Apollo codes. */
export function graphqlCode(error: IdentityHttpError): string {
  const status = error.getStatus();
  if (status === 403) return 'FORBIDDEN';
  if (status === 503) return 'SERVICE_UNAVAILABLE';
  // 401 and 400 (a malformed credential): the caller is not authenticated.
  return 'UNAUTHENTICATED';
}

/**
 * WebSocket close code for an answer that ends a connection: 4401 unauthenticated (no, invalid,
 * expired or revoked token), 4403 forbidden (insufficient scope), 4400 bad request (a malformed
 * credential), 1013 try again later (the provider is unavailable).
 */
export function closeCode(error: IdentityHttpError): number {
  const status = error.getStatus();
  if (status === 403) return 4403;
  if (status === 400) return 4400;
  if (status === 503) return 1013;
  return 4401;
}

/** A close reason within the 123 bytes a close frame allows. Our descriptions are short ASCII. */
export function closeReason(error: IdentityHttpError): string {
  return error.description.slice(0, 120);
}
