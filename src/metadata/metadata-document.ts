import type { IdentityMetadata, IdentityMetadataInput, MetadataSource } from './identity-metadata.js';
import { assertAllowedUrl, OutboundRequestError, type OutboundPolicy } from './safe-fetch.js';

/**
 * A metadata document that cannot be used. The message names the field (as the document spells
 * it) and the fix; it never repeats the document's values.
 */
export class MetadataValidationError extends Error {
  override readonly name = 'MetadataValidationError';
  constructor(
    /** The offending field, as the document spells it (e.g. `jwks_uri`, `clientRegistration.url`). */
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export interface MetadataContext {
  /** The configured issuer: the document's must equal it exactly. */
  readonly issuer: string;
  readonly policy: OutboundPolicy;
  /** When the document was fetched (default: now). */
  readonly fetchedAt?: Date;
  /** Where the document came from; becomes `discoveryUrl` for OIDC discovery. */
  readonly documentUrl?: string;
  /** The values come from verified `signed_metadata`. */
  readonly signed?: boolean;
}

/** How each source spells the fields we read. Dotted names reach into nested objects. */
interface FieldNames {
  jwksUrl: string;
  discoveryUrl?: string;
  authorizationUrl: string;
  tokenUrl: string;
  userinfoUrl: string;
  introspectionUrl: string;
  revocationUrl: string;
  registrationUrl: string;
  supportedScopes: string;
  supportedGrantTypes: string;
  supportedResponseTypes: string;
  tokenEndpointAuthMethods: string;
}

const S3DB_FIELDS: FieldNames = {
  jwksUrl: 'jwksUrl',
  discoveryUrl: 'discoveryUrl',
  authorizationUrl: 'authorizationUrl',
  tokenUrl: 'tokenUrl',
  userinfoUrl: 'userinfoUrl',
  introspectionUrl: 'introspectionUrl',
  revocationUrl: 'revocationUrl',
  registrationUrl: 'clientRegistration.url',
  supportedScopes: 'supportedScopes',
  supportedGrantTypes: 'supportedGrantTypes',
  supportedResponseTypes: 'supportedResponseTypes',
  tokenEndpointAuthMethods: 'tokenEndpointAuthMethods',
};

// OIDC Discovery 1.0 §3 and RFC 8414 §2 share these names.
const STANDARD_FIELDS: FieldNames = {
  jwksUrl: 'jwks_uri',
  authorizationUrl: 'authorization_endpoint',
  tokenUrl: 'token_endpoint',
  userinfoUrl: 'userinfo_endpoint',
  introspectionUrl: 'introspection_endpoint',
  revocationUrl: 'revocation_endpoint',
  registrationUrl: 'registration_endpoint',
  supportedScopes: 'scopes_supported',
  supportedGrantTypes: 'grant_types_supported',
  supportedResponseTypes: 'response_types_supported',
  tokenEndpointAuthMethods: 'token_endpoint_auth_methods_supported',
};

/** The well-known path of each fetched source. */
export const WELL_KNOWN_PATHS: Readonly<Record<Exclude<MetadataSource, 'inline'>, string>> = {
  s3db: '/.well-known/s3db-identity.json',
  'oidc-discovery': '/.well-known/openid-configuration',
  rfc8414: '/.well-known/oauth-authorization-server',
};

/**
 * Where a source's document lives for a base URL. s3db and OIDC append the suffix to the base;
 * RFC 8414 §3 inserts it between the host and the path (identical when there is no path).
 */
export function wellKnownUrl(base: string, source: Exclude<MetadataSource, 'inline'>): string {
  const url = new URL(base);
  const path = url.pathname.replace(/\/+$/, '');
  if (source === 'rfc8414') return `${url.origin}${WELL_KNOWN_PATHS.rfc8414}${path}`;
  return `${url.origin}${path}${WELL_KNOWN_PATHS[source]}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Reads `a.b` from a document; an intermediate that is not an object reads as missing. */
function read(document: Record<string, unknown>, path: string): unknown {
  let value: unknown = document;
  for (const part of path.split('.')) {
    if (!isRecord(value)) return undefined;
    value = value[part];
  }
  return value;
}

/** Reads the fields of one document, naming each problem by the document's own field name. */
class FieldReader {
  constructor(
    private readonly document: Record<string, unknown>,
    private readonly label: string,
    private readonly context: MetadataContext,
  ) {}

  fail(field: string, problem: string): never {
    throw new MetadataValidationError(field, `Identity metadata (${this.label}): "${field}" ${problem}`);
  }

  url(field: string | undefined, required = false): string | undefined {
    if (field === undefined) return undefined;
    const value = read(this.document, field);
    if (value === undefined || value === null) {
      if (required) this.fail(field, 'is missing; the provider must publish it (fix the provider configuration)');
      return undefined;
    }
    if (typeof value !== 'string' || value.length === 0) this.fail(field, 'must be a URL string');
    try {
      new URL(value);
    } catch {
      this.fail(field, 'must be an absolute URL (https://host/path), not a relative one');
    }
    try {
      assertAllowedUrl(value, this.context.policy, field);
    } catch (error) {
      if (error instanceof OutboundRequestError) this.fail(field, `is not allowed: ${error.reason}`);
      throw error;
    }
    return value;
  }

  strings(field: string): readonly string[] {
    const value = read(this.document, field);
    if (value === undefined || value === null) return Object.freeze([]);
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) this.fail(field, 'must be an array of strings');
    return Object.freeze([...(value as string[])]);
  }

  string(field: string): string | undefined {
    const value = read(this.document, field);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') this.fail(field, 'must be a string');
    return value;
  }

  number(field: string, problem: string, valid: (n: number) => boolean): number | undefined {
    const value = read(this.document, field);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value) || !valid(value)) this.fail(field, problem);
    return value;
  }

  /** True when field holds an object, false when absent; anything else is an error. */
  object(field: string, shape: string): boolean {
    const value = read(this.document, field);
    if (value === undefined || value === null) return false;
    if (!isRecord(value)) this.fail(field, `must be an object ${shape}`);
    return true;
  }

  issuer(): string {
    const value = this.document.issuer;
    if (value === undefined || value === null) this.fail('issuer', 'is missing; the provider must publish its issuer identifier');
    if (typeof value !== 'string') this.fail('issuer', 'must be a single string (an issuer identifier, not a list)');
    // Exact comparison (RFC 8414 §3.3 mix-up defence): a trailing slash is a different issuer.
    if (value !== this.context.issuer) {
      this.fail('issuer', `does not match: the document's issuer differs from the configured issuer "${this.context.issuer}"; set issuer (or url) to exactly the provider's issuer, trailing slash included`);
    }
    return value;
  }
}

const LABELS: Record<MetadataSource, string> = {
  s3db: 's3db-identity.json',
  'oidc-discovery': 'openid-configuration',
  rfc8414: 'oauth-authorization-server',
  inline: 'inline metadata option',
};

/**
 * Maps and validates one document onto IdentityMetadata. Unknown fields are ignored; a higher
 * s3db `version` is read for the fields we know.
 */
export function metadataFromDocument(source: MetadataSource, document: unknown, context: MetadataContext): IdentityMetadata {
  if (!isRecord(document)) {
    throw new MetadataValidationError('(document)', `Identity metadata (${LABELS[source]}) must be a JSON object`);
  }
  const standard = source === 'oidc-discovery' || source === 'rfc8414';
  const names = standard ? STANDARD_FIELDS : S3DB_FIELDS;
  const r = new FieldReader(document, LABELS[source], context);

  const issuer = r.issuer();
  const jwksUrl = r.url(names.jwksUrl, true)!;
  const version = standard ? 0 : (r.number('version', 'must be a positive number', (n) => n >= 1) ?? (source === 's3db' ? 1 : 0));
  const cacheTtl = standard ? undefined : r.number('cacheTtl', 'must be a non-negative number of seconds', (n) => n >= 0);
  const authMethods = r.strings(names.tokenEndpointAuthMethods);

  let clientRegistration: IdentityMetadata['clientRegistration'];
  let resources: IdentityMetadata['resources'];
  if (standard) {
    const url = r.url(names.registrationUrl);
    // Standards documents state the token endpoint's auth methods, which registration hands out.
    if (url) clientRegistration = Object.freeze({ url, supportedAuth: authMethods });
  } else {
    if (r.object('clientRegistration', '{ url, supportedAuth }')) {
      clientRegistration = Object.freeze({ url: r.url(names.registrationUrl, true)!, supportedAuth: r.strings('clientRegistration.supportedAuth') });
    }
    if (r.object('resources', '{ users, tenants, clients }')) {
      resources = Object.freeze(dropUndefined({ users: r.string('resources.users'), tenants: r.string('resources.tenants'), clients: r.string('resources.clients') }));
    }
  }

  const discoveryUrl = standard ? (source === 'oidc-discovery' ? context.documentUrl : undefined) : r.url(names.discoveryUrl);
  const metadata: IdentityMetadata = {
    source,
    version,
    issuer,
    jwksUrl,
    discoveryUrl,
    authorizationUrl: r.url(names.authorizationUrl),
    tokenUrl: r.url(names.tokenUrl),
    userinfoUrl: r.url(names.userinfoUrl),
    introspectionUrl: r.url(names.introspectionUrl),
    revocationUrl: r.url(names.revocationUrl),
    supportedScopes: r.strings(names.supportedScopes),
    supportedGrantTypes: r.strings(names.supportedGrantTypes),
    supportedResponseTypes: r.strings(names.supportedResponseTypes),
    tokenEndpointAuthMethods: authMethods,
    resources,
    clientRegistration,
    cacheTtl,
    issuedAt: standard ? undefined : r.string('issuedAt'),
    signed: context.signed ?? false,
    fetchedAt: context.fetchedAt ?? new Date(),
  };
  return Object.freeze(dropUndefined(metadata));
}

/** Inline `metadata` option: the s3db field names, validated the same way (no HTTP). */
export function metadataFromInput(input: IdentityMetadataInput, context: MetadataContext): IdentityMetadata {
  return metadataFromDocument('inline', input, context);
}

function dropUndefined<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] === undefined) delete value[key];
  return value;
}
