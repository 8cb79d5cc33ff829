import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CompactSign, createLocalJWKSet, jwtVerify, type JWK, type JWTPayload } from 'jose';
import type {
  AccessToken,
  AdapterPayload,
  Client,
  ClientCredentials,
  ClientMetadata,
  Configuration,
  JWTStructured,
  KoaContextWithOIDC,
  Provider,
  ResourceServer,
  TokenEndpointGrantContext,
} from 'oidc-provider';
import type {
  AccessTokenTyp,
  DevelopmentClientInput,
  DevelopmentIdentityProviderOptions,
  DevelopmentIdentityProviderStats,
  DevelopmentUser,
  MintTokenOptions,
  RegisteredDevelopmentClient,
  ServiceAccountTokenOptions,
  TokenEndpointAuthMethod,
  UserTokenOptions,
} from './development-identity-provider.types.js';
import { DEVELOPMENT_KEY_ALGS, generateSigningKey, type DevelopmentKeyAlg, type DevelopmentSigningKey } from './keys.js';
import { loadOidcProvider, type OidcProviderModuleType } from './load-oidc-provider.js';
import { MemoryStore } from './memory-store.js';
import { readBody, replayRequest } from './request-body.js';
import { PERSISTENT_MODELS, readStateFile, writeStateFile, type DevelopmentProviderState } from './state-file.js';

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

const ROUTES = DEVELOPMENT_IDENTITY_ROUTES;
/** Scopes that describe the person, not an API permission: not given to the default service account. */
const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);
/** Must match what oidc-provider derives from this configuration (the spec checks discovery). */
const SUPPORTED_GRANT_TYPES = ['authorization_code', 'client_credentials', 'password'];
const S3DB_CACHE_TTL = 3600;
const COMPACT_JWS = /^[\w-]+\.[\w-]+\.[\w-]+$/;

type JsonObject = Record<string, unknown>;
type PasswordGrantParams = { username?: string; password?: string };

function emptyStats(): DevelopmentIdentityProviderStats {
  return {
    total: 0,
    jwks: 0,
    s3dbDocument: 0,
    discovery: 0,
    registration: 0,
    registrationManagement: 0,
    token: 0,
    introspection: 0,
    revocation: 0,
    userinfo: 0,
    authorization: 0,
    failed: 0,
    byPath: {},
  };
}

function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

function epochSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function isAbsoluteUri(value: string): boolean {
  return URL.canParse(value) && !value.includes('#');
}

/**
 * A real OAuth 2.0 / OpenID Connect provider for tests and local development, shaped like the
 * upstream s3db Identity server: panva's certified `oidc-provider` does the protocol work, and this
 * class adds the s3db metadata document, upstream-shaped JWT access tokens, a password grant for
 * one fixed user, RFC 7591/7592 client management, key rotation, request counters and fault
 * injection. Listens on 127.0.0.1 only.
 */
export class DevelopmentIdentityProvider {
  /** Starts a provider on 127.0.0.1 (`options.port`, default any free port). */
  static async start(options: DevelopmentIdentityProviderOptions = {}): Promise<DevelopmentIdentityProvider> {
    const oidc = await loadOidcProvider();
    // A corrupt state file fails here, before anything listens.
    const state = options.stateFile ? await readStateFile(options.stateFile) : undefined;
    const idp = state
      ? new DevelopmentIdentityProvider(oidc, options, state.keys, state)
      : new DevelopmentIdentityProvider(oidc, options, await Promise.all(DEVELOPMENT_KEY_ALGS.map(generateSigningKey)));
    await idp.listen(options.port ?? 0);
    try {
      await idp.initialize(options.clients ?? []);
    } catch (error) {
      await idp.stop();
      throw error;
    }
    return idp;
  }

  readonly audience: string;
  readonly accessTokenTtl: number;
  readonly typ: AccessTokenTyp;
  readonly user: Readonly<DevelopmentUser>;
  /** Supported scopes, as published in discovery and the s3db document. */
  readonly scopes: readonly string[];

  private readonly s3dbDocumentEnabled: boolean;
  private readonly rotateClientSecretOnUpdate: boolean;
  private readonly rotateRegistrationAccessToken: boolean;
  private readonly server: Server;
  private readonly store: MemoryStore;
  private readonly cookieKey = newSecret();
  /** Every key ever created (retired ones stay here so tests can still sign with them). */
  private readonly allKeys = new Map<string, DevelopmentSigningKey>();
  /** Kids published in the JWKS. */
  private published: string[];
  private currentSigningKid: string;
  private boundPort = 0;
  private provider: Provider | undefined;
  private handleWithProvider: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined;
  private counters = emptyStats();
  private delayMs = 0;
  private failing = false;
  private readonly pendingDelays = new Set<NodeJS.Timeout>();
  private readonly errors: Error[] = [];
  private serviceAccount: RegisteredDevelopmentClient | undefined;
  /** `options.stateFile`: keys and clients are saved there and loaded from there at start. */
  private readonly stateFile: string | undefined;
  /** `store.trackedChanges` at the last save. */
  private savedChanges = -1;

  private constructor(
    private readonly oidc: OidcProviderModuleType,
    options: DevelopmentIdentityProviderOptions,
    keys: DevelopmentSigningKey[],
    state?: DevelopmentProviderState,
  ) {
    this.audience = options.audience ?? DEFAULT_DEVELOPMENT_AUDIENCE;
    this.accessTokenTtl = options.accessTokenTtl ?? 900;
    this.typ = options.typ ?? 'JWT';
    this.user = Object.freeze({ ...DEFAULT_DEVELOPMENT_USER, ...options.user });
    this.scopes = Object.freeze([...(options.scopes ?? DEFAULT_DEVELOPMENT_SCOPES)]);
    this.s3dbDocumentEnabled = options.s3dbDocument ?? true;
    this.rotateClientSecretOnUpdate = options.rotateClientSecretOnUpdate ?? true;
    this.rotateRegistrationAccessToken = options.rotateRegistrationAccessToken ?? true;
    for (const key of keys) this.allKeys.set(key.kid, key);
    this.published = state ? [...state.published] : keys.map((key) => key.kid);
    this.currentSigningKid = state ? state.signingKid : keys[0]!.kid;
    this.stateFile = options.stateFile;
    this.store = new MemoryStore(new Set(PERSISTENT_MODELS));
    for (const [model, entries] of Object.entries(state?.models ?? {})) this.store.restore(model, entries);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.recordError(error);
        if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
        else res.destroy();
      });
    });
  }

  // ---------------------------------------------------------------- lifecycle

  /** `http://127.0.0.1:<port>`, no trailing slash. Stable across stop/restart and key rotation. */
  get issuer(): string {
    return `http://127.0.0.1:${this.boundPort}`;
  }

  get port(): number {
    return this.boundPort;
  }

  get listening(): boolean {
    return this.server.listening;
  }

  /** Closes the server and every open socket (keep-alive ones included) at once. Idempotent. */
  async stop(): Promise<void> {
    for (const timer of this.pendingDelays) clearTimeout(timer);
    this.pendingDelays.clear();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Listens again on the same port with the same keys, clients and tokens (for outage tests). */
  async restart(): Promise<void> {
    if (this.server.listening) return;
    await this.listen(this.boundPort);
  }

  private async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (this.server.address() as AddressInfo).port;
  }

  /**
   * Registers the built-in and pre-registered clients. A client already in the state file keeps
   * its stored secret (unless the options give one explicitly), so credentials handed out before a
   * restart stay valid; its other metadata comes from the options.
   */
  private async initialize(clients: DevelopmentClientInput[]): Promise<void> {
    // The issuer contains the port, so the Provider can only be built once the socket is bound.
    this.rebuildProvider();
    const apiScopes = this.scopes.filter((scope) => !OIDC_SCOPES.has(scope));
    const keepStored = { keepStoredSecret: true };
    this.serviceAccount = await this.addClient(
      { clientId: DEFAULT_SERVICE_ACCOUNT_CLIENT_ID, name: 'Development Service Account', scopes: apiScopes },
      keepStored,
    );
    await this.addClient(
      { clientId: WEB_APP_CLIENT_ID, name: 'Web App', scopes: [...this.scopes], tokenEndpointAuthMethod: 'none', grantTypes: ['password'] },
      keepStored,
    );
    for (const client of clients) await this.addClient(client, keepStored);
    this.saveState();
  }

  // ---------------------------------------------------------------- state file

  /** Writes keys and clients to `stateFile` (no-op without one). */
  private saveState(): void {
    if (!this.stateFile) return;
    const models: DevelopmentProviderState['models'] = {};
    for (const model of PERSISTENT_MODELS) models[model] = this.store.snapshot(model);
    const changes = this.store.trackedChanges;
    writeStateFile(this.stateFile, {
      keys: [...this.allKeys.values()],
      published: [...this.published],
      signingKid: this.currentSigningKid,
      models,
      issuer: this.issuer,
    });
    this.savedChanges = changes;
  }

  /** Saves when a client or registration access token changed since the last save. */
  private saveStateIfChanged(): void {
    if (this.stateFile && this.store.trackedChanges !== this.savedChanges) this.saveState();
  }

  // ---------------------------------------------------------------- observability and faults

  /** A snapshot of the request counters. */
  get stats(): DevelopmentIdentityProviderStats {
    return { ...this.counters, byPath: { ...this.counters.byPath } };
  }

  resetStats(): void {
    this.counters = emptyStats();
  }

  /** Delays every response by `ms` (0 = off), to exercise client timeouts. */
  setDelay(ms: number): void {
    this.delayMs = Math.max(0, ms);
  }

  /** While true, every request is answered `503 {"error":"temporarily_unavailable"}`. */
  setFailing(failing: boolean): void {
    this.failing = failing;
  }

  /** Errors oidc-provider reported as server_error (kept instead of logged). */
  get serverErrors(): readonly Error[] {
    return [...this.errors];
  }

  private recordError(error: unknown): void {
    this.errors.push(error instanceof Error ? error : new Error(String(error)));
    if (this.errors.length > 50) this.errors.shift();
  }

  private count(method: string, path: string): void {
    const stats = this.counters;
    stats.total += 1;
    stats.byPath[path] = (stats.byPath[path] ?? 0) + 1;
    if (path === ROUTES.jwks) stats.jwks += 1;
    else if (path === ROUTES.s3dbDocument) stats.s3dbDocument += 1;
    else if (path === ROUTES.discovery) stats.discovery += 1;
    else if (path === ROUTES.token) stats.token += 1;
    else if (path === ROUTES.introspection) stats.introspection += 1;
    else if (path === ROUTES.revocation) stats.revocation += 1;
    else if (path === ROUTES.userinfo) stats.userinfo += 1;
    else if (path === ROUTES.authorization) stats.authorization += 1;
    else if (path === ROUTES.registration && method === 'POST') stats.registration += 1;
    else if (path.startsWith(`${ROUTES.registration}/`)) stats.registrationManagement += 1;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pendingDelays.delete(timer);
        resolve();
      }, ms);
      this.pendingDelays.add(timer);
    });
  }

  // ---------------------------------------------------------------- HTTP

  /** Our server owns the socket: counters and faults first, then the s3db document, then oidc-provider. */
  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    this.count(req.method ?? 'GET', path);
    if (this.delayMs > 0) await this.sleep(this.delayMs);
    if (this.failing) {
      this.counters.failed += 1;
      sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'fault injected by setFailing(true)' });
      return;
    }
    if (path === ROUTES.s3dbDocument && (req.method === 'GET' || req.method === 'HEAD')) {
      if (!this.s3dbDocumentEnabled) sendJson(res, 404, { error: 'not_found' });
      else this.serveS3dbDocument(req, res);
      return;
    }
    if (!this.handleWithProvider) {
      sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'provider is starting' });
      return;
    }
    const tokenEndpoint = path === ROUTES.introspection || path === ROUTES.revocation;
    if (tokenEndpoint && req.method === 'POST' && /^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) {
      try {
        req = await this.referenceJwtInBody(req);
      } catch {
        sendJson(res, 400, { error: 'invalid_request', error_description: 'failed to read the request body' });
        return;
      }
    }
    await this.handleWithProvider(req, res);
  }

  /**
   * oidc-provider refuses JWT access tokens at introspection and revocation ("Structured JWT Tokens
   * cannot be introspected") because it never stores them. Upstream introspects them, and so must
   * we: the `token` parameter is swapped for an opaque reference under which the verified token's
   * payload is stored, then oidc-provider handles the request as usual (client authentication,
   * policy, response). A JWT that does not verify against our published keys gets a reference that
   * resolves to nothing, so the answer is `{active:false}` as RFC 7662 wants.
   */
  private async referenceJwtInBody(req: IncomingMessage): Promise<IncomingMessage> {
    const params = new URLSearchParams((await readBody(req)).toString('utf8'));
    const token = params.get('token');
    if (token && COMPACT_JWS.test(token)) params.set('token', await this.storeJwtReference(token));
    return replayRequest(req, Buffer.from(params.toString()));
  }

  /** The upstream metadata document, field for field (see docs/upstream-identity.md §1). */
  s3dbDocument(): JsonObject {
    const issuer = this.issuer;
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
      supportedScopes: [...this.scopes],
      supportedGrantTypes: [...SUPPORTED_GRANT_TYPES],
      supportedResponseTypes: ['code'],
      resources: { users: 'users', tenants: 'tenants', clients: 'clients' },
      clientRegistration: {
        url: `${issuer}${ROUTES.registration}`,
        supportedAuth: ['client_secret_basic', 'client_secret_post'],
      },
    };
  }

  private serveS3dbDocument(req: IncomingMessage, res: ServerResponse): void {
    const body = JSON.stringify(this.s3dbDocument());
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

  // ---------------------------------------------------------------- keys

  /** Kid of the RS256 key that signs access tokens now. */
  get signingKid(): string {
    return this.currentSigningKid;
  }

  /** Public JWKs exactly as the JWKS endpoint publishes them (signing key first). */
  get keys(): JWK[] {
    return this.publishedKeys().map((key) => ({ ...key.publicJwk }));
  }

  /** Private key material, for tests that sign their own tokens: the signing key, or any key by kid (retired ones too). */
  signingKeyMaterial(kid: string = this.currentSigningKid): DevelopmentSigningKey {
    const key = this.allKeys.get(kid);
    if (!key) throw new Error(`unknown key ${kid}`);
    return key;
  }

  /**
   * Adds a new RS256 key that signs from now on; the previous keys stay published until retired.
   * The port, clients and issued tokens are untouched. Returns the new kid.
   */
  async rotateKeys(): Promise<string> {
    const key = await generateSigningKey('RS256');
    this.allKeys.set(key.kid, key);
    this.published.push(key.kid);
    this.currentSigningKid = key.kid;
    this.rebuildProvider();
    this.saveState();
    return key.kid;
  }

  /** Removes a key from the JWKS (tokens it signed stop verifying). The signing key cannot be retired. */
  retireKey(kid: string): void {
    if (kid === this.currentSigningKid) throw new Error('cannot retire the current signing key: rotateKeys() first');
    if (!this.published.includes(kid)) throw new Error(`key ${kid} is not published`);
    this.published = this.published.filter((published) => published !== kid);
    this.rebuildProvider();
    this.saveState();
  }

  private publishedKeys(): DevelopmentSigningKey[] {
    const signing = this.signingKeyMaterial();
    const others = this.published.filter((kid) => kid !== signing.kid).map((kid) => this.signingKeyMaterial(kid));
    return [signing, ...others];
  }

  // ---------------------------------------------------------------- oidc-provider

  /**
   * oidc-provider's keystore is fixed at construction, so a key change builds a new Provider behind
   * the same HTTP server. State lives in `this.store`, shared by every Provider instance, so clients,
   * registration access tokens and grants survive.
   */
  private rebuildProvider(): void {
    const provider = new this.oidc.Provider(this.issuer, this.configuration());
    provider.registerGrantType<PasswordGrantParams>(
      'password',
      (ctx) => this.passwordGrant(ctx),
      ['username', 'password', 'scope', 'resource'],
      ['resource'],
    );
    provider.use(async (ctx, next) => {
      try {
        await next();
        this.rotateSecretAfterUpdate(ctx);
      } finally {
        // RFC 7591 registration and RFC 7592 update/delete change clients: saved before the answer leaves.
        this.saveStateIfChanged();
      }
    });
    provider.on('server_error', (_ctx: unknown, error: unknown) => this.recordError(error));
    provider.silent = true; // Koa would print unexpected errors to stderr; recordError keeps them
    this.provider = provider;
    this.handleWithProvider = provider.callback();
  }

  private configuration(): Configuration {
    const { errors } = this.oidc;
    const ttl = this.accessTokenTtl;
    return {
      adapter: this.store.adapterFactory,
      jwks: { keys: this.publishedKeys().map((key) => key.privateJwk) as NonNullable<Configuration['jwks']>['keys'] },
      scopes: [...this.scopes],
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
      cookies: { keys: [this.cookieKey] },
      // Everything below replaces an oidc-provider default that prints a "you should change this"
      // notice the first time it runs.
      clientBasedCORS: () => true,
      renderError: async (ctx, out) => {
        ctx.type = 'json';
        ctx.body = out;
      },
      findAccount: (_ctx, sub) =>
        sub === this.user.id
          ? {
              accountId: sub,
              claims: () => ({ sub, email: this.user.email, email_verified: true, name: this.user.name }),
            }
          : undefined,
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
        // oidc-provider requires the caller of introspection to authenticate as a client (upstream
        // does not); any authenticated client may introspect any token.
        introspection: { enabled: true, allowedPolicy: async () => true },
        revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
        // Open RFC 7591 registration: no initial access token.
        registration: { enabled: true, initialAccessToken: false, issueRegistrationAccessToken: true },
        registrationManagement: { enabled: true, rotateRegistrationAccessToken: this.rotateRegistrationAccessToken },
        resourceIndicators: {
          enabled: true,
          defaultResource: (_ctx, client, oneOf) => oneOf ?? this.clientAudience(client),
          useGrantedResource: () => true,
          getResourceServerInfo: (ctx, resource, client) => this.resourceServerInfo(ctx, resource, client),
        },
      },
      extraTokenClaims: (_ctx, token) => this.extraTokenClaims(token),
      formats: { customizers: { jwt: (_ctx, token, parts) => this.shapeJwt(token, parts) } },
    };
  }

  private clientAudience(client: Client): string {
    const audience = client.metadata()['audience'];
    return typeof audience === 'string' ? audience : this.audience;
  }

  /** Scopes the client may request: its registered `scope`, or every supported scope when it has none. */
  private allowedScopes(client: Client): string[] {
    return client.scope ? client.scope.split(' ') : [...this.scopes];
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
      if (!this.scopes.includes(scope)) throw new InvalidScope('requested scope is not supported', scope);
      if (!allowed.has(scope)) throw new InvalidScope('requested scope is not allowed', scope);
    }
    return [...new Set(scopes)];
  }

  /**
   * Any absolute URI is accepted as a resource (a development provider lets tests ask for tokens
   * of other audiences). Access tokens are always RS256 JWTs signed with the current signing key.
   */
  private resourceServerInfo(ctx: KoaContextWithOIDC | undefined, resource: string, client: Client): ResourceServer {
    if (ctx?.oidc?.route === 'token') this.checkRequestedScopes(ctx.oidc.params?.['scope'], client);
    return {
      scope: this.scopes.join(' '),
      audience: resource,
      accessTokenTTL: this.accessTokenTtl,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: 'RS256', kid: this.currentSigningKid } },
    };
  }

  /** The upstream claims beyond the registered ones; `shapeJwt` then fixes sub, scope, order and typ. */
  private extraTokenClaims(token: AccessToken | ClientCredentials): JsonObject | undefined {
    const aud = typeof token.aud === 'string' ? token.aud : this.audience;
    if (token.kind === 'ClientCredentials' && token.client) {
      return { token_type: 'access_token', token_use: 'service', service_account: this.serviceAccountClaim(token.client, aud) };
    }
    if (token.kind === 'AccessToken' && token.accountId === this.user.id) {
      return { token_type: 'access_token', token_use: 'user', ...this.userClaims() };
    }
    return undefined;
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

  private userClaims(): JsonObject {
    const { id, email, name, tenantId, roles } = this.user;
    return { email, tenantId, user: { id, tenantId, email, name, roles: [...roles] } };
  }

  /** Rewrites oidc-provider's JWT into the upstream shape: no jti, `sa:` subjects, scope always a string. */
  private shapeJwt(token: AccessToken | ClientCredentials, parts: JWTStructured): void {
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
    parts.header = { ...parts.header, typ: this.typ };
  }

  /** `grant_type=password` for the one fixed user (registered with provider.registerGrantType). */
  private async passwordGrant(ctx: TokenEndpointGrantContext<PasswordGrantParams>): Promise<void> {
    const { InvalidRequest, InvalidGrant, InvalidTarget } = this.oidc.errors;
    const { username, password, resource } = ctx.oidc.params;
    const { client, provider } = ctx.oidc;
    if (!username || !password) throw new InvalidRequest("missing required parameter 'username' or 'password'");
    const knownUser = username === this.user.email || username === this.user.id;
    if (!knownUser || password !== this.user.password) throw new InvalidGrant('invalid resource owner credentials');

    const scopes = this.checkRequestedScopes(ctx.oidc.params.scope, client);
    if (Array.isArray(resource) && resource.length > 1) throw new InvalidTarget('only a single resource indicator value is supported');
    const target = (Array.isArray(resource) ? resource[0] : resource) ?? this.clientAudience(client);
    if (!isAbsoluteUri(target)) throw new InvalidTarget('resource indicator must be an absolute URI without fragment');

    const token = new provider.AccessToken({
      accountId: this.user.id,
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

  /**
   * RFC 7592 allows a new client_secret in the PUT response; oidc-provider always keeps the old
   * one, so after a successful update we replace the stored secret and the answer's. The old secret
   * fails at once: the client record is re-read from the store on every request.
   */
  private rotateSecretAfterUpdate(ctx: { method: string; status: number; path: string; body: unknown }): void {
    if (!this.rotateClientSecretOnUpdate) return;
    if (ctx.method !== 'PUT' || ctx.status !== 200 || !ctx.path.startsWith(`${ROUTES.registration}/`)) return;
    const body = ctx.body as JsonObject | undefined;
    const clientId = body?.['client_id'];
    if (typeof clientId !== 'string') return;
    const stored = this.store.get('Client', clientId);
    if (!stored || typeof stored.client_secret !== 'string') return; // public clients have no secret
    const secret = newSecret();
    this.store.set('Client', clientId, { ...stored, client_secret: secret });
    body!['client_secret'] = secret;
  }

  /** Stores the payload oidc-provider would have stored for this JWT, under a reference derived from it. */
  private async storeJwtReference(token: string): Promise<string> {
    const reference = `jwt-ref-${createHash('sha256').update(token).digest('base64url')}`;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, createLocalJWKSet({ keys: this.keys }), {
        issuer: this.issuer,
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

  // ---------------------------------------------------------------- clients

  /** Registers (or replaces) a client directly in the store, validated by oidc-provider. */
  async registerClient(input: DevelopmentClientInput): Promise<RegisteredDevelopmentClient> {
    const registered = await this.addClient(input, { keepStoredSecret: false });
    this.saveState();
    return registered;
  }

  /** `keepStoredSecret` (start only): a client already in the store keeps its secret unless `input` gives one. */
  private async addClient(input: DevelopmentClientInput, { keepStoredSecret }: { keepStoredSecret: boolean }): Promise<RegisteredDevelopmentClient> {
    const provider = this.requireProvider();
    const method: TokenEndpointAuthMethod = input.tokenEndpointAuthMethod ?? 'client_secret_basic';
    const stored = keepStoredSecret ? this.store.get('Client', input.clientId) : undefined;
    const storedSecret = typeof stored?.client_secret === 'string' ? stored.client_secret : undefined;
    const clientSecret = method === 'none' ? undefined : (input.clientSecret ?? storedSecret ?? newSecret());
    const issuedAt = typeof stored?.client_id_issued_at === 'number' ? stored.client_id_issued_at : epochSeconds();
    const metadata: ClientMetadata = {
      client_id: input.clientId,
      ...(clientSecret ? { client_secret: clientSecret } : {}),
      client_name: input.name ?? input.clientId,
      client_id_issued_at: issuedAt,
      scope: input.scopes.join(' '),
      grant_types: input.grantTypes ?? ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: method,
      ...(input.audience ? { audience: input.audience } : {}),
      ...(input.tenantId ? { tenant_id: input.tenantId } : {}),
    };
    await provider.Client.validate(metadata);
    this.store.set('Client', input.clientId, metadata);
    return {
      clientId: input.clientId,
      clientSecret,
      tokenEndpointAuthMethod: method,
      scopes: [...input.scopes],
      ...(input.audience ? { audience: input.audience } : {}),
    };
  }

  /** The stored metadata of a client (pre-registered or RFC 7591), or undefined once deleted. */
  clientMetadata(clientId: string): Record<string, unknown> | undefined {
    const stored = this.store.get('Client', clientId);
    return stored ? { ...stored } : undefined;
  }

  /** Credentials of the built-in `dev-service-account` client. */
  get defaultServiceAccount(): RegisteredDevelopmentClient {
    if (!this.serviceAccount) throw new Error('provider not started');
    return this.serviceAccount;
  }

  private requireProvider(): Provider {
    if (!this.provider) throw new Error('provider not started');
    return this.provider;
  }

  // ---------------------------------------------------------------- token helpers

  /** A real client_credentials request at the token endpoint; returns the access token. */
  async serviceAccountToken(options: ServiceAccountTokenOptions = {}): Promise<string> {
    const clientId = options.clientId ?? DEFAULT_SERVICE_ACCOUNT_CLIENT_ID;
    const params: Record<string, string> = { grant_type: 'client_credentials' };
    const scopes = options.scopes ?? this.requestableScopes(clientId);
    if (scopes.length > 0) params['scope'] = scopes.join(' ');
    if (options.audience) params['resource'] = options.audience;
    return this.requestToken(clientId, params);
  }

  /** A real password-grant request for the test user; returns the access token. */
  async userToken(options: UserTokenOptions = {}): Promise<string> {
    const clientId = options.clientId ?? WEB_APP_CLIENT_ID;
    const params: Record<string, string> = {
      grant_type: 'password',
      username: options.username ?? this.user.email,
      password: options.password ?? this.user.password,
    };
    const scopes = options.scopes ?? this.requestableScopes(clientId);
    if (scopes.length > 0) params['scope'] = scopes.join(' ');
    if (options.audience) params['resource'] = options.audience;
    return this.requestToken(clientId, params);
  }

  private requestableScopes(clientId: string): string[] {
    const scope = this.store.get('Client', clientId)?.scope;
    return typeof scope === 'string' && scope ? scope.split(' ') : [...this.scopes];
  }

  /** Authenticates the way the client registered (basic, post or none), with the secret from the store. */
  private async requestToken(clientId: string, params: Record<string, string>): Promise<string> {
    const stored = this.store.get('Client', clientId);
    if (!stored) throw new Error(`unknown client ${clientId}`);
    const method = stored.token_endpoint_auth_method ?? 'client_secret_basic';
    const secret = stored.client_secret ?? '';
    const body = new URLSearchParams(params);
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    if (method === 'client_secret_basic') {
      const credentials = `${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`;
      headers['authorization'] = `Basic ${Buffer.from(credentials).toString('base64')}`;
    } else {
      body.set('client_id', clientId);
      if (method === 'client_secret_post') body.set('client_secret', secret);
    }
    const response = await fetch(`${this.issuer}${ROUTES.token}`, { method: 'POST', headers, body });
    const json = (await response.json().catch(() => ({}))) as JsonObject;
    if (!response.ok || typeof json['access_token'] !== 'string') {
      throw new Error(
        `token request for ${clientId} failed: ${response.status} ${String(json['error'] ?? '')} ${String(json['error_description'] ?? '')}`.trim(),
      );
    }
    return json['access_token'];
  }

  /**
   * Signs a token directly (no token endpoint), starting from an upstream-shaped payload, to craft
   * expired, wrong-audience, unknown-kid or otherwise broken tokens.
   */
  async mintToken(options: MintTokenOptions = {}): Promise<string> {
    const key = this.mintingKey(options.kid, options.alg ?? 'RS256');
    const now = epochSeconds();
    const base = options.kind === 'user' ? this.userPayload() : this.servicePayload();
    const payload: JsonObject = {
      iss: this.issuer,
      ...base,
      iat: now,
      exp: now + (options.expiresIn ?? this.accessTokenTtl),
      ...options.claims,
    };
    for (const claim of options.omit ?? []) delete payload[claim];
    const header = { alg: key.alg, typ: this.typ, kid: options.kid ?? key.kid, ...options.header };
    return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader(header as { alg: string })
      .sign(key.privateKey);
  }

  private mintingKey(kid: string | undefined, alg: DevelopmentKeyAlg): DevelopmentSigningKey {
    const byKid = kid ? this.allKeys.get(kid) : undefined;
    if (byKid) return byKid;
    if (alg === 'RS256') return this.signingKeyMaterial();
    const key = this.publishedKeys().find((candidate) => candidate.alg === alg);
    if (!key) throw new Error(`no published ${alg} key`);
    return key;
  }

  private servicePayload(): JsonObject {
    const clientId = DEFAULT_SERVICE_ACCOUNT_CLIENT_ID;
    const scopes = this.requestableScopes(clientId);
    return {
      sub: `sa:${clientId}`,
      aud: this.audience,
      scope: scopes.join(' '),
      token_type: 'access_token',
      token_use: 'service',
      client_id: clientId,
      service_account: {
        clientId,
        client_id: clientId,
        name: this.clientMetadata(clientId)?.['client_name'] ?? clientId,
        scopes,
        audiences: [this.audience],
      },
    };
  }

  private userPayload(): JsonObject {
    return {
      sub: this.user.id,
      aud: this.audience,
      scope: this.requestableScopes(WEB_APP_CLIENT_ID).join(' '),
      token_type: 'access_token',
      token_use: 'user',
      client_id: WEB_APP_CLIENT_ID,
      ...this.userClaims(),
    };
  }
}
