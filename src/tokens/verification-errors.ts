import { IdentityHttpError } from '../errors/identity-http.error.js';
import { InvalidTokenError } from '../errors/invalid-token.error.js';

/**
 * Turns whatever a Passport attempt reports into one of our HTTP errors. The strategy fails with
 * our own errors only; anything else (a library throwing, a bug) becomes a generic invalid_token:
 * a bad token must never surface as a 500, and no foreign message (which could echo token content
 * or expected values) reaches the response.
 */
export function toIdentityError(failure: unknown): IdentityHttpError {
  if (failure instanceof IdentityHttpError) return failure;
  return new InvalidTokenError('malformed');
}
