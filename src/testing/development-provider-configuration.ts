import type { Configuration, Provider } from 'oidc-provider';
import type { DevelopmentClients } from './development-clients.js';
import { DEVELOPMENT_IDENTITY_ROUTES as ROUTES, type DevelopmentSettings } from './development-defaults.js';
import type { DevelopmentKeys } from './development-keys.js';
import type { DevelopmentTokenClaims, PasswordGrantParams } from './development-token-claims.js';
import { isAbsoluteUri } from './development-util.js';
import type { OidcProviderModuleType } from './load-oidc-provider.js';
import type { MemoryStore } from './memory-store.js';

/** Everything a Provider instance is built from. */
export interface DevelopmentProviderParts {
  oidc: OidcProviderModuleType;
  issuer: string;
  settings: DevelopmentSettings;
  /** Shared by every Provider instance, so clients and tokens survive a rebuild. */
  store: MemoryStore;
  cookieKey: string;
  keys: DevelopmentKeys;
  claims: DevelopmentTokenClaims;
  clients: DevelopmentClients;
  /** After every request, answered or failed: RFC 7591/7592 changes are saved before the answer leaves. */
  settled(): void;
  serverError(error: unknown): void;
}

/**
 * A Provider for the current keys. oidc-provider's keystore is fixed at construction, so a key
 * change builds a new one behind the same HTTP server.
 */
export function buildDevelopmentProvider(parts: DevelopmentProviderParts): Provider {
  const provider = new parts.oidc.Provider(parts.issuer, developmentConfiguration(parts));
  provider.registerGrantType<PasswordGrantParams>('password', (ctx) => parts.claims.passwordGrant(ctx), ['username', 'password', 'scope', 'resource'], ['resource']);
  provider.use(async (ctx, next) => {
    try {
      await next();
      parts.clients.afterRequest(ctx);
    } finally {
      parts.settled();
    }
  });
  provider.on('server_error', (_ctx: unknown, error: unknown) => parts.serverError(error));
  provider.silent = true; // Koa would print unexpected errors to stderr; serverError keeps them
  return provider;
}

function developmentConfiguration({ oidc, settings, store, cookieKey, keys, claims }: DevelopmentProviderParts): Configuration {
  const { errors } = oidc;
  const ttl = settings.accessTokenTtl;
  const { user } = settings;
  return {
    adapter: store.adapterFactory,
    jwks: { keys: keys.privateJwks() as NonNullable<Configuration['jwks']>['keys'] },
    scopes: [...settings.scopes],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    responseTypes: ['code'],
    routes: {
      authorization: ROUTES.authorization,
      token: ROUTES.token,
      registration: ROUTES.registration,
      introspection: ROUTES.introspection,
      revocation: ROUTES.revocation,
      userinfo: ROUTES.userinfo,
      jwks: ROUTES.jwks,
    },
    cookies: { keys: [cookieKey] },
    // Everything below replaces an oidc-provider default that prints a "you should change this"
    // notice the first time it runs.
    clientBasedCORS: () => true,
    renderError: async (ctx, out) => {
      ctx.type = 'json';
      ctx.body = out;
    },
    findAccount: (_ctx, sub) =>
      sub === user.id ? { accountId: sub, claims: () => ({ sub, email: user.email, email_verified: true, name: user.name }) } : undefined,
    ttl: {
      AccessToken: ttl,
      ClientCredentials: ttl,
      IdToken: ttl,
      AuthorizationCode: 60,
      RefreshToken: 86_400,
      Interaction: 3600,
      Session: 86_400,
      Grant: 86_400,
    },
    // Custom client metadata accepted at registration: the client's default audience (resource)
    // and the tenant copied into `service_account.tenantId`.
    extraClientMetadata: {
      properties: ['audience', 'tenant_id'],
      validator: (_ctx, key, value) => {
        if (value === undefined) return;
        if (key === 'audience' && (typeof value !== 'string' || !isAbsoluteUri(value))) {
          throw new errors.InvalidClientMetadata('audience must be an absolute URI');
        }
        if (key === 'tenant_id' && typeof value !== 'string') {
          throw new errors.InvalidClientMetadata('tenant_id must be a string');
        }
      },
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      clientCredentials: { enabled: true },
      // RFC 9449: a token request with a DPoP proof gets a token bound to its key (cnf.jkt). This is
      // oidc-provider's default, spelled out because the DPoP suites rely on it; proof algorithms
      // stay the stock ones (ES256, Ed25519, EdDSA).
      dPoP: { enabled: true },
      // oidc-provider requires the caller of introspection to authenticate as a client (upstream
      // does not); any authenticated client may introspect any token.
      introspection: { enabled: true, allowedPolicy: async () => true },
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      // Open RFC 7591 registration: no initial access token.
      registration: { enabled: true, initialAccessToken: false, issueRegistrationAccessToken: true },
      registrationManagement: { enabled: true, rotateRegistrationAccessToken: settings.rotateRegistrationAccessToken },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx, client, oneOf) => oneOf ?? claims.clientAudience(client),
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource, client) => claims.resourceServerInfo(ctx, resource, client),
      },
    },
    extraTokenClaims: (_ctx, token) => claims.extraTokenClaims(token),
    formats: { customizers: { jwt: (_ctx, token, parts) => claims.shapeJwt(token, parts) } },
  };
}
