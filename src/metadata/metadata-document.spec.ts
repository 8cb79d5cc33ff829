import { describe, expect, it } from 'vitest';
import { metadataFromDocument, metadataFromInput, MetadataValidationError, wellKnownUrl, type MetadataContext } from './metadata-document.js';
import type { OutboundPolicy } from './safe-fetch.js';

const ISSUER = 'https://auth.example.com';
const policy: OutboundPolicy = { timeoutMs: 1000, maxBytes: 1024, allowInsecureHttp: false, allowedHosts: [], issuerHost: 'auth.example.com' };
const fetchedAt = new Date('2026-01-01T00:00:00Z');
const context: MetadataContext = { issuer: ISSUER, policy, fetchedAt };

/** The s3db document as upstream publishes it. */
function s3dbDocument(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 1,
    issuedAt: '2026-01-01T00:00:00.000Z',
    cacheTtl: 3600,
    issuer: ISSUER,
    discoveryUrl: `${ISSUER}/.well-known/openid-configuration`,
    jwksUrl: `${ISSUER}/.well-known/jwks.json`,
    authorizationUrl: `${ISSUER}/oauth/authorize`,
    tokenUrl: `${ISSUER}/oauth/token`,
    userinfoUrl: `${ISSUER}/oauth/userinfo`,
    introspectionUrl: `${ISSUER}/oauth/introspect`,
    revocationUrl: `${ISSUER}/oauth/revoke`,
    supportedScopes: ['openid', 'profile', 'orders:read'],
    supportedGrantTypes: ['authorization_code', 'client_credentials', 'refresh_token'],
    supportedResponseTypes: ['code'],
    resources: { users: 'users', tenants: 'tenants', clients: 'plg_oauth_clients' },
    clientRegistration: { url: `${ISSUER}/oauth/register`, supportedAuth: ['client_secret_post'] },
    ...overrides,
  };
}

function discoveryDocument(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    issuer: ISSUER,
    authorization_endpoint: `${ISSUER}/oauth/authorize`,
    token_endpoint: `${ISSUER}/oauth/token`,
    userinfo_endpoint: `${ISSUER}/oauth/userinfo`,
    jwks_uri: `${ISSUER}/.well-known/jwks.json`,
    registration_endpoint: `${ISSUER}/oauth/register`,
    introspection_endpoint: `${ISSUER}/oauth/introspect`,
    revocation_endpoint: `${ISSUER}/oauth/revoke`,
    scopes_supported: ['openid', 'email'],
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'client_credentials'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    ...overrides,
  };
}

function validationError(fn: () => unknown): MetadataValidationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(MetadataValidationError);
    return error as MetadataValidationError;
  }
  throw new Error('expected a MetadataValidationError');
}

describe('metadataFromDocument', () => {
  it('maps the s3db document', () => {
    const m = metadataFromDocument('s3db', s3dbDocument(), context);
    expect(m).toEqual({
      source: 's3db',
      version: 1,
      issuer: ISSUER,
      jwksUrl: `${ISSUER}/.well-known/jwks.json`,
      discoveryUrl: `${ISSUER}/.well-known/openid-configuration`,
      authorizationUrl: `${ISSUER}/oauth/authorize`,
      tokenUrl: `${ISSUER}/oauth/token`,
      userinfoUrl: `${ISSUER}/oauth/userinfo`,
      introspectionUrl: `${ISSUER}/oauth/introspect`,
      revocationUrl: `${ISSUER}/oauth/revoke`,
      supportedScopes: ['openid', 'profile', 'orders:read'],
      supportedGrantTypes: ['authorization_code', 'client_credentials', 'refresh_token'],
      supportedResponseTypes: ['code'],
      tokenEndpointAuthMethods: [],
      resources: { users: 'users', tenants: 'tenants', clients: 'plg_oauth_clients' },
      clientRegistration: { url: `${ISSUER}/oauth/register`, supportedAuth: ['client_secret_post'] },
      cacheTtl: 3600,
      issuedAt: '2026-01-01T00:00:00.000Z',
      signed: false,
      fetchedAt,
    });
    expect(Object.isFrozen(m)).toBe(true);
  });

  it('maps OIDC discovery, remembering where it came from', () => {
    const documentUrl = `${ISSUER}/.well-known/openid-configuration`;
    const m = metadataFromDocument('oidc-discovery', discoveryDocument(), { ...context, documentUrl });
    expect(m).toMatchObject({
      source: 'oidc-discovery',
      version: 0,
      jwksUrl: `${ISSUER}/.well-known/jwks.json`,
      discoveryUrl: documentUrl,
      tokenUrl: `${ISSUER}/oauth/token`,
      introspectionUrl: `${ISSUER}/oauth/introspect`,
      supportedScopes: ['openid', 'email'],
      tokenEndpointAuthMethods: ['client_secret_basic', 'client_secret_post'],
      clientRegistration: { url: `${ISSUER}/oauth/register`, supportedAuth: ['client_secret_basic', 'client_secret_post'] },
    });
    expect(m.cacheTtl).toBeUndefined();
    expect(m.resources).toBeUndefined();
  });

  it('maps RFC 8414 metadata (no discoveryUrl, no registration when absent)', () => {
    const doc = discoveryDocument({ registration_endpoint: undefined, userinfo_endpoint: undefined });
    const m = metadataFromDocument('rfc8414', doc, { ...context, documentUrl: `${ISSUER}/.well-known/oauth-authorization-server` });
    expect(m.source).toBe('rfc8414');
    expect(m.discoveryUrl).toBeUndefined();
    expect(m.clientRegistration).toBeUndefined();
    expect(m.userinfoUrl).toBeUndefined();
  });

  it('maps inline input', () => {
    const m = metadataFromInput({ issuer: ISSUER, jwksUrl: `${ISSUER}/jwks`, supportedScopes: ['a'] }, context);
    expect(m).toMatchObject({ source: 'inline', version: 0, jwksUrl: `${ISSUER}/jwks`, supportedScopes: ['a'], supportedGrantTypes: [] });
  });

  it('accepts a newer schema version and ignores unknown fields', () => {
    const m = metadataFromDocument('s3db', s3dbDocument({ version: 2, futureThing: { nested: true }, tokenEndpointAuthMethods: ['client_secret_post'] }), context);
    expect(m.version).toBe(2);
    expect(m.tokenEndpointAuthMethods).toEqual(['client_secret_post']);
    expect(m).not.toHaveProperty('futureThing');
  });

  describe('issuer', () => {
    it('refuses a different issuer, naming the configured one but not the document value', () => {
      const e = validationError(() => metadataFromDocument('s3db', s3dbDocument({ issuer: 'https://evil.example.net' }), context));
      expect(e.field).toBe('issuer');
      expect(e.message).toContain(ISSUER);
      expect(e.message).toContain("document's issuer differs");
      expect(e.message).not.toContain('evil');
    });

    it('treats a trailing slash as a mismatch (exact comparison)', () => {
      expect(validationError(() => metadataFromDocument('oidc-discovery', discoveryDocument({ issuer: `${ISSUER}/` }), context)).field).toBe('issuer');
      expect(validationError(() => metadataFromDocument('s3db', s3dbDocument(), { ...context, issuer: `${ISSUER}/` })).field).toBe('issuer');
    });

    it('refuses an array or a missing issuer', () => {
      expect(validationError(() => metadataFromDocument('s3db', s3dbDocument({ issuer: [ISSUER] }), context)).message).toMatch(/single string/);
      expect(validationError(() => metadataFromDocument('rfc8414', discoveryDocument({ issuer: undefined }), context)).message).toMatch(/missing/);
    });
  });

  describe('URLs', () => {
    it('requires the JWKS URL, named as the document spells it', () => {
      expect(validationError(() => metadataFromDocument('s3db', s3dbDocument({ jwksUrl: undefined }), context)).field).toBe('jwksUrl');
      expect(validationError(() => metadataFromDocument('oidc-discovery', discoveryDocument({ jwks_uri: undefined }), context)).field).toBe('jwks_uri');
      expect(validationError(() => metadataFromInput({ issuer: ISSUER } as never, context)).field).toBe('jwksUrl');
    });

    it('refuses relative URLs', () => {
      const e = validationError(() => metadataFromDocument('s3db', s3dbDocument({ tokenUrl: '/oauth/token' }), context));
      expect(e.field).toBe('tokenUrl');
      expect(e.message).toMatch(/absolute/);
    });

    it('refuses URLs the outbound policy refuses, without echoing them', () => {
      const other = validationError(() => metadataFromDocument('oidc-discovery', discoveryDocument({ jwks_uri: 'https://attacker.example.net/keys' }), context));
      expect(other.field).toBe('jwks_uri');
      expect(other.message).toMatch(/allowedHosts/);
      expect(other.message).not.toContain('/keys');
      const http = validationError(() => metadataFromDocument('s3db', s3dbDocument({ clientRegistration: { url: 'http://auth.example.com/oauth/register' } }), context));
      expect(http.field).toBe('clientRegistration.url');
      const metadataIp = validationError(() => metadataFromDocument('s3db', s3dbDocument({ userinfoUrl: 'https://169.254.169.254/latest' }), { ...context, policy: { ...policy, allowedHosts: ['169.254.169.254'] } }));
      expect(metadataIp.field).toBe('userinfoUrl');
    });

    it('accepts allow-listed hosts', () => {
      const m = metadataFromDocument('s3db', s3dbDocument({ jwksUrl: 'https://keys.example.net/jwks' }), { ...context, policy: { ...policy, allowedHosts: ['keys.example.net'] } });
      expect(m.jwksUrl).toBe('https://keys.example.net/jwks');
    });
  });

  describe('types', () => {
    it('requires string arrays for lists', () => {
      expect(validationError(() => metadataFromDocument('s3db', s3dbDocument({ supportedScopes: 'openid profile' }), context)).field).toBe('supportedScopes');
      expect(validationError(() => metadataFromDocument('oidc-discovery', discoveryDocument({ grant_types_supported: ['a', 1] }), context)).field).toBe('grant_types_supported');
    });

    it('checks version, cacheTtl, resources and clientRegistration shapes', () => {
      expect(validationError(() => metadataFromDocument('s3db', s3dbDocument({ version: '2' }), context)).field).toBe('version');
      expect(validationError(() => metadataFromDocument('s3db', s3dbDocument({ cacheTtl: -1 }), context)).field).toBe('cacheTtl');
      expect(validationError(() => metadataFromDocument('s3db', s3dbDocument({ resources: 'users' }), context)).field).toBe('resources');
      expect(validationError(() => metadataFromDocument('s3db', s3dbDocument({ clientRegistration: 'x' }), context)).field).toBe('clientRegistration');
      expect(validationError(() => metadataFromDocument('s3db', s3dbDocument({ clientRegistration: { supportedAuth: [] } }), context)).field).toBe('clientRegistration.url');
    });

    it('refuses a document that is not an object', () => {
      for (const doc of [null, [], 'x', 42]) validationError(() => metadataFromDocument('s3db', doc, context));
    });
  });
});

describe('wellKnownUrl', () => {
  it('appends for s3db and OIDC, inserts for RFC 8414 (section 3)', () => {
    expect(wellKnownUrl('https://auth.example.com', 's3db')).toBe('https://auth.example.com/.well-known/s3db-identity.json');
    expect(wellKnownUrl('https://auth.example.com/', 'oidc-discovery')).toBe('https://auth.example.com/.well-known/openid-configuration');
    expect(wellKnownUrl('https://auth.example.com', 'rfc8414')).toBe('https://auth.example.com/.well-known/oauth-authorization-server');
    expect(wellKnownUrl('https://idp.example.com/realms/main', 'oidc-discovery')).toBe('https://idp.example.com/realms/main/.well-known/openid-configuration');
    expect(wellKnownUrl('https://idp.example.com/realms/main', 'rfc8414')).toBe('https://idp.example.com/.well-known/oauth-authorization-server/realms/main');
  });
});
