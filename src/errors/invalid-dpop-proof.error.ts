import { IdentityHttpError } from './identity-http.error.js';

/**
 * Why a DPoP proof was refused (RFC 9449 §4.3). A small fixed set: it labels
 * `identity_dpop_proofs_total{result}` and picks the `error_description`, so it never carries
 * proof or token content.
 */
export type InvalidDpopProofReason =
  | 'missing'
  | 'multiple'
  | 'malformed'
  | 'too_large'
  | 'typ'
  | 'alg'
  | 'jwk'
  | 'private_key'
  | 'signature'
  | 'claims'
  | 'htm'
  | 'htu'
  | 'iat'
  | 'ath'
  | 'key_mismatch'
  | 'replay';

const DESCRIPTIONS: Record<InvalidDpopProofReason, string> = {
  missing: 'A DPoP proof is required: send exactly one DPoP header',
  multiple: 'Send exactly one DPoP header',
  malformed: 'The DPoP proof is not a well-formed JWS',
  too_large: 'The DPoP proof is too large',
  typ: 'The DPoP proof must have typ dpop+jwt',
  alg: 'The DPoP proof is signed with an algorithm that is not allowed',
  jwk: 'The DPoP proof header must carry a usable public jwk that fits its alg',
  private_key: 'The DPoP proof jwk contains private key material',
  signature: 'The DPoP proof signature is invalid',
  claims: 'The DPoP proof must carry jti, htm, htu and iat claims and the ath of the access token',
  htm: 'The DPoP proof htm does not match the request method',
  htu: 'The DPoP proof htu does not match the request URL',
  iat: 'The DPoP proof iat is outside the accepted window',
  ath: 'The DPoP proof ath does not match the access token',
  key_mismatch: 'The DPoP proof key is not the key the access token is bound to',
  replay: 'The DPoP proof was already used',
};

/** A DPoP proof that cannot be accepted (RFC 9449 §7.1 `invalid_dpop_proof`), answered in the DPoP challenge. */
export class InvalidDpopProofError extends IdentityHttpError {
  readonly code = 'invalid_dpop_proof';
  constructor(readonly reason: InvalidDpopProofReason) {
    super(401, DESCRIPTIONS[reason], 'invalid_dpop_proof');
    this.challengeFor(undefined, 'DPoP');
  }
}
