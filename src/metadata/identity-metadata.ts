/** Where a metadata document came from. */
export type MetadataSource = 's3db' | 'oidc-discovery' | 'rfc8414' | 'inline';

/**
 * One typed view of the Identity provider, whatever document described it
 * (s3db `/.well-known/s3db-identity.json`, OIDC discovery, RFC 8414, or inline options).
 */
export interface IdentityMetadata {
  readonly source: MetadataSource;
  /** Schema version of an s3db document (1 upstream); 0 for other sources. */
  readonly version: number;
  readonly issuer: string;
  readonly jwksUrl: string;
  readonly discoveryUrl?: string;
  readonly authorizationUrl?: string;
  readonly tokenUrl?: string;
  readonly userinfoUrl?: string;
  readonly introspectionUrl?: string;
  readonly revocationUrl?: string;
  readonly supportedScopes: readonly string[];
  readonly supportedGrantTypes: readonly string[];
  readonly supportedResponseTypes: readonly string[];
  /** `token_endpoint_auth_methods_supported`; empty when the document does not say. */
  readonly tokenEndpointAuthMethods: readonly string[];
  readonly resources?: { readonly users?: string; readonly tenants?: string; readonly clients?: string };
  readonly clientRegistration?: { readonly url: string; readonly supportedAuth: readonly string[] };
  /** The document's own cache lifetime in seconds, when it states one. */
  readonly cacheTtl?: number;
  /** The document's `issuedAt` (informational: upstream sets it to "now" on every request). */
  readonly issuedAt?: string;
  /** True when the values came from verified RFC 8414 `signed_metadata`. */
  readonly signed: boolean;
  /** When this copy was fetched (or resolved, for inline metadata). */
  readonly fetchedAt: Date;
}

/** What users may pass as `metadata` (inline mode): the s3db document's fields, all but issuer/jwksUrl optional. */
export interface IdentityMetadataInput {
  issuer: string;
  jwksUrl: string;
  version?: number;
  discoveryUrl?: string;
  authorizationUrl?: string;
  tokenUrl?: string;
  userinfoUrl?: string;
  introspectionUrl?: string;
  revocationUrl?: string;
  supportedScopes?: string[];
  supportedGrantTypes?: string[];
  supportedResponseTypes?: string[];
  tokenEndpointAuthMethods?: string[];
  resources?: { users?: string; tenants?: string; clients?: string };
  clientRegistration?: { url: string; supportedAuth?: string[] };
  cacheTtl?: number;
}
