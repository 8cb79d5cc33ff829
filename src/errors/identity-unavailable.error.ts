import { IdentityHttpError } from './identity-http.error.js';

/**
 * The module cannot vouch for tokens right now (provider unreachable, metadata too stale).
 * This is the provider's fault, not the caller's: 503 with Retry-After, never "bad token".
 */
export class IdentityUnavailableError extends IdentityHttpError {
  readonly code = undefined;
  constructor(
    description = 'The Identity provider is unavailable; try again later',
    readonly retryAfterSeconds = 30,
  ) {
    super(503, description, undefined);
  }

  override headers(): Record<string, string> {
    return { 'Retry-After': String(this.retryAfterSeconds) };
  }
}
