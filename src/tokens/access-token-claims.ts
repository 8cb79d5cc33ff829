import { InvalidTokenError } from '../errors/invalid-token.error.js';
import type { JwtClaims } from '../identity/jwt-claims.js';

/** What the registered claims of an access token must match (RFC 7519 §4.1, RFC 9068 §4). */
export interface AccessTokenClaimsPolicy {
  readonly issuer: string;
  readonly audiences: readonly string[];
  /** Seconds of clock skew allowed on exp, nbf and iat. */
  readonly clockTolerance: number;
}

/** Tokens claiming to live longer than this are refused: no issuer mints ten-year access tokens. */
const MAX_LIFETIME_SECONDS = 10 * 365 * 24 * 3600;

const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/**
 * Checks the registered claims of a token whose signature already verified; throws
 * InvalidTokenError with the first reason found. `nowMs` is the current time in milliseconds.
 *
 * - `nbf`, when present, a number no later than now plus the tolerance;
 * - `exp` required, a number, and now earlier than exp plus the tolerance (refused from the
 *   millisecond now reaches exp + tolerance, which is when the verified-token cache drops the
 *   entry too), and no more than ten years away;
 * - `aud` a string, or an array of strings only, containing one of the configured audiences;
 * - `iss` exactly the configured issuer (no normalisation: a trailing slash is another issuer);
 * - `iat`, when present, a number not in the future beyond the tolerance.
 */
export function checkAccessTokenClaims(claims: JwtClaims, policy: AccessTokenClaimsPolicy, nowMs: number): void {
  const now = nowMs / 1000;
  const tolerance = policy.clockTolerance;
  const { nbf, exp, aud, iss, iat } = claims;
  if (nbf !== undefined) {
    if (!isNumber(nbf)) throw new InvalidTokenError('claims');
    if (nbf > now + tolerance) throw new InvalidTokenError('not_yet_valid');
  }
  if (!isNumber(exp)) throw new InvalidTokenError('claims');
  if (now >= exp + tolerance) throw new InvalidTokenError('expired');
  if (!hasAudience(aud, policy.audiences)) throw new InvalidTokenError('audience');
  if (iss !== policy.issuer) throw new InvalidTokenError('issuer');
  if (exp - now > MAX_LIFETIME_SECONDS) throw new InvalidTokenError('claims');
  if (iat !== undefined) {
    if (!isNumber(iat)) throw new InvalidTokenError('claims');
    if (iat > now + tolerance) throw new InvalidTokenError('issued_in_future');
  }
}

/** RFC 7519 §4.1.3: a string, or an array of strings only, containing one of ours. */
function hasAudience(aud: unknown, audiences: readonly string[]): boolean {
  if (typeof aud === 'string') return audiences.includes(aud);
  if (!Array.isArray(aud) || !aud.every((value) => typeof value === 'string')) return false;
  return aud.some((value: string) => audiences.includes(value));
}
