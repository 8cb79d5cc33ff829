import { ConflictException } from '@nestjs/common';
import type * as OktaSdk from '@okta/okta-sdk-nodejs';
import { IdentityConfigurationError } from '../../../errors/identity-configuration.error.js';
import { ProviderRequestError } from '../../provider-request.error.js';
import { isClientId } from '../../service-account-input.js';
import type {
  CreateServiceAccountInput,
  IssuedServiceAccount,
  ProviderPermissionProblem,
  RotatedServiceAccount,
  ServiceAccountProvider,
  ServiceAccountRecord,
} from '../../service-account-provider.js';
import { isOktaNotFound, OKTA_ADMIN_SCOPES, OKTA_APP_ADMIN_ROLE, oktaFailure, OktaTokenRefusedError } from './okta-failure.js';
import { resolveOktaOptions, type OktaServiceAccountProviderOptions, type ResolvedOktaOptions } from './okta-options.js';

type Sdk = typeof OktaSdk;
type Client = InstanceType<Sdk['Client']>;
type Application = OktaSdk.Application;
type ClientSecret = OktaSdk.OAuth2ClientSecret;

/** Loads `@okta/okta-sdk-nodejs`; injectable so tests can simulate it missing. Resolves with the module namespace. */
export type OktaSdkLoader = () => Promise<unknown>;

export interface OktaServiceAccountProviderDependencies {
  /** Default: `import('@okta/okta-sdk-nodejs')`, on first use. */
  loadSdk?: OktaSdkLoader;
}

/** The marker in the app's `profile` that tells the apps this adapter manages (Okta lets OAuth apps carry any JSON profile). */
export const OKTA_MANAGED_BY = Object.freeze({ key: 'managedBy', value: 'nestjs-identity' });

const VIA = 'Okta client secret rotation';
const AUTH_METHOD = 'client_secret_basic';

type Access = 'read' | 'manage';

/** What each Okta API scope is needed for, as checkPermissions reports it. */
const SCOPE_USES: Record<(typeof OKTA_ADMIN_SCOPES)[number], string> = {
  'okta.apps.read': 'reading and listing service accounts, and reading the secrets before a rotation',
  'okta.apps.manage': 'creating service accounts, rotating their secrets and deleting them',
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function moduleMissing(error: unknown): boolean {
  const code = isRecord(error) ? error.code : undefined;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

function iso(value: unknown): string | undefined {
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
  if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) return new Date(value).toISOString();
  return undefined;
}

function time(value: unknown): number {
  const at = iso(value);
  return at ? Date.parse(at) : 0;
}

function stringArray(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((item) => typeof item === 'string') ? [...value] : undefined;
}

/** The app's OAuth client part (`credentials.oauthClient`, `settings.oauthClient`), read loosely: Application is the base type. */
function oauthParts(app: Application): { clientId?: unknown; clientSecret?: unknown; authMethod?: unknown; applicationType?: unknown } {
  const loose = app as unknown as { credentials?: { oauthClient?: Record<string, unknown> }; settings?: { oauthClient?: Record<string, unknown> } };
  const credentials = loose.credentials?.oauthClient ?? {};
  const settings = loose.settings?.oauthClient ?? {};
  return { clientId: credentials.client_id, clientSecret: credentials.client_secret, authMethod: credentials.token_endpoint_auth_method, applicationType: settings.application_type };
}

function isManaged(app: Application): boolean {
  return isRecord(app.profile) && app.profile[OKTA_MANAGED_BY.key] === OKTA_MANAGED_BY.value && oauthParts(app).applicationType === 'service';
}

/**
 * A usable secret value from a secret object. Okta's reference shows list answers with the value
 * elided ("DRUFXGF9XbLn......a3x3POBiIxDreBCdZuFs5B"); such a value, or a hash, is not the secret.
 */
function revealed(secret: ClientSecret | undefined): string | undefined {
  const value = secret?.client_secret;
  if (typeof value !== 'string' || value.length < 14 || value.includes('...') || value === secret?.secret_hash) return undefined;
  return value;
}

/**
 * ServiceAccountProvider for Okta, through the vendor SDK (`@okta/okta-sdk-nodejs` v8, an
 * optional peer dependency loaded on first use). A service account is an OIDC "service" app
 * (`signOnMode: OPENID_CONNECT`, `application_type: service`, client_credentials only,
 * `client_secret_basic`) marked `profile.managedBy = "nestjs-identity"`; its client id is the app id.
 * Its tokens come from the custom authorization server `authorizationServerId`.
 *
 * Rotation uses Okta's client secret API (up to two secrets per app): add a new Okta-generated
 * secret, then deactivate and delete the previous one, so there is no grace window. Okta's list
 * answer carries the secret values, so the previous one is reported for the caller to check.
 * See docs/providers/okta.md.
 */
export class OktaServiceAccountProvider implements ServiceAccountProvider {
  readonly kind = 'okta';
  /** Where the service accounts get their tokens: `{orgUrl}/oauth2/{authorizationServerId}/v1/token`. */
  readonly tokenUrl: string;
  private readonly options: ResolvedOktaOptions;
  private readonly loadSdk: OktaSdkLoader;
  private session?: Promise<{ sdk: Sdk; client: Client }>;

  constructor(options: OktaServiceAccountProviderOptions, dependencies: OktaServiceAccountProviderDependencies = {}) {
    this.options = resolveOktaOptions(options);
    this.tokenUrl = this.options.tokenUrl;
    this.loadSdk = dependencies.loadSdk ?? (() => import('@okta/okta-sdk-nodejs'));
  }

  async create(input: CreateServiceAccountInput): Promise<IssuedServiceAccount> {
    const operation = 'Creating a service account';
    const application = {
      name: 'oidc_client',
      label: input.name,
      signOnMode: 'OPENID_CONNECT',
      profile: { [OKTA_MANAGED_BY.key]: OKTA_MANAGED_BY.value, scopes: [...input.scopes], ...(input.audience ? { audience: input.audience } : {}) },
      credentials: { oauthClient: { token_endpoint_auth_method: AUTH_METHOD, autoKeyRotation: true } },
      settings: { oauthClient: { application_type: 'service', grant_types: ['client_credentials'], response_types: ['token'] } },
    } as unknown as Application;
    const created = await this.call(operation, 'manage', undefined, (client) => client.applicationApi.createApplication({ application, activate: true }));
    const appId = created.id;
    const parts = oauthParts(created);
    const clientId = parts.clientId ?? appId;
    if (typeof appId !== 'string' || !isClientId(clientId)) {
      if (typeof appId === 'string') await this.discard(appId);
      throw new ProviderRequestError(operation, 'Okta answered without an app id / client_id this module can store safely');
    }
    if (typeof parts.clientSecret !== 'string' || parts.clientSecret.length === 0) {
      await this.discard(appId);
      throw new ProviderRequestError(operation, 'Okta issued no client_secret for the new service app');
    }
    const record: ServiceAccountRecord = {
      clientId,
      name: typeof created.label === 'string' ? created.label : input.name,
      scopes: [...input.scopes],
      ...(input.audience ? { audience: input.audience } : {}),
      createdAt: iso(created.created) ?? new Date().toISOString(),
      tokenEndpointAuthMethod: parts.authMethod === 'client_secret_post' ? 'client_secret_post' : AUTH_METHOD,
      providerId: appId,
    };
    return { record, clientSecret: parts.clientSecret };
  }

  /**
   * Lists the app's secrets; the newest ACTIVE one is the secret in force, and its value (Okta's
   * list answer carries it) is reported as `previousSecret`. Okta holds at most two secrets per
   * app, so any other one is removed first (deactivated if active, then deleted). Then a new
   * Okta-generated secret is added and the previous one deactivated and deleted: no grace window.
   *
   * If the previous secret cannot be deactivated (one retry), the new one is withdrawn again so
   * that nothing changed and the account keeps its working secret; only if that also fails does
   * the answer say that the app has two active secrets and which one to remove in the console.
   */
  async rotate(record: ServiceAccountRecord): Promise<RotatedServiceAccount> {
    const operation = 'Secret rotation';
    const appId = this.appId(record);
    const secrets = await this.listSecrets(operation, appId, record.clientId);
    // Newest first; on a tie, the one Okta lists later.
    const newestFirst = secrets.map((secret, index) => ({ secret, index })).sort((a, b) => time(b.secret.created) - time(a.secret.created) || b.index - a.index);
    const active = newestFirst.filter(({ secret }) => secret.status === 'ACTIVE');
    if (active.length > 1) {
      // Which of two active secrets the clients use cannot be told from here: deactivating either could cut them off.
      const ids = active.map(({ secret }) => secret.id).filter((id): id is string => typeof id === 'string').join(', ');
      throw new ConflictException({
        statusCode: 409,
        error: 'conflict',
        message: `Secret rotation refused: the Okta app has two active client secrets (${ids}); deactivate the one no client uses in the Okta console, then rotate again`,
      });
    }
    const current = active[0]?.secret;
    const previousSecret = revealed(current);
    // Make room (two secrets at most): the inactive leftovers go, oldest first.
    const others = newestFirst.map(({ secret }) => secret).filter((secret) => secret !== current).reverse();
    for (const other of others) await this.removeSecret(operation, appId, record.clientId, other);

    const added = await this.call(operation, 'manage', record.clientId, (client) =>
      client.applicationSSOPublicKeysApi.createOAuth2ClientSecret({ appId, oAuth2ClientSecretRequestBody: { status: 'ACTIVE' } as OktaSdk.OAuth2ClientSecretRequestBody }),
    );
    const clientSecret = revealed(added);
    if (!clientSecret || typeof added.id !== 'string') {
      if (typeof added.id === 'string') await this.removeSecret(operation, appId, record.clientId, added).catch(() => undefined);
      throw new ProviderRequestError(operation, 'Okta answered the new client secret without its value; the previous secret stays in force');
    }

    if (current) await this.retirePrevious(operation, appId, record.clientId, current, added);
    return { record: { ...record, providerId: appId, rotatedAt: new Date().toISOString() }, clientSecret, previousSecret, via: VIA };
  }

  async get(record: ServiceAccountRecord): Promise<ServiceAccountRecord | undefined> {
    const operation = 'Reading a service account';
    const appId = this.appId(record);
    let app: Application;
    try {
      app = await this.call(operation, 'read', record.clientId, (client) => client.applicationApi.getApplication({ appId }), { notFound: 'raw' });
    } catch (error) {
      if (isOktaNotFound(error)) return undefined;
      throw error;
    }
    const profile = isRecord(app.profile) ? app.profile : {};
    return {
      ...record,
      name: typeof app.label === 'string' ? app.label : record.name,
      scopes: stringArray(profile.scopes) ?? record.scopes,
      providerId: appId,
    };
  }

  /** The service apps marked `profile.managedBy = "nestjs-identity"` (Okta's list filter cannot match a profile, so the marker is checked here). */
  async list(): Promise<ServiceAccountRecord[]> {
    const operation = 'Listing service accounts';
    return this.call(operation, 'read', undefined, async (client) => {
      const records: ServiceAccountRecord[] = [];
      const apps = await client.applicationApi.listApplications({ filter: 'name eq "oidc_client"', limit: 200 });
      for await (const app of apps) {
        if (!app || !isManaged(app) || typeof app.id !== 'string') continue;
        const parts = oauthParts(app);
        const clientId = parts.clientId ?? app.id;
        if (!isClientId(clientId)) continue;
        const profile = app.profile as Record<string, unknown>;
        records.push({
          clientId,
          name: typeof app.label === 'string' ? app.label : clientId,
          scopes: stringArray(profile.scopes) ?? [],
          ...(typeof profile.audience === 'string' ? { audience: profile.audience } : {}),
          createdAt: iso(app.created) ?? new Date(0).toISOString(),
          tokenEndpointAuthMethod: parts.authMethod === 'client_secret_post' ? 'client_secret_post' : AUTH_METHOD,
          providerId: app.id,
        });
      }
      return records;
    });
  }

  /** Deactivates, then deletes the app (Okta deletes only inactive apps). Already gone is success. */
  async delete(record: ServiceAccountRecord): Promise<void> {
    const operation = 'Deleting a service account';
    const appId = this.appId(record);
    try {
      await this.call(operation, 'manage', record.clientId, (client) => client.applicationApi.deactivateApplication({ appId }), { notFound: 'raw' });
      await this.call(operation, 'manage', record.clientId, (client) => client.applicationApi.deleteApplication({ appId }), { notFound: 'raw' });
    } catch (error) {
      if (isOktaNotFound(error)) return;
      throw error;
    }
  }

  /**
   * With a service app: asks the org authorization server for a token with each Okta API scope
   * (`invalid_scope` means not granted), then makes one list call (a 403 then means no admin
   * role). With an API token: one list call; a 403 means its admin lacks the Application
   * Administrator role. Bad credentials, rate limits and timeouts are thrown, not reported.
   */
  async checkPermissions(): Promise<ProviderPermissionProblem[]> {
    const operation = 'Checking the Okta admin credentials';
    const problems: ProviderPermissionProblem[] = [];
    const { sdk, client } = await this.connect();
    if (this.options.credentials.mode === 'private-key') {
      const missing = await this.missingScopes(operation, sdk, client);
      for (const scope of missing) problems.push({ permission: scope, neededFor: SCOPE_USES[scope] });
      if (missing.length > 0) return problems;
    }
    try {
      const apps = await client.applicationApi.listApplications({ filter: 'name eq "oidc_client"', limit: 1 });
      await apps.next();
    } catch (error) {
      if (isRecord(error) && error.status === 403) {
        const oauth = this.options.credentials.mode === 'private-key';
        problems.push({
          permission: OKTA_APP_ADMIN_ROLE,
          neededFor: oauth
            ? 'every operation: Okta also requires an admin role assigned to the service app (Applications → service app → Admin roles)'
            : "every operation: the API token acts with its admin's roles (Security → Administrators)",
        });
        return problems;
      }
      throw oktaFailure(operation, error, { permission: this.permission('read'), oauth: this.options.credentials.mode === 'private-key' });
    }
    return problems;
  }

  /** The Okta API scopes the service app was not granted, asking for all at once, then one by one. */
  private async missingScopes(operation: string, sdk: Sdk, client: Client): Promise<Array<(typeof OKTA_ADMIN_SCOPES)[number]>> {
    const context = { permission: OKTA_ADMIN_SCOPES.join(' and '), oauth: true };
    const refusedScope = (error: unknown) => (error instanceof OktaTokenRefusedError && error.oauthError === 'invalid_scope') || (isRecord(error) && error.status === 400);
    try {
      const token = await this.adminToken(client);
      const granted = typeof token.scope === 'string' ? token.scope.split(' ') : [...OKTA_ADMIN_SCOPES];
      return OKTA_ADMIN_SCOPES.filter((scope) => !granted.includes(scope));
    } catch (error) {
      if (!refusedScope(error)) throw oktaFailure(operation, error, context);
    }
    // Okta refuses the whole request when one scope is not granted: ask for each alone.
    const missing: Array<(typeof OKTA_ADMIN_SCOPES)[number]> = [];
    for (const scope of OKTA_ADMIN_SCOPES) {
      try {
        await this.adminToken(this.newClient(sdk, [scope]));
      } catch (error) {
        if (refusedScope(error)) missing.push(scope);
        else throw oktaFailure(operation, error, context);
      }
    }
    return missing;
  }

  /**
   * The service app's management API token, checked: the SDK (8.1) caches an error answer of the
   * token endpoint as if it were a token (see OktaTokenRefusedError), so that is caught here, the
   * bad cache entry dropped, and the refusal reported as such.
   */
  private async adminToken(client: Client): Promise<{ scope?: unknown }> {
    const token = (await client.oauth.getAccessToken()) as unknown;
    if (isRecord(token) && typeof token.access_token === 'string' && token.access_token.length > 0) return token;
    client.oauth.clearCachedAccessToken();
    const code = isRecord(token) && typeof token.error === 'string' && /^[a-z_]{1,64}$/.test(token.error) ? token.error : undefined;
    throw new OktaTokenRefusedError(code);
  }

  private appId(record: ServiceAccountRecord): string {
    // For OIDC apps Okta's client_id is the app id; providerId is kept for when they differ.
    return record.providerId ?? record.clientId;
  }

  private permission(access: Access): string {
    return this.options.credentials.mode === 'private-key' ? (access === 'read' ? 'okta.apps.read' : 'okta.apps.manage') : OKTA_APP_ADMIN_ROLE;
  }

  private async listSecrets(operation: string, appId: string, target: string): Promise<ClientSecret[]> {
    return this.call(operation, 'read', target, async (client) => {
      const secrets: ClientSecret[] = [];
      for await (const secret of await client.applicationSSOPublicKeysApi.listOAuth2ClientSecrets({ appId })) if (secret) secrets.push(secret);
      return secrets;
    });
  }

  /** Deactivates (when active) and deletes one secret: Okta deletes only inactive secrets. */
  private async removeSecret(operation: string, appId: string, target: string, secret: ClientSecret, options: { goneIsDone?: boolean } = {}): Promise<void> {
    const secretId = secret.id;
    if (typeof secretId !== 'string') throw new ProviderRequestError(operation, 'Okta listed a client secret without an id');
    const notFound = options.goneIsDone ? ('raw' as const) : undefined;
    try {
      if (secret.status !== 'INACTIVE') {
        await this.call(operation, 'manage', target, (client) => client.applicationSSOPublicKeysApi.deactivateOAuth2ClientSecret({ appId, secretId }), { notFound });
      }
      await this.call(operation, 'manage', target, (client) => client.applicationSSOPublicKeysApi.deleteOAuth2ClientSecret({ appId, secretId }), { notFound });
    } catch (error) {
      if (options.goneIsDone && isOktaNotFound(error)) return;
      throw error;
    }
  }

  /** Deactivates and deletes the previous secret; on failure, withdraws the new one (see rotate). */
  private async retirePrevious(operation: string, appId: string, target: string, previous: ClientSecret, added: ClientSecret): Promise<void> {
    const secretId = previous.id as string;
    const deactivate = () => this.call(operation, 'manage', target, (client) => client.applicationSSOPublicKeysApi.deactivateOAuth2ClientSecret({ appId, secretId }));
    try {
      await deactivate().catch(() => deactivate());
    } catch (failure) {
      try {
        await this.removeSecret(operation, appId, target, added, { goneIsDone: true });
      } catch {
        throw new ProviderRequestError(
          operation,
          `Okta created a new client secret (id ${String(added.id)}) for app "${appId}" but the previous secret could not be deactivated, and the new one could not be withdrawn: ` +
            'the app now has two active secrets. The account keeps its previous secret (the new one was not handed out); in the Okta Admin Console ' +
            `(Applications → the app → General → Client Credentials) deactivate and delete secret ${String(added.id)}, then rotate again`,
        );
      }
      throw failure;
    }
    // Deleting an inactive secret is tidying up: it no longer authenticates, so a failure here does not undo the rotation.
    await this.call(operation, 'manage', target, (client) => client.applicationSSOPublicKeysApi.deleteOAuth2ClientSecret({ appId, secretId })).catch(() => undefined);
  }

  /** Removes an app this adapter just created and cannot hand out; best effort. */
  private async discard(appId: string): Promise<void> {
    try {
      const { client } = await this.connect();
      await client.applicationApi.deactivateApplication({ appId });
      await client.applicationApi.deleteApplication({ appId });
    } catch {
      // The failure being reported matters more than this clean-up.
    }
  }

  /**
   * One SDK call with the failure mapped by `oktaFailure()`. With `notFound: 'raw'` a 404 is
   * rethrown as the SDK's error, for callers to whom "gone" is an answer (get, delete).
   */
  private async call<T>(operation: string, access: Access, target: string | undefined, run: (client: Client) => Promise<T>, options: { notFound?: 'raw' } = {}): Promise<T> {
    const { client } = await this.connect();
    try {
      if (this.options.credentials.mode === 'private-key') await this.adminToken(client);
      return await run(client);
    } catch (error) {
      if (options.notFound === 'raw' && isOktaNotFound(error)) throw error;
      throw oktaFailure(operation, error, { permission: this.permission(access), target, oauth: this.options.credentials.mode === 'private-key' });
    }
  }

  private connect(): Promise<{ sdk: Sdk; client: Client }> {
    this.session ??= (async () => {
      const sdk = await this.sdk();
      return { sdk, client: this.newClient(sdk, [...OKTA_ADMIN_SCOPES]) };
    })().catch((error: unknown) => {
      this.session = undefined;
      throw error;
    });
    return this.session;
  }

  private async sdk(): Promise<Sdk> {
    let loaded: unknown;
    try {
      loaded = await this.loadSdk();
    } catch (error) {
      throw new IdentityConfigurationError(
        'OktaServiceAccountProvider',
        `needs the optional peer dependency @okta/okta-sdk-nodejs (v8), which could not be loaded${moduleMissing(error) ? '' : ' (it failed to load)'}: npm install @okta/okta-sdk-nodejs`,
      );
    }
    const candidate = (isRecord(loaded) && typeof loaded.Client !== 'function' && isRecord(loaded.default) ? loaded.default : loaded) as Partial<Sdk> | undefined;
    if (!candidate || typeof candidate.Client !== 'function' || typeof candidate.DefaultRequestExecutor !== 'function') {
      throw new IdentityConfigurationError('OktaServiceAccountProvider', 'the module loaded as @okta/okta-sdk-nodejs has no Client/DefaultRequestExecutor export (not v8?): npm install @okta/okta-sdk-nodejs@^8');
    }
    return candidate as Sdk;
  }

  /**
   * Every setting is given explicitly, so that an `okta.yaml` or OKTA_CLIENT_* variable the SDK
   * would otherwise read cannot change what was configured. No retries (a 429 reaches the caller
   * as 503 with Retry-After), the deadline per request is `timeoutMs`, and no response cache
   * (a read right after a write must see it).
   */
  private newClient(sdk: Sdk, scopes: string[]): Client {
    const { orgUrl, credentials, timeoutMs } = this.options;
    const requestExecutor = new sdk.DefaultRequestExecutor({ maxRetries: 0, requestTimeout: timeoutMs });
    const common = { orgUrl, requestExecutor, cacheMiddleware: null };
    if (credentials.mode === 'token') return new sdk.Client({ ...common, authorizationMode: 'SSWS', token: credentials.token });
    return new sdk.Client({
      ...common,
      authorizationMode: 'PrivateKey',
      clientId: credentials.clientId,
      scopes,
      privateKey: credentials.privateKey,
      keyId: credentials.keyId ?? '',
    });
  }
}
