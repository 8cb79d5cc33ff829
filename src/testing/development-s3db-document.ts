import type { IncomingMessage, ServerResponse } from 'node:http';
import { DEVELOPMENT_IDENTITY_ROUTES as ROUTES } from './development-defaults.js';
import { sendJson, type JsonObject } from './development-util.js';

/** Must match what oidc-provider derives from our configuration (the spec checks discovery). */
const SUPPORTED_GRANT_TYPES = ['authorization_code', 'client_credentials', 'password'];
const S3DB_CACHE_TTL = 3600;

/** The upstream metadata document, field for field (see docs/upstream-identity.md §1). */
export function s3dbDocument(issuer: string, scopes: readonly string[]): JsonObject {
  return {
    version: 1,
    issuedAt: new Date().toISOString(),
    cacheTtl: S3DB_CACHE_TTL,
    issuer,
    discoveryUrl: `${issuer}${ROUTES.discovery}`,
    jwksUrl: `${issuer}${ROUTES.jwks}`,
    authorizationUrl: `${issuer}${ROUTES.authorization}`,
    tokenUrl: `${issuer}${ROUTES.token}`,
    userinfoUrl: `${issuer}${ROUTES.userinfo}`,
    introspectionUrl: `${issuer}${ROUTES.introspection}`,
    revocationUrl: `${issuer}${ROUTES.revocation}`,
    supportedScopes: [...scopes],
    supportedGrantTypes: [...SUPPORTED_GRANT_TYPES],
    supportedResponseTypes: ['code'],
    resources: { users: 'users', tenants: 'tenants', clients: 'clients' },
    clientRegistration: {
      url: `${issuer}${ROUTES.registration}`,
      supportedAuth: ['client_secret_basic', 'client_secret_post'],
    },
  };
}

export function serveS3dbDocument(req: IncomingMessage, res: ServerResponse, document: JsonObject): void {
  const body = JSON.stringify(document);
  // Upstream quirk, kept on purpose: the ETag is a prefix of the body's base64, which only covers
  // `{"version":1,"issue` and so never changes; a 304 does not prove the document is unchanged.
  const etag = `"${Buffer.from(body).toString('base64').slice(0, 27)}"`;
  const headers = {
    'cache-control': `public, max-age=${S3DB_CACHE_TTL}`,
    etag,
    'last-modified': new Date().toUTCString(),
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  sendJson(res, 200, JSON.parse(body), headers);
}
