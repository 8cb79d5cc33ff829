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
 * The port through which service accounts (and the API's own auto-provisioned client) are
 * managed at the Identity provider. The default, `Rfc7592ServiceAccountProvider`, speaks RFC 7591
 * (create) and RFC 7592 (read, rotate, delete).
 *
 * Plug in another provider's admin API by implementing it and passing it as
 * `serviceAccountProvider`:
 * - Keycloak: create = `POST /admin/realms/{realm}/clients` (`serviceAccountsEnabled: true`,
 *   `publicClient: false`), rotate = `POST .../clients/{id}/client-secret`, get/delete =
 *   `GET`/`DELETE .../clients/{id}`, with an admin token from the `master` realm.
 * - Auth0: create = `POST /api/v2/clients` (`app_type: "non_interactive"`) plus a client grant
 *   for the audience, rotate = `POST /api/v2/clients/{id}/rotate-secret`, get/delete =
 *   `GET`/`DELETE /api/v2/clients/{id}`, with a Management API token.
 *
 * Rules for implementations:
 * - An operation the provider cannot do throws NotSupportedByProviderError (501), never a silent success.
 * - `rotate` must make the old secret stop working and return the new one; the record it returns
 *   replaces the stored one (so a rotated registration access token is kept).
 * - `get` answers undefined when the account no longer exists at the provider.
 * - `delete` of an account already gone at the provider succeeds.
 * - Client ids must be 1-128 characters of `A-Z a-z 0-9 . _ ~ -` (they become store keys).
 * - Other failures throw an HttpException (e.g. 502) with a safe message: never a secret or token.
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
