import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JWK } from 'jose';
import type { Provider } from 'oidc-provider';
import { DevelopmentClients } from './development-clients.js';
import { DEVELOPMENT_IDENTITY_ROUTES as ROUTES, resolveDevelopmentSettings, type DevelopmentSettings } from './development-defaults.js';
import { DevelopmentFaults } from './development-faults.js';
import type {
  AccessTokenTyp,
  DevelopmentClientInput,
  DevelopmentIdentityProviderOptions,
  DevelopmentIdentityProviderStats,
  DevelopmentUser,
  MintTokenOptions,
  RegisteredDevelopmentClient,
  ServiceAccountTokenOptions,
  UserTokenOptions,
} from './development-identity-provider.types.js';
import { DevelopmentKeys } from './development-keys.js';
import { buildDevelopmentProvider } from './development-provider-configuration.js';
import { s3dbDocument, serveS3dbDocument } from './development-s3db-document.js';
import { LoopbackServer } from './development-server.js';
import { createDevelopmentStore, DevelopmentStatePersistence } from './development-state.js';
import { DevelopmentTokenClaims } from './development-token-claims.js';
import { DevelopmentTokens } from './development-tokens.js';
import { newSecret, sendJson, type JsonObject } from './development-util.js';
import type { DevelopmentSigningKey } from './keys.js';
import { loadOidcProvider, type OidcProviderModuleType } from './load-oidc-provider.js';
import type { MemoryStore } from './memory-store.js';
import { readStateFile, type DevelopmentProviderState } from './state-file.js';

export {
  DEFAULT_DEVELOPMENT_AUDIENCE,
  DEFAULT_DEVELOPMENT_SCOPES,
  DEFAULT_DEVELOPMENT_USER,
  DEFAULT_SERVICE_ACCOUNT_CLIENT_ID,
  DEVELOPMENT_IDENTITY_ROUTES,
  WEB_APP_CLIENT_ID,
} from './development-defaults.js';

/**
 * A real OAuth 2.0 / OpenID Connect provider for tests and local development, shaped like the
 * upstream s3db Identity server: panva's certified `oidc-provider` does the protocol work, and this
 * class adds the s3db metadata document, upstream-shaped JWT access tokens, a password grant for
 * one fixed user, RFC 7591/7592 client management, key rotation, request counters and fault
 * injection. Listens on 127.0.0.1 only.
 *
 * This class coordinates the lifecycle and the request path and delegates the rest: the socket
 * (development-server.ts), keys (development-keys.ts), clients and RFC 7591/7592
 * (development-clients.ts), tokens (development-token-claims.ts, development-tokens.ts), faults and
 * stats (development-faults.ts), the state file (development-state.ts), the s3db document
 * (development-s3db-document.ts) and the oidc-provider configuration
 * (development-provider-configuration.ts).
 */
export class DevelopmentIdentityProvider {
  /** Starts a provider on 127.0.0.1 (`options.port`, default any free port). */
  static async start(options: DevelopmentIdentityProviderOptions = {}): Promise<DevelopmentIdentityProvider> {
    const oidc = await loadOidcProvider();
    // A corrupt state file fails here, before anything listens.
    const state = options.stateFile ? await readStateFile(options.stateFile) : undefined;
    const keys = state ? DevelopmentKeys.restore(state) : await DevelopmentKeys.generate();
    const idp = new DevelopmentIdentityProvider(oidc, options, keys, state);
    await idp.server.listen(options.port ?? 0);
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

  private readonly settings: DevelopmentSettings;
  private readonly server: LoopbackServer;
  private readonly store: MemoryStore;
  private readonly cookieKey = newSecret();
  private readonly faults = new DevelopmentFaults();
  private readonly clients: DevelopmentClients;
  private readonly claims: DevelopmentTokenClaims;
  private readonly tokens: DevelopmentTokens;
  private readonly state: DevelopmentStatePersistence;
  private provider: Provider | undefined;
  private handleWithProvider: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined;
  private serviceAccount: RegisteredDevelopmentClient | undefined;

  private constructor(
    private readonly oidc: OidcProviderModuleType,
    options: DevelopmentIdentityProviderOptions,
    private readonly keyRing: DevelopmentKeys,
    restored?: DevelopmentProviderState,
  ) {
    this.settings = resolveDevelopmentSettings(options);
    this.audience = this.settings.audience;
    this.accessTokenTtl = this.settings.accessTokenTtl;
    this.typ = this.settings.typ;
    this.user = this.settings.user;
    this.scopes = this.settings.scopes;
    const issuer = () => this.issuer;
    this.store = createDevelopmentStore(restored);
    this.state = new DevelopmentStatePersistence(options.stateFile, this.store, keyRing, issuer);
    this.clients = new DevelopmentClients(this.store, this.settings, () => this.requireProvider());
    this.claims = new DevelopmentTokenClaims(oidc, this.settings, keyRing);
    this.tokens = new DevelopmentTokens(this.settings, issuer, keyRing, this.clients, this.claims, this.store);
    this.server = new LoopbackServer(
      (req, res) => this.handle(req, res),
      (error) => this.faults.recordError(error),
    );
  }

  // ---------------------------------------------------------------- lifecycle

  /** `http://127.0.0.1:<port>`, no trailing slash. Stable across stop/restart and key rotation. */
  get issuer(): string {
    return `http://127.0.0.1:${this.server.port}`;
  }

  get port(): number {
    return this.server.port;
  }

  get listening(): boolean {
    return this.server.listening;
  }

  /** Closes the server and every open socket (keep-alive ones included) at once. Idempotent. */
  async stop(): Promise<void> {
    this.faults.cancelDelays();
    await this.server.close();
  }

  /** Listens again on the same port with the same keys, clients and tokens (for outage tests). */
  async restart(): Promise<void> {
    if (this.server.listening) return;
    await this.server.listen(this.server.port);
  }

  private async initialize(clients: DevelopmentClientInput[]): Promise<void> {
    // The issuer contains the port, so the Provider can only be built once the socket is bound.
    this.rebuildProvider();
    this.serviceAccount = await this.clients.registerAtStart(clients);
    this.state.save();
  }

  /** Behind the same HTTP server; state lives in the shared store, so clients and grants survive. */
  private rebuildProvider(): void {
    const provider = buildDevelopmentProvider({
      oidc: this.oidc,
      issuer: this.issuer,
      settings: this.settings,
      store: this.store,
      cookieKey: this.cookieKey,
      keys: this.keyRing,
      claims: this.claims,
      clients: this.clients,
      settled: () => this.state.saveIfChanged(),
      serverError: (error) => this.faults.recordError(error),
    });
    this.provider = provider;
    this.handleWithProvider = provider.callback();
  }

  private requireProvider(): Provider {
    if (!this.provider) throw new Error('provider not started');
    return this.provider;
  }

  // ---------------------------------------------------------------- HTTP

  /** Our server owns the socket: counters and faults first, then the s3db document, then oidc-provider. */
  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (await this.faults.intercept(req.method ?? 'GET', path, res)) return;
    if (path === ROUTES.s3dbDocument && (req.method === 'GET' || req.method === 'HEAD')) {
      if (!this.settings.s3dbDocument) sendJson(res, 404, { error: 'not_found' });
      else serveS3dbDocument(req, res, this.s3dbDocument());
      return;
    }
    if (!this.handleWithProvider) {
      sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'provider is starting' });
      return;
    }
    const tokenEndpoint = path === ROUTES.introspection || path === ROUTES.revocation;
    if (tokenEndpoint && req.method === 'POST' && /^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) {
      try {
        req = await this.tokens.referenceJwtInBody(req);
      } catch {
        sendJson(res, 400, { error: 'invalid_request', error_description: 'failed to read the request body' });
        return;
      }
    }
    await this.handleWithProvider(req, res);
  }

  /** The upstream metadata document, field for field (see docs/upstream-identity.md §1). */
  s3dbDocument(): JsonObject {
    return s3dbDocument(this.issuer, this.scopes);
  }

  // ---------------------------------------------------------------- observability and faults

  /** A snapshot of the request counters. */
  get stats(): DevelopmentIdentityProviderStats {
    return this.faults.stats;
  }

  resetStats(): void {
    this.faults.resetStats();
  }

  /** Delays every response by `ms` (0 = off), to exercise client timeouts. */
  setDelay(ms: number): void {
    this.faults.setDelay(ms);
  }

  /** While true, every request is answered `503 {"error":"temporarily_unavailable"}`. */
  setFailing(failing: boolean): void {
    this.faults.setFailing(failing);
  }

  /** Errors oidc-provider reported as server_error (kept instead of logged). */
  get serverErrors(): readonly Error[] {
    return this.faults.serverErrors;
  }

  // ---------------------------------------------------------------- keys

  /** Kid of the RS256 key that signs access tokens now. */
  get signingKid(): string {
    return this.keyRing.signingKid;
  }

  /** Public JWKs exactly as the JWKS endpoint publishes them (signing key first). */
  get keys(): JWK[] {
    return this.keyRing.publicJwks();
  }

  /** Private key material, for tests that sign their own tokens: the signing key, or any key by kid (retired ones too). */
  signingKeyMaterial(kid: string = this.keyRing.signingKid): DevelopmentSigningKey {
    return this.keyRing.material(kid);
  }

  /**
   * Adds a new RS256 key that signs from now on; the previous keys stay published until retired.
   * The port, clients and issued tokens are untouched. Returns the new kid.
   */
  async rotateKeys(): Promise<string> {
    const kid = await this.keyRing.rotate();
    this.rebuildProvider();
    this.state.save();
    return kid;
  }

  /** Removes a key from the JWKS (tokens it signed stop verifying). The signing key cannot be retired. */
  retireKey(kid: string): void {
    this.keyRing.retire(kid);
    this.rebuildProvider();
    this.state.save();
  }

  // ---------------------------------------------------------------- clients

  /** Registers (or replaces) a client directly in the store, validated by oidc-provider. */
  async registerClient(input: DevelopmentClientInput): Promise<RegisteredDevelopmentClient> {
    const registered = await this.clients.add(input, { keepStoredSecret: false });
    this.state.save();
    return registered;
  }

  /** The stored metadata of a client (pre-registered or RFC 7591), or undefined once deleted. */
  clientMetadata(clientId: string): Record<string, unknown> | undefined {
    return this.clients.metadata(clientId);
  }

  /** Credentials of the built-in `dev-service-account` client. */
  get defaultServiceAccount(): RegisteredDevelopmentClient {
    if (!this.serviceAccount) throw new Error('provider not started');
    return this.serviceAccount;
  }

  // ---------------------------------------------------------------- tokens

  /** A real client_credentials request at the token endpoint; returns the access token. */
  serviceAccountToken(options: ServiceAccountTokenOptions = {}): Promise<string> {
    return this.tokens.serviceAccountToken(options);
  }

  /** A real password-grant request for the test user; returns the access token. */
  userToken(options: UserTokenOptions = {}): Promise<string> {
    return this.tokens.userToken(options);
  }

  /**
   * Signs a token directly (no token endpoint), starting from an upstream-shaped payload, to craft
   * expired, wrong-audience, unknown-kid or otherwise broken tokens.
   */
  mintToken(options: MintTokenOptions = {}): Promise<string> {
    return this.tokens.mintToken(options);
  }
}
