/** The authentication schemes a challenge can name: RFC 6750 Bearer and RFC 9449 DPoP. */
export type AuthScheme = 'Bearer' | 'DPoP';

/**
 * What every `WWW-Authenticate` challenge of this resource server says besides the error itself:
 * the realm, the schemes it accepts (in the order they are offered), the DPoP algorithms, and
 * where its RFC 9728 metadata is. Built once at boot (`ResolvedIdentityOptions.challenge`); a route
 * that demands DPoP gets a variant that offers DPoP alone.
 */
export interface IdentityChallenge {
  readonly realm: string;
  /** Offered in a 401, in this order. Bearer comes first when offered: some clients read only the first challenge. */
  readonly schemes: readonly AuthScheme[];
  /** `algs` of the DPoP challenge (RFC 9449 §7.1), space-separated in the header. */
  readonly dpopAlgs?: readonly string[];
  /** RFC 9728 §5.1 `resource_metadata`: the URL of this resource's protected-resource metadata. */
  readonly resourceMetadata?: string;
}

/** The challenge of a Bearer-only resource server with nothing but a realm (what `headers(realm)` means). */
export function bearerChallenge(realm: string): IdentityChallenge {
  return { realm, schemes: BEARER };
}

const BEARER: readonly AuthScheme[] = Object.freeze(['Bearer']);

/** The same challenge, offering only DPoP (a route or a resource where DPoP is required). */
export function dpopOnly(challenge: IdentityChallenge): IdentityChallenge {
  return Object.freeze({ ...challenge, schemes: Object.freeze(['DPoP'] as AuthScheme[]) });
}
