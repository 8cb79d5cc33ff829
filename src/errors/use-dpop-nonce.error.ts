import type { IdentityChallenge } from './identity-challenge.js';
import { IdentityHttpError } from './identity-http.error.js';

/**
 * The resource server wants a server-provided nonce in the DPoP proof (RFC 9449 §9): 401
 * `use_dpop_nonce` with the nonce to use in `DPoP-Nonce`. The client retries with a new proof.
 */
export class UseDpopNonceError extends IdentityHttpError {
  readonly code = 'use_dpop_nonce';
  constructor(
    /** The nonce the next proof must carry. */
    readonly nonce: string,
    description = 'Resource server requires nonce in DPoP proof',
  ) {
    super(401, description, 'use_dpop_nonce');
    this.challengeFor(undefined, 'DPoP');
  }

  override headers(challenge: string | IdentityChallenge): Record<string, string> {
    return { 'WWW-Authenticate': this.challenge(challenge), 'DPoP-Nonce': this.nonce };
  }
}
