import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { CompactSign, createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { AdapterPayload } from 'oidc-provider';
import type { DevelopmentClients } from './development-clients.js';
import {
  DEFAULT_SERVICE_ACCOUNT_CLIENT_ID,
  DEVELOPMENT_IDENTITY_ROUTES as ROUTES,
  WEB_APP_CLIENT_ID,
  type DevelopmentSettings,
} from './development-defaults.js';
import type { MintTokenOptions, ServiceAccountTokenOptions, UserTokenOptions } from './development-identity-provider.types.js';
import type { DevelopmentKeys } from './development-keys.js';
import type { DevelopmentTokenClaims } from './development-token-claims.js';
import { epochSeconds, type JsonObject } from './development-util.js';
import { DEVELOPMENT_KEY_ALGS } from './keys.js';
import type { MemoryStore } from './memory-store.js';
import { readBody, replayRequest } from './request-body.js';

const COMPACT_JWS = /^[\w-]+\.[\w-]+\.[\w-]+$/;

/**
 * Tokens for tests: real requests at our token endpoint (`serviceAccountToken`, `userToken`),
 * tokens signed directly (`mintToken`), and the JWT references that let oidc-provider introspect
 * and revoke the JWTs it issued.
 */
export class DevelopmentTokens {
  constructor(
    private readonly settings: DevelopmentSettings,
    private readonly issuer: () => string,
    private readonly keys: DevelopmentKeys,
    private readonly clients: DevelopmentClients,
    private readonly claims: DevelopmentTokenClaims,
    private readonly store: MemoryStore,
  ) {}

  async serviceAccountToken(options: ServiceAccountTokenOptions = {}): Promise<string> {
    const clientId = options.clientId ?? DEFAULT_SERVICE_ACCOUNT_CLIENT_ID;
    const params: Record<string, string> = { grant_type: 'client_credentials' };
    const scopes = options.scopes ?? this.clients.requestableScopes(clientId);
    if (scopes.length > 0) params['scope'] = scopes.join(' ');
    if (options.audience) params['resource'] = options.audience;
    return this.requestToken(clientId, params);
  }

  async userToken(options: UserTokenOptions = {}): Promise<string> {
    const clientId = options.clientId ?? WEB_APP_CLIENT_ID;
    const params: Record<string, string> = {
      grant_type: 'password',
      username: options.username ?? this.settings.user.email,
      password: options.password ?? this.settings.user.password,
    };
    const scopes = options.scopes ?? this.clients.requestableScopes(clientId);
    if (scopes.length > 0) params['scope'] = scopes.join(' ');
    if (options.audience) params['resource'] = options.audience;
    return this.requestToken(clientId, params);
  }

  async mintToken(options: MintTokenOptions = {}): Promise<string> {
    const key = this.keys.forMinting(options.kid, options.alg ?? 'RS256');
    const now = epochSeconds();
    const base = options.kind === 'user' ? this.userPayload() : this.servicePayload();
    const payload: JsonObject = {
      iss: this.issuer(),
      ...base,
      iat: now,
      exp: now + (options.expiresIn ?? this.settings.accessTokenTtl),
      ...options.claims,
    };
    for (const claim of options.omit ?? []) delete payload[claim];
    const header = { alg: key.alg, typ: this.settings.typ, kid: options.kid ?? key.kid, ...options.header };
    return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader(header as { alg: string })
      .sign(key.privateKey);
  }

  /**
   * oidc-provider refuses JWT access tokens at introspection and revocation ("Structured JWT Tokens
   * cannot be introspected") because it never stores them. Upstream introspects them, and so must
   * we: the `token` parameter is swapped for an opaque reference under which the verified token's
   * payload is stored, then oidc-provider handles the request as usual (client authentication,
   * policy, response). A JWT that does not verify against our published keys gets a reference that
   * resolves to nothing, so the answer is `{active:false}` as RFC 7662 wants.
   */
  async referenceJwtInBody(req: IncomingMessage): Promise<IncomingMessage> {
    const params = new URLSearchParams((await readBody(req)).toString('utf8'));
    const token = params.get('token');
    if (token && COMPACT_JWS.test(token)) params.set('token', await this.storeJwtReference(token));
    return replayRequest(req, Buffer.from(params.toString()));
  }

  /** Stores the payload oidc-provider would have stored for this JWT, under a reference derived from it. */
  private async storeJwtReference(token: string): Promise<string> {
    const reference = `jwt-ref-${createHash('sha256').update(token).digest('base64url')}`;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, createLocalJWKSet({ keys: this.keys.publicJwks() }), {
        issuer: this.issuer(),
        algorithms: DEVELOPMENT_KEY_ALGS,
      }));
    } catch {
      return reference;
    }
    const service = payload['token_use'] === 'service';
    const model = service ? 'ClientCredentials' : 'AccessToken';
    if (this.store.wasRevoked(model, reference) || typeof payload.exp !== 'number') return reference;
    const serviceAccount = payload['service_account'] as JsonObject | undefined;
    const tenantId = service ? serviceAccount?.['tenantId'] : payload['tenantId'];
    // Introspection answers `{...extra, active, client_id, exp, iat, iss, aud, scope, token_type}`
    // (plus `sub` from accountId): `extra` carries the upstream-specific members.
    const extra: JsonObject = {
      token_use: payload['token_use'],
      ...(service ? { sub: payload.sub, service_account: serviceAccount } : { user: payload['user'] }),
      ...(typeof tenantId === 'string' ? { tenant_id: tenantId } : {}),
    };
    const stored = {
      jti: reference,
      kind: model,
      iat: payload.iat,
      exp: payload.exp,
      clientId: payload['client_id'],
      accountId: service ? undefined : payload.sub,
      aud: payload.aud,
      scope: typeof payload['scope'] === 'string' && payload['scope'] ? payload['scope'] : undefined,
      extra,
    } as AdapterPayload;
    this.store.set(model, reference, stored, Math.max(1, payload.exp - epochSeconds()));
    return reference;
  }

  /** Authenticates the way the client registered (basic, post or none), with the secret from the store. */
  private async requestToken(clientId: string, params: Record<string, string>): Promise<string> {
    const { method, secret } = this.clients.tokenEndpointCredentials(clientId);
    const body = new URLSearchParams(params);
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    if (method === 'client_secret_basic') {
      const credentials = `${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`;
      headers['authorization'] = `Basic ${Buffer.from(credentials).toString('base64')}`;
    } else {
      body.set('client_id', clientId);
      if (method === 'client_secret_post') body.set('client_secret', secret);
    }
    const response = await fetch(`${this.issuer()}${ROUTES.token}`, { method: 'POST', headers, body });
    const json = (await response.json().catch(() => ({}))) as JsonObject;
    if (!response.ok || typeof json['access_token'] !== 'string') {
      throw new Error(
        `token request for ${clientId} failed: ${response.status} ${String(json['error'] ?? '')} ${String(json['error_description'] ?? '')}`.trim(),
      );
    }
    return json['access_token'];
  }

  private servicePayload(): JsonObject {
    const clientId = DEFAULT_SERVICE_ACCOUNT_CLIENT_ID;
    const { audience } = this.settings;
    const scopes = this.clients.requestableScopes(clientId);
    return {
      sub: `sa:${clientId}`,
      aud: audience,
      scope: scopes.join(' '),
      token_type: 'access_token',
      token_use: 'service',
      client_id: clientId,
      service_account: {
        clientId,
        client_id: clientId,
        name: this.clients.metadata(clientId)?.['client_name'] ?? clientId,
        scopes,
        audiences: [audience],
      },
    };
  }

  private userPayload(): JsonObject {
    const user = this.settings.user;
    return {
      sub: user.id,
      aud: this.settings.audience,
      scope: this.clients.requestableScopes(WEB_APP_CLIENT_ID).join(' '),
      token_type: 'access_token',
      token_use: 'user',
      client_id: WEB_APP_CLIENT_ID,
      ...this.claims.userClaims(),
    };
  }
}
