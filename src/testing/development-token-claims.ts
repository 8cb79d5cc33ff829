import type { AccessToken, Client, ClientCredentials, JWTStructured, KoaContextWithOIDC, ResourceServer, TokenEndpointGrantContext } from 'oidc-provider';
import type { DevelopmentSettings } from './development-defaults.js';
import type { DevelopmentKeys } from './development-keys.js';
import { isAbsoluteUri, type JsonObject } from './development-util.js';
import type { OidcProviderModuleType } from './load-oidc-provider.js';

export type PasswordGrantParams = { username?: string; password?: string };

/**
 * What oidc-provider issues, shaped like upstream s3db: which scopes and audiences a client gets,
 * the upstream claims and JWT layout of access tokens, and the password grant for the one fixed
 * user. Plugged into the Provider configuration (development-provider-configuration.ts).
 */
export class DevelopmentTokenClaims {
  constructor(
    private readonly oidc: OidcProviderModuleType,
    private readonly settings: DevelopmentSettings,
    private readonly keys: DevelopmentKeys,
  ) {}

  /** The client's registered `audience`, else the provider's. */
  clientAudience(client: Client): string {
    const audience = client.metadata()['audience'];
    return typeof audience === 'string' ? audience : this.settings.audience;
  }

  /**
   * Any absolute URI is accepted as a resource (a development provider lets tests ask for tokens
   * of other audiences). Access tokens are always RS256 JWTs signed with the current signing key.
   */
  resourceServerInfo(ctx: KoaContextWithOIDC | undefined, resource: string, client: Client): ResourceServer {
    if (ctx?.oidc?.route === 'token') this.checkRequestedScopes(ctx.oidc.params?.['scope'], client);
    return {
      scope: this.settings.scopes.join(' '),
      audience: resource,
      accessTokenTTL: this.settings.accessTokenTtl,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: 'RS256', kid: this.keys.signingKid } },
    };
  }

  /** The upstream claims beyond the registered ones; `shapeJwt` then fixes sub, scope, order and typ. */
  extraTokenClaims(token: AccessToken | ClientCredentials): JsonObject | undefined {
    const aud = typeof token.aud === 'string' ? token.aud : this.settings.audience;
    if (token.kind === 'ClientCredentials' && token.client) {
      return { token_type: 'access_token', token_use: 'service', service_account: this.serviceAccountClaim(token.client, aud) };
    }
    if (token.kind === 'AccessToken' && token.accountId === this.settings.user.id) {
      return { token_type: 'access_token', token_use: 'user', ...this.userClaims() };
    }
    return undefined;
  }

  /** The user members of an upstream user token (`mintToken` uses them too). */
  userClaims(): JsonObject {
    const { id, email, name, tenantId, roles } = this.settings.user;
    return { email, tenantId, user: { id, tenantId, email, name, roles: [...roles] } };
  }

  /** Rewrites oidc-provider's JWT into the upstream shape: no jti, `sa:` subjects, scope always a string. */
  shapeJwt(token: AccessToken | ClientCredentials, parts: JWTStructured): void {
    const { jti: _jti, iss, sub, aud, scope, token_type, token_use, client_id, iat, exp, ...rest } = parts.payload;
    const shaped: JsonObject = {
      iss,
      sub: token.kind === 'ClientCredentials' ? `sa:${String(client_id)}` : sub,
      aud,
      scope: typeof scope === 'string' ? scope : '',
      token_type,
      token_use,
      client_id,
      ...rest,
      iat,
      exp,
    };
    for (const key of Object.keys(parts.payload)) delete parts.payload[key];
    Object.assign(parts.payload, shaped);
    // oidc-provider defaults to typ "at+jwt"; header fields set here win.
    parts.header = { ...parts.header, typ: this.settings.typ };
  }

  /** `grant_type=password` for the one fixed user (registered with provider.registerGrantType). */
  async passwordGrant(ctx: TokenEndpointGrantContext<PasswordGrantParams>): Promise<void> {
    const { InvalidRequest, InvalidGrant, InvalidTarget } = this.oidc.errors;
    const { user } = this.settings;
    const { username, password, resource } = ctx.oidc.params;
    const { client, provider } = ctx.oidc;
    if (!username || !password) throw new InvalidRequest("missing required parameter 'username' or 'password'");
    const knownUser = username === user.email || username === user.id;
    if (!knownUser || password !== user.password) throw new InvalidGrant('invalid resource owner credentials');

    const scopes = this.checkRequestedScopes(ctx.oidc.params.scope, client);
    if (Array.isArray(resource) && resource.length > 1) throw new InvalidTarget('only a single resource indicator value is supported');
    const target = (Array.isArray(resource) ? resource[0] : resource) ?? this.clientAudience(client);
    if (!isAbsoluteUri(target)) throw new InvalidTarget('resource indicator must be an absolute URI without fragment');

    const token = new provider.AccessToken({
      accountId: user.id,
      client,
      gty: 'password',
      scope: scopes.join(' ') || undefined,
      // No Grant record backs this grant type (nothing to consent to); oidc-provider only needs a
      // grantId for tokens it looks up later, and JWT access tokens are never stored.
      grantId: undefined as unknown as string,
    });
    token.resourceServer = new provider.ResourceServer(target, this.resourceServerInfo(undefined, target, client));
    ctx.oidc.entity('AccessToken', token);
    const value = await token.save();
    ctx.body = { access_token: value, token_type: 'Bearer', expires_in: token.expiration, scope: token.scope ?? '' };
  }

  private serviceAccountClaim(client: Client, aud: string): JsonObject {
    const tenantId = client.metadata()['tenant_id'];
    return {
      clientId: client.clientId,
      client_id: client.clientId,
      name: client.clientName ?? client.clientId,
      scopes: this.allowedScopes(client),
      audiences: [aud],
      ...(typeof tenantId === 'string' ? { tenantId } : {}),
    };
  }

  /** Scopes the client may request: its registered `scope`, or every supported scope when it has none. */
  private allowedScopes(client: Client): string[] {
    return client.scope ? client.scope.split(' ') : [...this.settings.scopes];
  }

  /**
   * Like upstream: every requested scope must be supported AND allowed for the client, else
   * `invalid_scope` (oidc-provider alone would silently drop unknown scopes). No scope → none.
   */
  private checkRequestedScopes(requested: unknown, client: Client): string[] {
    const { InvalidScope } = this.oidc.errors;
    const scopes = typeof requested === 'string' ? requested.split(' ').filter(Boolean) : [];
    const allowed = new Set(this.allowedScopes(client));
    for (const scope of scopes) {
      if (!this.settings.scopes.includes(scope)) throw new InvalidScope('requested scope is not supported', scope);
      if (!allowed.has(scope)) throw new InvalidScope('requested scope is not allowed', scope);
    }
    return [...new Set(scopes)];
  }
}
