import { IdentityHttpError } from '../errors/identity-http.error.js';
import { InvalidTokenError, type InvalidTokenReason } from '../errors/invalid-token.error.js';

/** jsonwebtoken's messages, mapped to our fixed reasons (its messages may echo expected values). */
const JSONWEBTOKEN_MESSAGES: Array<[RegExp, InvalidTokenReason]> = [
  [/^invalid signature$/, 'signature'],
  [/^jwt signature is required$/, 'signature'],
  [/^jwt audience invalid/, 'audience'],
  [/^jwt issuer invalid/, 'issuer'],
  [/^invalid algorithm$/, 'algorithm'],
  [/"alg" parameter/, 'algorithm'],
  [/^jwt malformed$/, 'malformed'],
  [/^invalid token$/, 'malformed'],
  [/^invalid (exp|nbf) value$/, 'claims'],
  [/^jwt (subject|id|nonce) invalid/, 'claims'],
  [/^secret or public key must be provided$/, 'unknown_key'],
  [/^secretOrPublicKey (must be|is not valid)/, 'unknown_key'],
  [/^jwt must be (provided|a string)$/, 'malformed'],
];

/**
 * Turns whatever the Passport chain reports (our errors, jsonwebtoken's, anything else) into
 * one of our HTTP errors. Unknown failures become a generic invalid_token: a bad token must
 * never surface as a 500.
 */
export function toIdentityError(failure: unknown): IdentityHttpError {
  if (failure instanceof IdentityHttpError) return failure;
  if (failure instanceof Error) {
    if (failure.name === 'TokenExpiredError') return new InvalidTokenError('expired');
    if (failure.name === 'NotBeforeError') return new InvalidTokenError('not_yet_valid');
    if (failure.name === 'JsonWebTokenError') {
      for (const [pattern, reason] of JSONWEBTOKEN_MESSAGES) if (pattern.test(failure.message)) return new InvalidTokenError(reason);
    }
    // ecdsa-sig-formatter refuses ECDSA signatures of the wrong length (e.g. DER instead of r||s).
    if (/signatures must be/.test(failure.message)) return new InvalidTokenError('signature');
    // Node's crypto throws (rather than answering false) on some signatures it cannot even parse.
    const code = (failure as { code?: unknown }).code;
    if (typeof code === 'string' && /^ERR_(OSSL|CRYPTO)_/.test(code)) return new InvalidTokenError('signature');
  }
  return new InvalidTokenError('malformed');
}
