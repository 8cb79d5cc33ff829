import type { DevelopmentKeyAlg } from './keys.js';

/** `typ` header of issued access tokens: upstream s3db uses `JWT`, RFC 9068 providers `at+jwt`. */
export type AccessTokenTyp = 'JWT' | 'at+jwt';

export type TokenEndpointAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

/** The fixed resource owner of the password grant and of user-shaped tokens. */
export interface DevelopmentUser {
  id: string;
  email: string;
  name: string;
  tenantId: string;
  roles: string[];
  password: string;
}

/** A client to pre-register (option `clients`) or to add later with `idp.registerClient()`. */
export interface DevelopmentClientInput {
  clientId: string;
  /** Generated when omitted (ignored for `tokenEndpointAuthMethod: 'none'`). */
  clientSecret?: string;
  /** Allowed scopes (the client's registered `scope`); each must be a supported scope. */
  scopes: string[];
  /** Default resource/audience for this client's tokens (else the provider's `audience`). */
  audience?: string;
  /** `client_name`; also `service_account.name` in its tokens (else the client id). */
  name?: string;
  /** Copied into `service_account.tenantId`. */
  tenantId?: string;
  /** Default `client_secret_basic` (oidc-provider's default); `client_secret_post` is what upstream s3db reads. */
  tokenEndpointAuthMethod?: TokenEndpointAuthMethod;
  /** Default `['client_credentials']`. */
  grantTypes?: string[];
}

/** What `registerClient` returns: the credentials to use at the token endpoint. */
export interface RegisteredDevelopmentClient {
  clientId: string;
  /** Undefined for public clients (`tokenEndpointAuthMethod: 'none'`). */
  clientSecret?: string;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  scopes: string[];
  audience?: string;
}

export interface DevelopmentIdentityProviderOptions {
  /** Port on 127.0.0.1; default 0 (any free port). `restart()` reuses the port actually bound. */
  port?: number;
  /** Default resource/audience of access tokens. Default `https://api.example.com`. */
  audience?: string;
  /** Serve `/.well-known/s3db-identity.json`. Default true; false = OIDC discovery only. */
  s3dbDocument?: boolean;
  /** Access token lifetime in seconds. Default 900 (15 minutes, like upstream). */
  accessTokenTtl?: number;
  /** Clients registered at start (in addition to `web-app` and `dev-service-account`). */
  clients?: DevelopmentClientInput[];
  /** Supported scopes. Default `DEFAULT_DEVELOPMENT_SCOPES`. */
  scopes?: string[];
  /** Overrides of the fixed test user (Alice). */
  user?: Partial<DevelopmentUser>;
  /** `typ` header of access tokens. Default `JWT` (upstream); `at+jwt` for RFC 9068. */
  typ?: AccessTokenTyp;
  /**
   * RFC 7592 PUT issues a new client_secret (the old one stops working at once). Default false:
   * the PUT keeps the secret, exactly like stock oidc-provider, Keycloak and upstream s3db (RFC 7592
   * §2.2 lets a server keep it). The development provider is no kinder than real providers by
   * default, so a secret rotation that relies on RFC 7592 is judged "not supported" (501) here as it
   * would be in production; set true only to exercise a provider that does issue a new secret.
   */
  rotateClientSecretOnUpdate?: boolean;
  /** RFC 7592 PUT issues a new registration_access_token (oidc-provider's default). Default true. */
  rotateRegistrationAccessToken?: boolean;
  /**
   * A JSON file that lets the provider survive a process restart (`npm start` again): when it
   * exists, the provider starts with the signing keys (retired ones included), the published JWKS,
   * the current signing kid and the registered clients it holds; it is (re)written whenever keys or
   * clients change: at start, `registerClient()`, RFC 7591 registration, RFC 7592 update and delete,
   * `rotateKeys()` and `retireKey()`. So tokens signed before the restart still verify against the
   * JWKS, and a client that registered itself (RFC 7591) keeps its client_id, client_secret and
   * registration access token.
   *
   * Kept: every client oidc-provider stores (pre-registered, `registerClient`, RFC 7591) and the
   * RFC 7592 registration access tokens. Not kept: access tokens, grants, sessions, interactions and
   * request counters. A pre-registered client (option `clients`, `dev-service-account`, `web-app`)
   * found in the file keeps its stored secret unless the option gives a `clientSecret` explicitly;
   * its other metadata comes from the options. The port is not stored: since the issuer contains it,
   * give a fixed `port` when tokens issued before the restart (their `iss`) must stay valid.
   *
   * Written atomically (temporary file + rename) with mode 0600; a missing directory is created
   * with mode 0700. A file that cannot be parsed makes `start()` fail with an error naming it: delete
   * it to start over with new keys and clients.
   *
   * For local demos only: the file holds private signing keys and client secrets in plain JSON.
   */
  stateFile?: string;
}

export interface ServiceAccountTokenOptions {
  /** A client known to this provider (pre-registered, `registerClient`, or RFC 7591). Default `dev-service-account`. */
  clientId?: string;
  /** Requested scopes. Default: all scopes the client may request. `[]` sends no scope (token gets `scope: ""`). */
  scopes?: string[];
  /** `resource` parameter. Default: the client's audience or the provider's. */
  audience?: string;
}

export interface UserTokenOptions {
  /** Default `web-app`. */
  clientId?: string;
  /** Requested scopes. Default: all scopes the client may request. */
  scopes?: string[];
  audience?: string;
  /** Default: the configured user's email and password. */
  username?: string;
  password?: string;
}

export interface MintTokenOptions {
  /** Start from an upstream service-account payload (default) or a user payload. */
  kind?: 'service' | 'user';
  /** Merged over the base payload (shallow). */
  claims?: Record<string, unknown>;
  /** Merged over `{alg, typ, kid}`. */
  header?: Record<string, unknown>;
  /** Signs with this key when it is one of ours (even retired); otherwise only the header says this kid. */
  kid?: string;
  /** Which of the current keys signs: RS256 (default, the signing key), ES256 or EdDSA (Ed25519). */
  alg?: DevelopmentKeyAlg;
  /** Seconds from now to `exp`; negative for an expired token. Default `accessTokenTtl`. */
  expiresIn?: number;
  /** Claims removed from the final payload (e.g. `['exp']`, `['aud']`). */
  omit?: string[];
}

/** Requests received, by endpoint. Counted on arrival, before any injected delay or failure. */
export interface DevelopmentIdentityProviderStats {
  total: number;
  jwks: number;
  s3dbDocument: number;
  discovery: number;
  /** POST /oauth/register (RFC 7591). */
  registration: number;
  /** GET/PUT/DELETE /oauth/register/:clientId (RFC 7592). */
  registrationManagement: number;
  token: number;
  introspection: number;
  revocation: number;
  userinfo: number;
  authorization: number;
  /** Requests answered 503 by `setFailing(true)`. */
  failed: number;
  /** Every request by URL path (query string removed). */
  byPath: Record<string, number>;
}
