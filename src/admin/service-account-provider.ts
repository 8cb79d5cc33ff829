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
  /** The provider's own id for the client when it differs from `clientId` (Keycloak's internal UUID, Okta's app id). */
  providerId?: string;
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

export interface RotateServiceAccountOptions {
  /**
   * Ask the provider to end the previous secret now rather than at the end of its grace window
   * (Keycloak's `invalidate-rotated`, Okta's deactivate-and-delete). Adapters without a grace window ignore it.
   */
  invalidatePrevious?: boolean;
}

/** What `rotate` reports: the new secret, and what it knows of the previous one. */
export interface RotatedServiceAccount extends IssuedServiceAccount {
  /**
   * The secret in force before the rotation, when the provider let the adapter read it. The
   * caller compares it with `clientSecret` and tries it once at the token endpoint to confirm it
   * was retired. Undefined when the provider never reveals it: the rotation is then reported as
   * unconfirmed, never as a success.
   */
  previousSecret?: string;
  /**
   * Set only by adapters whose provider documents a grace window: until when the previous
   * secret keeps working (Keycloak's rotated-secret expiry, Auth0's propagation delay).
   */
  previousSecretValidUntil?: Date;
  /** How the rotation was asked for, for messages: "RFC 7592 update", "Keycloak regenerate-secret". */
  via?: string;
}

/** One thing the adapter's admin credentials cannot do, named so an operator can grant it. */
export interface ProviderPermissionProblem {
  /** The permission, role or scope as the vendor names it, e.g. `manage-clients`, `update:client_keys`, `okta.apps.manage`. */
  permission: string;
  /** What fails without it, e.g. "rotating secrets". */
  neededFor: string;
}

/**
 * The port through which service accounts (and the API's own auto-provisioned client) are
 * managed at the Identity provider. The default, `Rfc7592ServiceAccountProvider`, speaks RFC 7591
 * (create) and RFC 7592 (read, rotate, delete). `nestjs-identity/keycloak`, `nestjs-identity/auth0`
 * and `nestjs-identity/okta` provide adapters for those vendors' admin APIs (through their SDKs).
 *
 * Rules for implementations:
 * - An operation the provider cannot do throws NotSupportedByProviderError (501), never a silent success.
 * - `rotate` returns the provider's new secret and, whenever the provider lets it be read, the
 *   previous one (`previousSecret`); the caller refuses a rotation that kept the same secret
 *   (501) and confirms at the token endpoint that the old one died (502 when it did not).
 *   Adapters with a documented grace window say until when in `previousSecretValidUntil`.
 *   The record it returns replaces the stored one (so a rotated registration access token is kept).
 * - `get` answers undefined when the account no longer exists at the provider.
 * - `delete` of an account already gone at the provider succeeds.
 * - Client ids must be 1-128 characters of `A-Z a-z 0-9 . _ ~ -` (they become store keys).
 * - Provider failures go through `providerFailure()` (`provider-failure.ts`): 401/403 → 502 naming
 *   the missing permission, 404 → 404, 429 → 503 with Retry-After, a timeout → 504, anything
 *   else → 502. Messages are safe: never a secret or token.
 */
export interface ServiceAccountProvider {
  /** Short name for messages, `doctor` and the README's support table: `rfc7592`, `keycloak`, `auth0`, `okta`. */
  readonly kind?: string;
  /**
   * The token endpoint the managed clients get their tokens from, when it is not the module's
   * issuer's (an Okta custom authorization server, another Keycloak realm): secrets are tried there.
   */
  readonly tokenUrl?: string;
  create(input: CreateServiceAccountInput): Promise<IssuedServiceAccount>;
  /** Issues a new secret; see RotatedServiceAccount for what must be reported about the old one. */
  rotate(record: ServiceAccountRecord, options?: RotateServiceAccountOptions): Promise<RotatedServiceAccount>;
  /** Reads the account at the provider, or undefined when it no longer exists there. */
  get(record: ServiceAccountRecord): Promise<ServiceAccountRecord | undefined>;
  /** The service accounts the provider holds (those this adapter would manage), when it can list them. */
  list?(): Promise<ServiceAccountRecord[]>;
  delete(record: ServiceAccountRecord): Promise<void>;
  /**
   * Checks the adapter's own admin credentials: resolves with the permissions they lack (empty
   * when all is well). Run at boot (a problem is logged and shown in health) and by `doctor`.
   */
  checkPermissions?(): Promise<ProviderPermissionProblem[]>;
}

export const IDENTITY_SERVICE_ACCOUNT_PROVIDER = Symbol('IDENTITY_SERVICE_ACCOUNT_PROVIDER');
