import { IdentityConfigurationError } from '../errors/identity-configuration.error.js';

/**
 * RFC 9728 protected-resource metadata, served at the path-aware well-known URL of `resource`
 * (`https://api.example.com/mcp` → `/.well-known/oauth-protected-resource/mcp`). See docs/resource-metadata.md.
 */
export interface ResourceMetadataOptions {
  /**
   * The canonical URI of this resource (RFC 8707 / MCP): `https://`, no fragment, no query.
   * Scheme and host are lower-cased. Also the default `audience`.
   */
  resource: string;
  /** Issuers of the authorization servers that issue tokens for it. Default: the configured issuer. */
  authorizationServers?: string[];
  /** Default: every scope named in an `@RequireScope` found at boot (never `offline_access`). */
  scopesSupported?: string[];
  resourceName?: string;
  /** Human-readable documentation (an absolute URL). */
  resourceDocumentation?: string;
  /** Only `header` is accepted (tokens in the body or query are not). Default `['header']`. */
  bearerMethodsSupported?: Array<'header'>;
  /** Default: true when `dpop.mode` is `required`. */
  dpopBoundAccessTokensRequired?: boolean;
  /** Further members (e.g. `resource_policy_uri`), copied as they are; they cannot replace the ones above. */
  extra?: Record<string, unknown>;
  /** `Cache-Control: public, max-age=<seconds>` of the document. Default 3600. */
  cacheMaxAge?: number;
}

export interface ResolvedResourceMetadataOptions {
  /** The canonical resource URI, exactly as the document says it. */
  readonly resource: string;
  /** Path of the well-known document on this server, e.g. `/.well-known/oauth-protected-resource/mcp`. */
  readonly path: string;
  /** Absolute URL of the document: what `resource_metadata` in challenges points to. */
  readonly url: string;
  readonly authorizationServers?: readonly string[];
  readonly scopesSupported?: readonly string[];
  readonly resourceName?: string;
  readonly resourceDocumentation?: string;
  readonly bearerMethodsSupported: readonly string[];
  readonly dpopBoundAccessTokensRequired?: boolean;
  readonly extra: Readonly<Record<string, unknown>>;
  readonly cacheMaxAge: number;
}

const WELL_KNOWN = '/.well-known/oauth-protected-resource';
/** Members the module writes; `extra` may not replace them. */
const OWN_MEMBERS = new Set([
  'resource',
  'authorization_servers',
  'scopes_supported',
  'resource_name',
  'resource_documentation',
  'bearer_methods_supported',
  'dpop_signing_alg_values_supported',
  'dpop_bound_access_tokens_required',
  'signed_metadata',
]);
/** Scopes that never belong in a resource's metadata: `offline_access` asks the authorization server for a refresh token. */
export const NEVER_ADVERTISED_SCOPES: ReadonlySet<string> = new Set(['offline_access']);

function fail(option: string, message: string): never {
  throw new IdentityConfigurationError(option, message);
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/**
 * The canonical form of a resource URI (MCP "Canonical Server URI"): lower-case scheme and host,
 * no default port, no fragment, no trailing slash on an empty path. Refuses what cannot be one.
 */
export function canonicalResourceUri(value: unknown, option = 'resourceMetadata.resource', allowInsecureHttp = false): string {
  if (typeof value !== 'string' || value.length === 0) fail(option, 'must be the canonical URI of this API, such as "https://api.example.com/mcp"');
  if (value.includes('#')) fail(option, `must not contain a fragment (#...), got ${JSON.stringify(value)}`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(option, `must be an absolute URI such as "https://api.example.com/mcp", got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(option, `must use https://, got ${url.protocol}`);
  if (url.protocol === 'http:' && !allowInsecureHttp && !isLoopback(url.hostname)) fail(option, 'must use https:// (http:// only on loopback, or with allowInsecureHttp for development)');
  if (url.username || url.password) fail(option, 'must not contain credentials (user:password@)');
  if (url.search || value.includes('?')) fail(option, 'must not contain a query: the well-known metadata URL is derived from the path');
  if (!/^[A-Za-z0-9._~\-/]*$/.test(url.pathname)) fail(option, `path may hold only letters, digits, "/", ".", "_", "~" and "-", got ${JSON.stringify(url.pathname)}`);
  // WHATWG URL lower-cases scheme and host and drops a default port; an empty path serialises as "/".
  return url.pathname === '/' ? url.origin : `${url.origin}${url.pathname}`;
}

/** RFC 9728 §3.1: the well-known path inserted between host and path; a terminating slash is removed. */
export function wellKnownPath(resource: string): string {
  const path = new URL(resource).pathname.replace(/\/+$/, '');
  return `${WELL_KNOWN}${path}`;
}

function absoluteUrl(option: string, value: unknown, allowInsecureHttp: boolean): string {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    fail(option, `must be an absolute URL, got ${JSON.stringify(value)}`);
  }
  if (typeof value !== 'string') fail(option, `must be an absolute URL, got ${JSON.stringify(value)}`);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && (allowInsecureHttp || isLoopback(url.hostname)))) fail(option, `must use https://, got ${JSON.stringify(value)}`);
  return value;
}

/** Validates `resourceMetadata` once at boot; every message names the option and the fix. */
export function resolveResourceMetadataOptions(
  option: ResourceMetadataOptions | undefined,
  context: { allowInsecureHttp: boolean; dpopRequired: boolean },
): ResolvedResourceMetadataOptions | undefined {
  if (option === undefined) return undefined;
  if (typeof option !== 'object' || option === null || Array.isArray(option)) fail('resourceMetadata', 'must be an object such as { resource: "https://api.example.com/mcp" }');
  const resource = canonicalResourceUri(option.resource, 'resourceMetadata.resource', context.allowInsecureHttp);
  const path = wellKnownPath(resource);
  const url = `${new URL(resource).origin}${path}`;

  let authorizationServers: readonly string[] | undefined;
  if (option.authorizationServers !== undefined) {
    if (!Array.isArray(option.authorizationServers) || option.authorizationServers.length === 0) fail('resourceMetadata.authorizationServers', 'must list at least one issuer URL (or leave it out: the configured issuer is used)');
    authorizationServers = Object.freeze(option.authorizationServers.map((issuer, i) => absoluteUrl(`resourceMetadata.authorizationServers[${i}]`, issuer, context.allowInsecureHttp)));
  }

  let scopesSupported: readonly string[] | undefined;
  if (option.scopesSupported !== undefined) {
    if (!Array.isArray(option.scopesSupported)) fail('resourceMetadata.scopesSupported', 'must be a list of scope names (or leave it out: the scopes of @RequireScope are used)');
    for (const scope of option.scopesSupported) {
      if (typeof scope !== 'string' || !/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(scope)) fail('resourceMetadata.scopesSupported', `${JSON.stringify(scope)} is not a scope name (printable ASCII, no spaces, quotes or backslashes)`);
      if (NEVER_ADVERTISED_SCOPES.has(scope)) fail('resourceMetadata.scopesSupported', `"${scope}" asks the authorization server for a refresh token: it is not a scope of this resource; remove it`);
    }
    scopesSupported = Object.freeze([...new Set(option.scopesSupported)]);
  }

  const text = (name: string, value: unknown) => {
    if (value !== undefined && (typeof value !== 'string' || value.length === 0 || value.length > 1000)) fail(`resourceMetadata.${name}`, 'must be a non-empty string');
    return value as string | undefined;
  };
  const resourceName = text('resourceName', option.resourceName);
  const resourceDocumentation = option.resourceDocumentation === undefined ? undefined : absoluteUrl('resourceMetadata.resourceDocumentation', option.resourceDocumentation, true);

  const bearerMethodsSupported = option.bearerMethodsSupported ?? ['header'];
  if (!Array.isArray(bearerMethodsSupported) || bearerMethodsSupported.some((method) => method !== 'header')) {
    fail('resourceMetadata.bearerMethodsSupported', "may list only 'header' (tokens in a form body or the query string are never accepted), or be []");
  }

  const dpopBound = option.dpopBoundAccessTokensRequired;
  if (dpopBound !== undefined && typeof dpopBound !== 'boolean') fail('resourceMetadata.dpopBoundAccessTokensRequired', 'must be true or false');
  if (dpopBound === true && !context.dpopRequired) fail('resourceMetadata.dpopBoundAccessTokensRequired', "says DPoP is required, but dpop.mode is not 'required': set dpop: { mode: 'required' } (or leave this out)");
  if (dpopBound === false && context.dpopRequired) fail('resourceMetadata.dpopBoundAccessTokensRequired', "is false, but dpop.mode is 'required': leave it out (it follows dpop.mode)");

  const extra = option.extra ?? {};
  if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) fail('resourceMetadata.extra', 'must be an object of further metadata members');
  for (const key of Object.keys(extra)) {
    if (OWN_MEMBERS.has(key)) fail('resourceMetadata.extra', `cannot set "${key}": use the matching resourceMetadata option (resource is always the canonical URI)`);
  }
  let copy: Record<string, unknown>;
  try {
    copy = JSON.parse(JSON.stringify(extra)) as Record<string, unknown>;
  } catch {
    fail('resourceMetadata.extra', 'must be JSON-serialisable');
  }

  const cacheMaxAge = option.cacheMaxAge ?? 3600;
  if (typeof cacheMaxAge !== 'number' || !Number.isInteger(cacheMaxAge) || cacheMaxAge < 0 || cacheMaxAge > 31_536_000) {
    fail('resourceMetadata.cacheMaxAge', `must be a whole number of seconds from 0 to 31,536,000, got ${JSON.stringify(cacheMaxAge)}`);
  }

  return Object.freeze({
    resource,
    path,
    url,
    authorizationServers,
    scopesSupported,
    resourceName,
    resourceDocumentation,
    bearerMethodsSupported: Object.freeze([...bearerMethodsSupported]),
    dpopBoundAccessTokensRequired: dpopBound ?? (context.dpopRequired ? true : undefined),
    extra: Object.freeze(copy),
    cacheMaxAge,
  });
}
