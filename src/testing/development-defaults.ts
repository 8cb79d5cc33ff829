import type { AccessTokenTyp, DevelopmentIdentityProviderOptions, DevelopmentUser } from './development-identity-provider.types.js';

/** Supported scopes unless the `scopes` option says otherwise. */
export const DEFAULT_DEVELOPMENT_SCOPES: readonly string[] = [
  'openid',
  'profile',
  'email',
  'orders:read',
  'orders:write',
  'jobs:dispatch',
  'identity:admin',
  'reports:read',
];

/** The fixed test user of the password grant (values from the upstream token example). */
export const DEFAULT_DEVELOPMENT_USER: Readonly<DevelopmentUser> = Object.freeze({
  id: 'W76xhMqQaZiqmOHzN3e6Q0',
  email: 'alice@example.com',
  name: 'Alice Example',
  tenantId: 'tenant-001',
  roles: ['admin', 'orders-manager'],
  password: 'alice-password',
});

export const DEFAULT_DEVELOPMENT_AUDIENCE = 'https://api.example.com';
/** Public client (no secret) allowed to use the password grant. */
export const WEB_APP_CLIENT_ID = 'web-app';
/** Confidential client used by `serviceAccountToken()` and `mintToken()` when no client is named. */
export const DEFAULT_SERVICE_ACCOUNT_CLIENT_ID = 'dev-service-account';

/** Endpoint paths, laid out like upstream s3db. */
export const DEVELOPMENT_IDENTITY_ROUTES = Object.freeze({
  authorization: '/oauth/authorize',
  token: '/oauth/token',
  registration: '/oauth/register',
  introspection: '/oauth/introspect',
  revocation: '/oauth/revoke',
  userinfo: '/oauth/userinfo',
  jwks: '/.well-known/jwks.json',
  discovery: '/.well-known/openid-configuration',
  s3dbDocument: '/.well-known/s3db-identity.json',
});

/** Scopes that describe the person, not an API permission: not given to the default service account. */
export const OIDC_SCOPES: ReadonlySet<string> = new Set(['openid', 'profile', 'email', 'offline_access']);

/** The options with their defaults applied: what every part of the provider reads. */
export interface DevelopmentSettings {
  readonly audience: string;
  readonly accessTokenTtl: number;
  readonly typ: AccessTokenTyp;
  readonly user: Readonly<DevelopmentUser>;
  readonly scopes: readonly string[];
  readonly s3dbDocument: boolean;
  readonly rotateClientSecretOnUpdate: boolean;
  readonly rotateRegistrationAccessToken: boolean;
}

export function resolveDevelopmentSettings(options: DevelopmentIdentityProviderOptions): DevelopmentSettings {
  return Object.freeze({
    audience: options.audience ?? DEFAULT_DEVELOPMENT_AUDIENCE,
    accessTokenTtl: options.accessTokenTtl ?? 900,
    typ: options.typ ?? 'JWT',
    user: Object.freeze({ ...DEFAULT_DEVELOPMENT_USER, ...options.user }),
    scopes: Object.freeze([...(options.scopes ?? DEFAULT_DEVELOPMENT_SCOPES)]),
    s3dbDocument: options.s3dbDocument ?? true,
    // Stock oidc-provider, Keycloak and s3db keep the secret on RFC 7592 update: so do we, unless asked.
    rotateClientSecretOnUpdate: options.rotateClientSecretOnUpdate ?? false,
    rotateRegistrationAccessToken: options.rotateRegistrationAccessToken ?? true,
  });
}
