import { InvalidTokenError } from '../../errors/invalid-token.error.js';
import type { Identity } from '../../identity/identity.js';

/**
 * The synchronous revocation check (RevocationService has this shape): in memory, no I/O.
 * `onRevoked` lets open connections be closed the moment a revocation arrives.
 */
export interface RevocationCheck {
  isRevoked(identity: Identity): boolean;
  onRevoked?(listener: (matches: (identity: Identity) => boolean) => void): () => void;
}

/** When the identity's token expires (epoch ms), from its verified `exp`. */
export function expiresAt(identity: Identity): number {
  const exp = identity.claims.exp;
  // Every verified token has a numeric exp; anything else counts as expired.
  return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : 0;
}

/**
 * Why an identity kept across calls (a socket, a subscription connection) may no longer act: its
 * token expired or was revoked since it was verified. Undefined while it still holds. No I/O.
 */
export function endedBecause(identity: Identity, revocations: RevocationCheck | undefined, now = Date.now()): InvalidTokenError | undefined {
  if (now >= expiresAt(identity)) return new InvalidTokenError('expired');
  if (revocations?.isRevoked(identity)) return new InvalidTokenError('revoked');
  return undefined;
}
