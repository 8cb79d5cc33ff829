import type { HttpException } from '@nestjs/common';
import { providerFailure, retryAfterSeconds } from '../../provider-failure.js';

/**
 * What an Auth0 SDK (`auth0` v7) failure means for us. The SDK throws `ManagementError` (with
 * `statusCode`, `body` and `rawResponse.headers`) for every answer outside 2xx/3xx, and for its
 * own token request (`/oauth/token`, 408 when that request timed out). Its documented
 * `ManagementTimeoutError` is not what Node's fetch produces: the SDK aborts with the reason
 * string "timeout", fetch rejects with that string, and the SDK wraps it in a plain
 * `ManagementError` without a status whose `cause` is "timeout". Both shapes count as a timeout.
 *
 * Only the status, the Auth0 `errorCode` (or OAuth `error`) and the rate-limit headers are read:
 * never the SDK's message, which repeats the response body.
 */
export interface Auth0FailureContext {
  /** The Management API scope the failed call needs, named in the 403 message. */
  permission?: string;
  /** The client id (or API identifier) the call addressed, for 404 messages. */
  target?: string;
}

interface SdkErrorShape {
  name?: unknown;
  statusCode?: unknown;
  body?: unknown;
  cause?: unknown;
  rawResponse?: { headers?: { get?(name: string): string | null } };
}

/** True for errors the SDK threw (ManagementError and its subclasses, ManagementTimeoutError). */
export function isSdkError(error: unknown, sdk: { ManagementError: abstract new (...args: never[]) => unknown; ManagementTimeoutError: abstract new (...args: never[]) => unknown }): boolean {
  return error instanceof sdk.ManagementError || error instanceof sdk.ManagementTimeoutError;
}

/** Whether an SDK error is a timeout (see the note above on the shapes it takes). */
export function isSdkTimeout(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const shaped = error as SdkErrorShape;
  if (shaped.name === 'ManagementTimeoutError') return true;
  if (shaped.statusCode === 408) return true;
  if (shaped.statusCode !== undefined) return false;
  const cause = shaped.cause;
  if (cause === 'timeout') return true;
  const causeName = typeof cause === 'object' && cause !== null ? (cause as { name?: unknown }).name : undefined;
  return causeName === 'TimeoutError' || causeName === 'AbortError';
}

/**
 * Seconds to wait after a 429: Retry-After when sent, else Auth0's `x-ratelimit-reset` (a UNIX
 * timestamp in seconds, https://auth0.com/docs/troubleshoot/customer-support/operational-policies/rate-limit-policy).
 */
export function auth0RetryAfterSeconds(headers: { get?(name: string): string | null } | undefined, now = Date.now()): number | undefined {
  if (!headers?.get) return undefined;
  const fromRetryAfter = retryAfterSeconds(headers.get('retry-after'), now);
  if (fromRetryAfter !== undefined && fromRetryAfter > 0) return fromRetryAfter;
  const reset = headers.get('x-ratelimit-reset')?.trim();
  if (!reset || !/^\d{1,12}$/.test(reset)) return undefined;
  return Math.max(1, Math.ceil(Number(reset) - now / 1000));
}

/** Auth0's `errorCode` (Management API) or `error` (token endpoint), only when it is a plain code. */
function errorCodeOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { errorCode, error } = body as { errorCode?: unknown; error?: unknown };
  for (const value of [errorCode, error]) {
    if (typeof value === 'string' && /^[a-z_]{1,64}$/.test(value)) return value;
  }
  return undefined;
}

/** The one mapping of an SDK error to our answer, through providerFailure(). */
export function auth0Failure(operation: string, error: unknown, context: Auth0FailureContext = {}): HttpException {
  if (isSdkTimeout(error)) return providerFailure(operation, { timedOut: true });
  const shaped = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  const status = typeof shaped.statusCode === 'number' ? shaped.statusCode : undefined;
  if (status === undefined) return providerFailure(operation, { detail: 'the Auth0 Management API could not be reached' });
  return providerFailure(operation, {
    status,
    retryAfterSeconds: status === 429 ? auth0RetryAfterSeconds(shaped.rawResponse?.headers) : undefined,
    permission: context.permission,
    target: context.target,
    detail: errorCodeOf(shaped.body),
  });
}
