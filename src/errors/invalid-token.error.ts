import { IdentityHttpError } from './identity-http.error.js';

/**
 * Why a token was refused. A small fixed set: it labels metrics and picks the
 * `error_description`, so it never carries token content.
 */
export type InvalidTokenReason =
  | 'malformed'
  | 'too_large'
  | 'algorithm'
  | 'type'
  | 'crit'
  | 'embedded_key'
  | 'unknown_key'
  | 'signature'
  | 'expired'
  | 'not_yet_valid'
  | 'issued_in_future'
  | 'issuer'
  | 'audience'
  | 'claims'
  | 'ambiguous_identity'
  | 'revoked'
  | 'dpop_bound'
  | 'not_dpop_bound'
  | 'dpop_required'
  | 'dpop_scheme_off';

const DESCRIPTIONS: Record<InvalidTokenReason, string> = {
  malformed: 'The access token is malformed',
  too_large: 'The access token is too large',
  algorithm: 'The access token is signed with an algorithm that is not allowed',
  type: 'The access token has a type that is not accepted',
  crit: 'The access token has critical header parameters that are not understood',
  embedded_key: 'The access token embeds its own key, which is never trusted',
  unknown_key: 'The access token is signed by an unknown key',
  signature: 'The access token signature is invalid',
  expired: 'The access token expired',
  not_yet_valid: 'The access token is not yet valid',
  issued_in_future: 'The access token was issued in the future',
  issuer: 'The access token was issued by an untrusted issuer',
  audience: 'The access token is not meant for this resource server',
  claims: 'The access token has missing or invalid claims',
  ambiguous_identity: 'The access token claims to be both a user and a service account',
  revoked: 'The access token was revoked',
  dpop_bound: 'The access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof, never as a Bearer token',
  not_dpop_bound: 'The access token is not DPoP-bound: a Bearer token cannot be sent with the DPoP scheme',
  dpop_required: 'This resource requires a DPoP-bound access token sent with the DPoP scheme and a DPoP proof',
  dpop_scheme_off: 'The access token is DPoP-bound, and this resource does not accept DPoP',
};

/** A token that was presented but cannot be accepted (RFC 6750 §3.1 `invalid_token`). */
export class InvalidTokenError extends IdentityHttpError {
  readonly code = 'invalid_token';
  constructor(readonly reason: InvalidTokenReason) {
    super(401, DESCRIPTIONS[reason], 'invalid_token');
  }
}
