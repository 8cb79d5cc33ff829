import type { ClaimsMapping, ClaimsPresetName } from './identity/claims-mapping.js';
import type { IdentityMetadataInput } from './metadata/identity-metadata.js';
import type { CredentialStore } from './client/credential-store.js';
import type { AuditSink } from './audit/audit-sink.js';
import type { ServiceAccountProvider } from './admin/service-account-provider.js';
import { IdentityConfigurationError } from './errors/identity-configuration.error.js';
import { assertKnownOptions } from './options/unknown-options.js';
import type { AuthScheme, IdentityChallenge } from './errors/identity-challenge.js';
import { resolveDpopOptions, type DpopOptions, type ResolvedDpopOptions } from './dpop/dpop-options.js';
import {
  resolveResourceMetadataOptions,
  type ResolvedResourceMetadataOptions,
  type ResourceMetadataOptions,
} from './resource-metadata/resource-metadata-options.js';

/**
 * Asymmetric JWS algorithms we accept (RFC 7518 §3, RFC 8037 EdDSA with Ed25519 or Ed448 keys).
 * HMAC and `none` can never be configured.
 */
export const SUPPORTED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export type JwtAlgorithm = (typeof SUPPORTED_ALGORITHMS)[number];

export type TokenEndpointAuthMethod = 'client_secret_basic' | 'client_secret_post';

export interface IdentityClientOptions {
  clientId?: string;
  clientSecret?: string;
  /** Registered with auto-provisioning (upstream rejects registrations without a redirect URI). */
  redirectUri?: string;
  tokenEndpointAuthMethod?: TokenEndpointAuthMethod;
}

export interface AutoProvisionOptions {
  name?: string;
  scopes?: string[];
  audience?: string;
}

export type CredentialStoreOption =
  | CredentialStore
  | { type: 'file'; path: string }
  | { type: 'redis'; url: string; keyPrefix?: string };

export interface IdentityModuleOptions {
  /** Base URL of the Identity provider, e.g. `https://auth.example.com`. */
  url?: string;
  /** Expected `iss`; defaults to `url`. Must equal the metadata's issuer exactly. */
  issuer?: string;
  /** Known metadata (in-process mode): no HTTP fetch of metadata happens. */
  metadata?: IdentityMetadataInput | (() => IdentityMetadataInput | Promise<IdentityMetadataInput>);
  /** Required: the `aud` value(s) this API accepts. Default: `resourceMetadata.resource`, when that is set. */
  audience?: string | string[];
  /** Asymmetric algorithms accepted. Default RS256, PS256, ES256. */
  algorithms?: JwtAlgorithm[];
  /** Seconds of clock skew tolerated for exp/nbf/iat. Default 5. */
  clockTolerance?: number;
  /** Seconds metadata and JWKS are cached. Default: the metadata's own `cacheTtl`, else 3600. */
  cacheTtl?: number;
  /** Seconds past expiry a last good copy may still serve while the provider is down. Default 3 × cacheTtl. */
  maxStale?: number;
  /** Fail the boot when metadata cannot be loaded. Default true. */
  require?: boolean;
  /** Never serve from a stale or persisted copy: refuse (503 / boot error) instead. Default false. */
  requireFreshMetadata?: boolean;
  /** Demand RFC 8414 `signed_metadata` verified against the issuer's keys. Default false. */
  requireSignedMetadata?: boolean;
  /** Demand `typ: at+jwt` (RFC 9068). Default false: `JWT` and `at+jwt` are accepted. */
  requireAccessTokenType?: boolean;
  /** Allow `http://` URLs outside loopback. Development only. Default false. */
  allowInsecureHttp?: boolean;
  /** Hosts that metadata URLs may point to besides the issuer's own host. */
  allowedHosts?: string[];
  /** Outbound HTTP limits. */
  http?: { timeoutMs?: number; maxBytes?: number };
  /** How identity is read from tokens: a preset name or a mapping. Default `'s3db'`. */
  claims?: ClaimsPresetName | ClaimsMapping;
  /** Register the guard app-wide: deny by default, `@Public()` opts out. Default false. */
  global?: boolean;
  /** The `realm` in WWW-Authenticate. Default: the first audience. */
  realm?: string;
  /** Longest token accepted, in characters, checked before any decoding. Default 8192. */
  maxTokenLength?: number;
  /** Verified-token cache. Default 10,000 entries / 16 MiB. `false` turns it off. */
  tokenCache?: { maxEntries?: number; maxBytes?: number } | false;
  /** Seconds between JWKS refetches triggered by unknown `kid`s. Default 30. */
  jwksCooldown?: number;

  /** The API's own confidential client. */
  client?: IdentityClientOptions;
  /** Register the API's client through RFC 7591 when no credentials are known. */
  autoProvision?: boolean | AutoProvisionOptions;
  /** 32 bytes, base64 or hex: seals secrets at rest (AES-256-GCM). */
  encryptionKey?: string;
  /** Where credentials, service-account records and the last good metadata live. */
  store?: CredentialStoreOption;
  /**
   * Admin routes for service accounts (`/admin/identity/service-accounts`). With forRootAsync,
   * also pass `routes: { admin: true }` beside useFactory so the controller is registered.
   */
  admin?: { enabled: boolean; scope?: string; role?: string };
  /** Service-account provider port; default: RFC 7591/7592 against the metadata. */
  serviceAccountProvider?: ServiceAccountProvider;
  /** Audit events; default JSON lines beside the credential store, plus the Nest logger. */
  audit?: AuditSink | { file?: string } | false;
  /**
   * Expose `GET /health` with the identity section when the app has no Terminus controller of its
   * own. With forRootAsync, pass `routes: { health: true }` beside useFactory instead.
   */
  health?: { expose?: boolean };
  /** Register the Prometheus metrics. Default true. */
  metrics?: boolean;
  /** Token revocation (docs/revocation.md): by client, subject or jti, synchronised through the Redis store. */
  revocation?: RevocationOptions;
  /** RFC 9728 protected-resource metadata (docs/resource-metadata.md). Off unless set. */
  resourceMetadata?: ResourceMetadataOptions;
  /** DPoP, RFC 9449 (docs/dpop.md). Default `{ mode: 'off' }`. */
  dpop?: DpopOptions;
}

export interface RevocationOptions {
  /** Check revocations on every request. Default true. */
  enabled?: boolean;
  /**
   * The longest lifetime (exp - iat) of the tokens this API accepts, in seconds: a revocation is
   * kept this long (plus clockTolerance), after which every token it could match has expired.
   * Default 86,400 (one day).
   */
  maxTokenLifetimeSeconds?: number;
  /** Most revocations kept at once; more are refused with 413. Default 10,000. */
  maxEntries?: number;
  /** Redis pub/sub channel. Default `<store.keyPrefix>revocations` (`nestjs-identity:revocations`). */
  channel?: string;
}

export interface ResolvedRevocationOptions {
  readonly enabled: boolean;
  readonly maxTokenLifetimeSeconds: number;
  readonly maxEntries: number;
  readonly channel?: string;
}

/** Options after validation and defaults: read once at boot, frozen. */
export interface ResolvedIdentityOptions {
  readonly url?: string;
  readonly issuer: string;
  readonly metadata?: IdentityModuleOptions['metadata'];
  readonly audiences: readonly string[];
  readonly algorithms: readonly JwtAlgorithm[];
  readonly clockTolerance: number;
  readonly cacheTtl?: number;
  readonly maxStale?: number;
  readonly require: boolean;
  readonly requireFreshMetadata: boolean;
  readonly requireSignedMetadata: boolean;
  readonly requireAccessTokenType: boolean;
  readonly allowInsecureHttp: boolean;
  readonly allowedHosts: readonly string[];
  readonly http: { readonly timeoutMs: number; readonly maxBytes: number };
  readonly claims: ClaimsPresetName | ClaimsMapping;
  readonly global: boolean;
  readonly realm: string;
  readonly maxTokenLength: number;
  readonly tokenCache: { readonly maxEntries: number; readonly maxBytes: number } | false;
  readonly jwksCooldownMs: number;
  readonly client?: IdentityClientOptions;
  readonly autoProvision: false | AutoProvisionOptions;
  readonly encryptionKey?: Buffer;
  readonly store?: CredentialStoreOption;
  readonly admin: { readonly enabled: boolean; readonly scope: string; readonly role?: string };
  readonly serviceAccountProvider?: ServiceAccountProvider;
  readonly audit?: IdentityModuleOptions['audit'];
  readonly health: { readonly expose: boolean };
  readonly metrics: boolean;
  readonly revocation: ResolvedRevocationOptions;
  readonly resourceMetadata?: ResolvedResourceMetadataOptions;
  readonly dpop: ResolvedDpopOptions;
  /** What every WWW-Authenticate challenge says besides the error: realm, schemes, DPoP algs, resource_metadata. */
  readonly challenge: IdentityChallenge;
}

const DEFAULT_ALGORITHMS: JwtAlgorithm[] = ['RS256', 'PS256', 'ES256'];

function fail(option: string, message: string): never {
  throw new IdentityConfigurationError(option, message);
}

function nonNegative(option: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    fail(option, `must be a non-negative number of seconds, got ${JSON.stringify(value)}`);
  }
  return value;
}

function positiveInteger(option: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    fail(option, `must be a whole number from 1 to ${max.toLocaleString('en-US')}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function resolveRevocation(option: RevocationOptions | undefined): ResolvedRevocationOptions {
  if (option !== undefined && (typeof option !== 'object' || option === null || Array.isArray(option))) {
    fail('revocation', 'must be an object such as { enabled: true, maxTokenLifetimeSeconds: 3600 }');
  }
  const enabled = option?.enabled ?? true;
  if (typeof enabled !== 'boolean') fail('revocation.enabled', `must be true or false, got ${JSON.stringify(enabled)}`);
  const channel = option?.channel;
  if (channel !== undefined && (typeof channel !== 'string' || !/^[\x21-\x7E]{1,256}$/.test(channel))) {
    fail('revocation.channel', 'must be 1-256 printable ASCII characters without spaces, such as "nestjs-identity:revocations"');
  }
  return Object.freeze({
    enabled,
    // Ten years at most: a bound that keeps the Redis TTL (milliseconds) well within range.
    maxTokenLifetimeSeconds: positiveInteger('revocation.maxTokenLifetimeSeconds', option?.maxTokenLifetimeSeconds, 86_400, 315_360_000),
    maxEntries: positiveInteger('revocation.maxEntries', option?.maxEntries, 10_000, 1_000_000),
    channel,
  });
}

function absoluteUrl(option: string, value: string): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    fail(option, `must be an absolute URL such as "https://auth.example.com", got ${JSON.stringify(value)}`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    fail(option, `must use https:// (or http:// on loopback), got ${parsed.protocol}`);
  }
  if (parsed.username || parsed.password) fail(option, 'must not contain credentials (user:password@)');
  return value;
}

/** Decodes a 32-byte key given as base64, base64url or hex. */
export function decodeEncryptionKey(value: string): Buffer {
  const hint = 'generate one with: node -e "console.log(require(\'crypto\').randomBytes(32).toString(\'base64\'))"';
  if (typeof value !== 'string' || value.length === 0) fail('encryptionKey', `must be 32 random bytes as base64 or hex; ${hint}`);
  const trimmed = value.trim();
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) key = Buffer.from(trimmed, 'hex');
  else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) key = Buffer.from(trimmed, 'base64');
  if (!key || key.length !== 32) {
    fail('encryptionKey', `must decode to exactly 32 bytes (got ${key?.length ?? 0}); ${hint}`);
  }
  return key;
}

/** Validates user options once at boot; every message names the option and the fix. */
export function resolveIdentityOptions(options: IdentityModuleOptions): ResolvedIdentityOptions {
  if (!options || typeof options !== 'object') fail('options', 'IdentityModule needs an options object');
  // Misspelt or unknown keys and mistyped values (a string from process.env) fail here, before any value is used.
  assertKnownOptions(options);
  const url = options.url === undefined ? undefined : absoluteUrl('url', options.url);
  const issuer = options.issuer ?? url ?? inlineIssuer(options);
  if (!issuer) fail('url', 'set url (the Identity base URL), issuer, or an inline metadata object');
  absoluteUrl(options.issuer ? 'issuer' : 'url', issuer);
  if (!url && !options.metadata) fail('url', 'set url to the Identity base URL, or pass metadata for in-process mode');

  const allowInsecureHttp = options.allowInsecureHttp ?? false;
  const dpop = resolveDpopOptions(options.dpop, { ...redisStore(options.store), allowInsecureHttp });
  const resourceMetadata = resolveResourceMetadataOptions(options.resourceMetadata, { allowInsecureHttp, dpopRequired: dpop.mode === 'required' });

  const audience = options.audience ?? resourceMetadata?.resource;
  const audiences = typeof audience === 'string' ? [audience] : audience;
  if (!Array.isArray(audiences) || audiences.length === 0 || audiences.some((a) => typeof a !== 'string' || a.length === 0)) {
    fail('audience', 'is required: set it to the aud value your tokens carry for this API (e.g. "https://api.example.com"), or set resourceMetadata.resource; a resource server that does not check aud accepts tokens meant for other services');
  }
  const realm = options.realm ?? audiences[0]!;

  const algorithms = options.algorithms ?? DEFAULT_ALGORITHMS;
  if (!Array.isArray(algorithms) || algorithms.length === 0) fail('algorithms', `must list at least one of ${SUPPORTED_ALGORITHMS.join(', ')}`);
  for (const alg of algorithms) {
    if (!(SUPPORTED_ALGORITHMS as readonly string[]).includes(alg)) {
      fail('algorithms', `"${String(alg)}" is not supported: only asymmetric algorithms are accepted; never none or HS*. Use some of ${SUPPORTED_ALGORITHMS.join(', ')}`);
    }
  }

  const cacheTtl = options.cacheTtl === undefined ? undefined : nonNegative('cacheTtl', options.cacheTtl, 3600);
  const maxStale = options.maxStale === undefined ? undefined : nonNegative('maxStale', options.maxStale, 0);
  const tokenCache =
    options.tokenCache === false
      ? false
      : {
          maxEntries: nonNegative('tokenCache.maxEntries', options.tokenCache?.maxEntries, 10_000),
          maxBytes: nonNegative('tokenCache.maxBytes', options.tokenCache?.maxBytes, 16 * 1024 * 1024),
        };
  const autoProvision = options.autoProvision === true ? {} : options.autoProvision || false;
  const method = options.client?.tokenEndpointAuthMethod;
  if (method !== undefined && method !== 'client_secret_basic' && method !== 'client_secret_post') {
    fail('client.tokenEndpointAuthMethod', 'must be "client_secret_basic" or "client_secret_post"');
  }
  if (options.client?.redirectUri !== undefined) absoluteUrl('client.redirectUri', options.client.redirectUri);
  if (options.client?.clientSecret && !options.client.clientId) fail('client.clientId', 'is required when client.clientSecret is set');
  for (const host of options.allowedHosts ?? []) {
    if (typeof host !== 'string' || !/^[a-z0-9.-]+(:\d+)?$/i.test(host)) fail('allowedHosts', `"${String(host)}" is not a host name`);
  }

  const resolved: ResolvedIdentityOptions = {
    url,
    issuer,
    metadata: options.metadata,
    audiences: Object.freeze([...audiences]),
    algorithms: Object.freeze([...algorithms]),
    clockTolerance: nonNegative('clockTolerance', options.clockTolerance, 5),
    cacheTtl,
    maxStale,
    require: options.require ?? true,
    requireFreshMetadata: options.requireFreshMetadata ?? false,
    requireSignedMetadata: options.requireSignedMetadata ?? false,
    requireAccessTokenType: options.requireAccessTokenType ?? false,
    allowInsecureHttp,
    allowedHosts: Object.freeze([...(options.allowedHosts ?? [])]),
    http: Object.freeze({
      timeoutMs: nonNegative('http.timeoutMs', options.http?.timeoutMs, 5000),
      maxBytes: nonNegative('http.maxBytes', options.http?.maxBytes, 512 * 1024),
    }),
    claims: options.claims ?? 's3db',
    global: options.global ?? false,
    realm,
    maxTokenLength: nonNegative('maxTokenLength', options.maxTokenLength, 8192),
    tokenCache,
    jwksCooldownMs: nonNegative('jwksCooldown', options.jwksCooldown, 30) * 1000,
    client: options.client ? Object.freeze({ ...options.client }) : undefined,
    autoProvision,
    encryptionKey: options.encryptionKey === undefined ? undefined : decodeEncryptionKey(options.encryptionKey),
    store: options.store,
    admin: Object.freeze({
      enabled: options.admin?.enabled ?? false,
      scope: options.admin?.scope ?? 'identity:admin',
      role: options.admin?.role,
    }),
    serviceAccountProvider: options.serviceAccountProvider,
    audit: options.audit,
    health: Object.freeze({ expose: options.health?.expose ?? false }),
    metrics: options.metrics ?? true,
    revocation: resolveRevocation(options.revocation),
    resourceMetadata,
    dpop,
    challenge: Object.freeze({
      realm,
      schemes: Object.freeze(SCHEMES_BY_MODE[dpop.mode]),
      dpopAlgs: dpop.algorithms,
      resourceMetadata: resourceMetadata?.url,
    }),
  };
  return Object.freeze(resolved);
}

const SCHEMES_BY_MODE: Record<ResolvedDpopOptions['mode'], AuthScheme[]> = {
  off: ['Bearer'],
  // Bearer first: clients that read only the first challenge (the MCP SDK) read the Bearer one.
  allowed: ['Bearer', 'DPoP'],
  required: ['DPoP'],
};

/** The credential store's Redis URL and key prefix, the defaults of `dpop.replayStore: { type: 'redis' }`. */
function redisStore(store: CredentialStoreOption | undefined): { redisStoreUrl?: string; redisKeyPrefix?: string } {
  if (store && typeof store === 'object' && 'type' in store && store.type === 'redis') return { redisStoreUrl: store.url, redisKeyPrefix: store.keyPrefix };
  return {};
}

function inlineIssuer(options: IdentityModuleOptions): string | undefined {
  return typeof options.metadata === 'object' && options.metadata ? options.metadata.issuer : undefined;
}
