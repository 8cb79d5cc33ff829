import type { IdentityChallenge } from './identity-challenge.js';
import { IdentityHttpError } from './identity-http.error.js';

/** A valid token that lacks the scope or role a route needs (RFC 6750 §3.1 `insufficient_scope`). */
export class InsufficientScopeError extends IdentityHttpError {
  readonly code = 'insufficient_scope';
  constructor(
    /** The scopes the route requires, space-separated, as RFC 6750 `scope` expects. */
    readonly requiredScope: string | undefined,
    description: string,
  ) {
    super(403, description, 'insufficient_scope');
  }

  override headers(challenge: string | IdentityChallenge): Record<string, string> {
    return { 'WWW-Authenticate': this.challenge(challenge, this.requiredScope ? { scope: this.requiredScope } : {}) };
  }
}
