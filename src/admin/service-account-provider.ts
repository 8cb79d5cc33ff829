/** What a provider knows about one service account (an OAuth client using client_credentials). */
export interface ServiceAccountRecord {
  clientId: string;
  name: string;
  scopes: string[];
  audience?: string;
  createdAt: string;
  rotatedAt?: string;
  /** RFC 7592 management handle, when the provider gave one. */
  registrationClientUri?: string;
  /** RFC 7592 bearer for registrationClientUri: secret, sealed at rest. */
  registrationAccessToken?: string;
  tokenEndpointAuthMethod?: string;
}

export interface CreateServiceAccountInput {
  name: string;
  scopes: string[];
  audience?: string;
}

/** A record plus the secret, which is returned exactly once. */
export interface IssuedServiceAccount {
  record: ServiceAccountRecord;
  clientSecret: string;
}

/**
 * The port through which service accounts are managed at the Identity provider. The default
 * implementation speaks RFC 7591 (create) and RFC 7592 (read, rotate, delete). Plug in
 * Keycloak's or Auth0's admin API by implementing it. An operation the provider cannot do must
 * throw NotSupportedByProviderError, never succeed silently.
 */
export interface ServiceAccountProvider {
  create(input: CreateServiceAccountInput): Promise<IssuedServiceAccount>;
  /** Issues a new secret; the old one must stop working. */
  rotate(record: ServiceAccountRecord): Promise<IssuedServiceAccount>;
  /** Reads the account at the provider, or undefined when it no longer exists there. */
  get(record: ServiceAccountRecord): Promise<ServiceAccountRecord | undefined>;
  delete(record: ServiceAccountRecord): Promise<void>;
}

export const IDENTITY_SERVICE_ACCOUNT_PROVIDER = Symbol('IDENTITY_SERVICE_ACCOUNT_PROVIDER');
