import { GatewayTimeoutException, HttpException, NotFoundException } from '@nestjs/common';
import { IdentityHttpError } from '../errors/identity-http.error.js';
import { ProviderRequestError } from './provider-request.error.js';

/** The provider's admin API rate-limited us: 503 with the provider's Retry-After, so the caller backs off. */
export class ProviderRateLimitedError extends IdentityHttpError {
  readonly code = 'temporarily_unavailable';
  constructor(
    readonly operation: string,
    readonly retryAfterSeconds: number,
  ) {
    super(503, `${operation} was rate-limited by the Identity provider; try again in ${retryAfterSeconds} s`, 'temporarily_unavailable');
  }

  override headers(): Record<string, string> {
    return { 'Retry-After': String(this.retryAfterSeconds) };
  }
}

/** The provider's admin API did not answer in time: 504, and nothing was changed on our side. */
export class ProviderTimeoutError extends GatewayTimeoutException {
  constructor(readonly operation: string) {
    super({ statusCode: 504, error: 'identity_provider_timeout', message: `${operation} timed out at the Identity provider; nothing was changed here, try again` });
  }
}

/** The account (or client) no longer exists at the provider. */
export class ProviderAccountMissingError extends NotFoundException {
  constructor(readonly operation: string, target: string) {
    super({ statusCode: 404, error: 'not_found_at_provider', message: `${operation} failed: "${target}" does not exist at the Identity provider` });
  }
}

export interface ProviderFailure {
  /** The provider's HTTP status, when it answered. */
  status?: number;
  /** The request hit our deadline (or the SDK's). */
  timedOut?: boolean;
  /** Seconds from the provider's Retry-After (or rate-limit reset) header, when it sent one. */
  retryAfterSeconds?: number;
  /** The vendor's name for what the admin credentials need for this operation, e.g. `manage-clients`. */
  permission?: string;
  /** What was addressed (a client id), for 404 messages. */
  target?: string;
  /** A short safe description (the provider's error code, never its free text or a secret). */
  detail?: string;
}

const DEFAULT_RETRY_AFTER_SECONDS = 30;

/**
 * The one mapping from a provider admin-API failure to our answer, shared by every adapter:
 * 401/403 → 502 naming the missing permission (our credentials are the problem, not the
 * caller's), 404 → 404, 429 → 503 with Retry-After, a timeout → 504, anything else → 502.
 */
export function providerFailure(operation: string, failure: ProviderFailure): HttpException {
  if (failure.timedOut) return new ProviderTimeoutError(operation);
  const { status } = failure;
  const detail = failure.detail ? ` (${failure.detail.replace(/[^\x20-\x7E]/g, '').slice(0, 120)})` : '';
  if (status === 401) {
    return new ProviderRequestError(operation, `the provider refused the adapter's admin credentials (HTTP 401${detail}); check the adapter's credentials option`);
  }
  if (status === 403) {
    const needs = failure.permission ? `; grant them "${failure.permission}"` : '';
    return new ProviderRequestError(operation, `the adapter's admin credentials lack a permission (HTTP 403${detail})${needs}`);
  }
  if (status === 404) return new ProviderAccountMissingError(operation, failure.target ?? 'the service account');
  if (status === 429) {
    const seconds = failure.retryAfterSeconds && Number.isFinite(failure.retryAfterSeconds) && failure.retryAfterSeconds > 0 ? Math.ceil(failure.retryAfterSeconds) : DEFAULT_RETRY_AFTER_SECONDS;
    return new ProviderRateLimitedError(operation, Math.min(seconds, 3600));
  }
  return new ProviderRequestError(operation, status ? `HTTP ${status}${detail}` : `no answer${detail}`);
}

/** Seconds to wait from a Retry-After header value (delta-seconds or an HTTP date), or undefined. */
export function retryAfterSeconds(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d{1,7}$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(1, Math.ceil((at - now) / 1000));
}
