import type { JwtClaims } from './jwt-claims.js';

export type ClaimsPresetName = 's3db' | 'keycloak' | 'auth0' | 'entra';
export type IdentityKind = 'user' | 'service';

/** A claim path (see readClaim), several paths (values merged for lists, first found for strings), or a function. */
export type ClaimReader = string | readonly string[] | ((claims: JwtClaims) => unknown);

/**
 * How to read an Identity out of verified claims. Start from a preset (`preset`) and override
 * any field, or write every field yourself.
 */
export interface ClaimsMapping {
  preset?: ClaimsPresetName;
  /** Granted scopes: a space-separated string or an array. */
  scopes?: ClaimReader;
  roles?: ClaimReader;
  tenant?: ClaimReader;
  email?: ClaimReader;
  name?: ClaimReader;
  /** The OAuth client the token was issued to. */
  clientId?: ClaimReader;
  /** Audiences registered for a service account (defaults to the token's `aud`). */
  audiences?: ClaimReader;
  /**
   * Person or service account. Return 'ambiguous' when the token claims both: such tokens are
   * refused (401 invalid_token), never given the union of both.
   */
  kind?: (claims: JwtClaims) => IdentityKind | 'ambiguous';
  /** Keycloak: the client whose `resource_access.<client>.roles` count as roles. */
  keycloakClientId?: string;
  /** Auth0: the namespaced claim that holds roles, e.g. `https://example.com/roles`. */
  auth0RolesClaim?: string;
}
