import type { HttpException } from '@nestjs/common';
import { providerFailure, retryAfterSeconds } from '../../provider-failure.js';

/** What a failed admin call was for, so that a 403 names what to grant and a 404 what was missing. */
export interface OktaFailureContext {
  /** The permission to name on a 403 (an Okta API scope, or an admin role for an API token). */
  permission: string;
  /** What was addressed, for 404 messages. */
  target?: string;
  /** Whether the adapter authenticates with an OAuth service app (then a 403 may be a missing scope). */
  oauth: boolean;
}

/** The SDK's HTTP header bag: node-fetch `Headers` on OktaApiError/HttpError, a plain record elsewhere. */
type HeaderBag = { get(name: string): string | null } | Record<string, unknown> | undefined;

interface SdkErrorShape {
  status?: unknown;
  headers?: HeaderBag;
  errorCode?: unknown;
  url?: unknown;
  name?: unknown;
  type?: unknown;
  code?: unknown;
}

function header(headers: HeaderBag, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as { get?: unknown }).get === 'function') return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  const value = (headers as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Seconds until Okta's rate-limit window resets. Okta sends `x-rate-limit-reset` as UTC epoch
 * seconds (https://developer.okta.com/docs/reference/rl-best-practices/); it is measured against
 * the answer's own `Date` so that a skewed local clock does not matter. A `Retry-After`, if any, wins.
 */
export function oktaRetryAfterSeconds(headers: HeaderBag, now = Date.now()): number | undefined {
  const retryAfter = retryAfterSeconds(header(headers, 'retry-after'), now);
  if (retryAfter !== undefined) return retryAfter;
  const reset = header(headers, 'x-rate-limit-reset');
  if (!reset || !/^\d{1,12}$/.test(reset.trim())) return undefined;
  const serverNow = Date.parse(header(headers, 'date') ?? '');
  const base = Number.isNaN(serverNow) ? now : serverNow;
  return Math.max(1, Math.ceil((Number(reset.trim()) * 1000 - base) / 1000));
}

/** The Okta API scope a 403 names in `www-authenticate: Bearer ..., scope="okta.apps.manage", error="insufficient_scope"`. */
function insufficientScope(headers: HeaderBag): string | undefined {
  const challenge = header(headers, 'www-authenticate');
  if (!challenge || !/error="insufficient_scope"/.test(challenge)) return undefined;
  const scope = /scope="([A-Za-z0-9._ ]{1,200})"/.exec(challenge)?.[1];
  return scope ?? '';
}

function isSdkError(error: unknown): error is SdkErrorShape {
  return typeof error === 'object' && error !== null;
}

/** Okta's documented error codes (E0000007); never its free-text summary. */
function oktaErrorCode(value: unknown): string | undefined {
  return typeof value === 'string' && /^E\d{7}$/.test(value) ? value : undefined;
}

/** Whether the failure came from the org authorization server's token endpoint (the SDK getting its own OAuth token). */
function fromManagementTokenEndpoint(error: SdkErrorShape): boolean {
  return typeof error.url === 'string' && /\/oauth2\/v1\/token(?:\?|$)/.test(error.url);
}

/** The admin role an API token's admin (or the OAuth service app) needs for the Apps API. */
export const OKTA_APP_ADMIN_ROLE = 'Application Administrator';
const OKTA_APP_ADMIN_ROLE_FOR_SERVICE_APP = `${OKTA_APP_ADMIN_ROLE} (admin role assigned to the service app)`;

/** The scopes the adapter's own token asks for, named when the org authorization server refuses them. */
export const OKTA_ADMIN_SCOPES = Object.freeze(['okta.apps.read', 'okta.apps.manage'] as const);

/**
 * The org authorization server refused the service app's token request. @okta/okta-sdk-nodejs
 * 8.1 does not notice such an answer itself (its oauth.js calls `Http.errorFilter` on the module
 * object, which is undefined, so the error body is cached as if it were a token and every call
 * then fails 401), so the adapter checks the token it gets and throws this instead.
 */
export class OktaTokenRefusedError extends Error {
  constructor(readonly oauthError: string | undefined) {
    super(`Okta refused the management API token request${oauthError ? ` (${oauthError})` : ''}`);
  }
}

/**
 * Maps whatever the SDK threw to our answer, through the shared `providerFailure()`:
 * OktaApiError/HttpError (`status`, `headers`), node-fetch's FetchError (`type: 'request-timeout'`
 * when the request executor's deadline passed), and the org token endpoint refusing the service
 * app (401 invalid_client → credentials; 400 invalid_scope → the scopes to grant).
 */
export function oktaFailure(operation: string, error: unknown, context: OktaFailureContext): HttpException {
  if (error instanceof OktaTokenRefusedError) {
    // invalid_scope: a scope the adapter asks for was not granted to the service app; anything else (invalid_client): the credentials.
    if (error.oauthError === 'invalid_scope') return providerFailure(operation, { status: 403, permission: OKTA_ADMIN_SCOPES.join(' and '), detail: 'token request refused: invalid_scope' });
    return providerFailure(operation, { status: 401, detail: `token request refused${error.oauthError ? `: ${error.oauthError}` : ''}` });
  }
  if (!isSdkError(error)) return providerFailure(operation, { detail: 'unexpected error' });
  if (error.name === 'FetchError' || error.name === 'AbortError') {
    if (error.type === 'request-timeout' || error.type === 'body-timeout' || error.name === 'AbortError') return providerFailure(operation, { timedOut: true });
    const code = typeof error.code === 'string' && /^E[A-Z_]{2,30}$/.test(error.code) ? error.code : typeof error.type === 'string' && /^[a-z-]{1,30}$/.test(error.type) ? error.type : 'connection failed';
    return providerFailure(operation, { detail: code });
  }
  const status = typeof error.status === 'number' ? error.status : undefined;
  if (status === undefined) return providerFailure(operation, { detail: 'unexpected error' });
  if (fromManagementTokenEndpoint(error)) {
    // Okta's org authorization server: invalid_client is 401, a scope the service app was not granted 400 invalid_scope.
    if (status === 400) return providerFailure(operation, { status: 403, permission: OKTA_ADMIN_SCOPES.join(' and '), detail: 'token request refused: invalid_scope' });
    if (status === 429) return providerFailure(operation, { status, retryAfterSeconds: oktaRetryAfterSeconds(error.headers) });
    return providerFailure(operation, { status: status === 401 ? 401 : status, detail: 'token request for the management API refused' });
  }
  if (status === 403) {
    // With OAuth, Okta says which scope was missing (insufficient_scope); a 403 without it means the
    // service app has the scope but no admin role allowing the call.
    const scope = context.oauth ? insufficientScope(error.headers) : undefined;
    const permission = scope || (context.oauth && scope === undefined ? OKTA_APP_ADMIN_ROLE_FOR_SERVICE_APP : context.permission);
    return providerFailure(operation, { status, permission, detail: oktaErrorCode(error.errorCode) });
  }
  return providerFailure(operation, {
    status,
    target: context.target,
    retryAfterSeconds: status === 429 ? oktaRetryAfterSeconds(error.headers) : undefined,
    detail: oktaErrorCode(error.errorCode),
  });
}

/** Whether the SDK error is Okta saying "no such resource" (E0000007). */
export function isOktaNotFound(error: unknown): boolean {
  return isSdkError(error) && error.status === 404;
}
