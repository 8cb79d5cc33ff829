import type { ClientMetadata, Provider } from 'oidc-provider';
import {
  DEFAULT_SERVICE_ACCOUNT_CLIENT_ID,
  DEVELOPMENT_IDENTITY_ROUTES as ROUTES,
  OIDC_SCOPES,
  WEB_APP_CLIENT_ID,
  type DevelopmentSettings,
} from './development-defaults.js';
import type { DevelopmentClientInput, RegisteredDevelopmentClient, TokenEndpointAuthMethod } from './development-identity-provider.types.js';
import { epochSeconds, newSecret, type JsonObject } from './development-util.js';
import type { MemoryStore } from './memory-store.js';

/** What oidc-provider's Koa context shows our hook after it answered. */
export interface AnsweredRequest {
  method: string;
  status: number;
  path: string;
  body: unknown;
}

/**
 * Clients: the ones registered programmatically (built-in, `clients` option, `registerClient()`),
 * and the hook on RFC 7591/7592 requests. Registration itself is oidc-provider's, reading and
 * writing the shared store.
 */
export class DevelopmentClients {
  constructor(
    private readonly store: MemoryStore,
    private readonly settings: DevelopmentSettings,
    /** The Provider in use now (rebuilt on key changes); validates client metadata. */
    private readonly provider: () => Provider,
  ) {}

  /**
   * Registers the built-in and pre-registered clients; returns the default service account. A
   * client already in the state file keeps its stored secret (unless `input` gives one), so
   * credentials handed out before a restart stay valid; its other metadata comes from the options.
   */
  async registerAtStart(clients: DevelopmentClientInput[]): Promise<RegisteredDevelopmentClient> {
    const apiScopes = this.settings.scopes.filter((scope) => !OIDC_SCOPES.has(scope));
    const keepStored = { keepStoredSecret: true };
    const serviceAccount = await this.add(
      { clientId: DEFAULT_SERVICE_ACCOUNT_CLIENT_ID, name: 'Development Service Account', scopes: apiScopes },
      keepStored,
    );
    await this.add(
      { clientId: WEB_APP_CLIENT_ID, name: 'Web App', scopes: [...this.settings.scopes], tokenEndpointAuthMethod: 'none', grantTypes: ['password'] },
      keepStored,
    );
    for (const client of clients) await this.add(client, keepStored);
    return serviceAccount;
  }

  /** Registers (or replaces) a client directly in the store, validated by oidc-provider. */
  async add(input: DevelopmentClientInput, { keepStoredSecret }: { keepStoredSecret: boolean }): Promise<RegisteredDevelopmentClient> {
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
    await this.provider().Client.validate(metadata);
    this.store.set('Client', input.clientId, metadata);
    return {
      clientId: input.clientId,
      clientSecret,
      tokenEndpointAuthMethod: method,
      scopes: [...input.scopes],
      ...(input.audience ? { audience: input.audience } : {}),
    };
  }

  /** The stored metadata (a copy), or undefined once deleted. */
  metadata(clientId: string): Record<string, unknown> | undefined {
    const stored = this.store.get('Client', clientId);
    return stored ? { ...stored } : undefined;
  }

  /** The client's registered scopes, or every supported scope when it has none. */
  requestableScopes(clientId: string): string[] {
    const scope = this.store.get('Client', clientId)?.scope;
    return typeof scope === 'string' && scope ? scope.split(' ') : [...this.settings.scopes];
  }

  /** How the client authenticates at the token endpoint, with its secret in force. */
  tokenEndpointCredentials(clientId: string): { method: string; secret: string } {
    const stored = this.store.get('Client', clientId);
    if (!stored) throw new Error(`unknown client ${clientId}`);
    return { method: stored.token_endpoint_auth_method ?? 'client_secret_basic', secret: stored.client_secret ?? '' };
  }

  /**
   * Opt-in only (`rotateClientSecretOnUpdate: true`): RFC 7592 §2.2 allows a new client_secret in
   * the PUT response, but stock oidc-provider, Keycloak and s3db keep the old one, and a default
   * kinder than them would hide rotation that fails against real providers. When on, a successful
   * update replaces the stored secret and the answer's; the old secret fails at once, since the
   * client record is re-read from the store on every request.
   */
  afterRequest(ctx: AnsweredRequest): void {
    if (!this.settings.rotateClientSecretOnUpdate) return;
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
}
