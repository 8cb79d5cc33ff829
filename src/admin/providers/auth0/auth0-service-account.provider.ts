import type { HttpException } from '@nestjs/common';
import type * as Auth0 from 'auth0';
import { IdentityConfigurationError } from '../../../errors/identity-configuration.error.js';
import { ProviderRequestError } from '../../provider-request.error.js';
import { within } from '../../../deadline.js';
import { providerFailure } from '../../provider-failure.js';
import { isClientId } from '../../service-account-input.js';
import type {
  CreateServiceAccountInput,
  IssuedServiceAccount,
  ProviderPermissionProblem,
  RotatedServiceAccount,
  ServiceAccountProvider,
  ServiceAccountRecord,
} from '../../service-account-provider.js';
import { auth0Failure, isSdkError, type Auth0FailureContext } from './auth0-failure.js';
import { resolveAuth0Options, type Auth0ServiceAccountProviderOptions, type ResolvedAuth0Options } from './auth0-options.js';

type Auth0Sdk = typeof Auth0;
type Management = InstanceType<Auth0Sdk['ManagementClient']>;

/** Loads the `auth0` module; injectable so tests can simulate it missing. Resolves with the module namespace. */
export type Auth0SdkLoader = () => Promise<unknown>;

export interface Auth0ServiceAccountProviderDependencies {
  /** Default: `import('auth0')`, on first use. */
  loadSdk?: Auth0SdkLoader;
}

/** The marker in `client_metadata` that tells the applications this adapter manages. */
export const AUTH0_MANAGED_BY = Object.freeze({ key: 'managed_by', value: 'nestjs-identity' });

const MANAGEMENT_API = 'the Auth0 Management API (authorise the M2M application for it under Applications → APIs)';

/** The Management API scopes the adapter's token needs, and what fails without each. */
const REQUIRED_SCOPES: readonly ProviderPermissionProblem[] = Object.freeze([
  { permission: 'create:clients', neededFor: 'creating service accounts (M2M applications)' },
  { permission: 'read:clients', neededFor: 'reading and listing service accounts' },
  { permission: 'delete:clients', neededFor: 'deleting service accounts' },
  { permission: 'read:client_keys', neededFor: 'reading the secret in force before a rotation' },
  { permission: 'update:client_keys', neededFor: 'rotating secrets (POST /api/v2/clients/{id}/rotate-secret)' },
  { permission: 'create:client_grants', neededFor: 'granting new service accounts their scopes on the audience API' },
  { permission: 'read:client_grants', neededFor: 'reading the scopes of service accounts (get and list)' },
]);

const CLIENT_FIELDS = 'client_id,name,app_type,client_metadata,created_at,token_endpoint_auth_method';

/** The SDK's own token request failed: our admin credentials, not the operation, are the problem. */
class ManagementTokenError extends Error {
  constructor(readonly sdkError: unknown) {
    super('Auth0 Management API token request failed');
  }
}

/**
 * ServiceAccountProvider for Auth0, through the vendor SDK (`auth0` v7, an optional peer
 * dependency loaded on first use). A service account is a Machine-to-Machine application
 * (`app_type: non_interactive`, client_credentials only, `client_secret_post`) marked in its
 * `client_metadata`, plus a client grant for the configured API with the requested scopes.
 *
 * Rotation is Auth0's rotate-secret endpoint. Auth0 documents that a rotated secret may take up
 * to 30 seconds to be in force everywhere; the adapter reports that window as
 * `previousSecretValidUntil` (see `rotate`).
 */
export class Auth0ServiceAccountProvider implements ServiceAccountProvider {
  readonly kind = 'auth0';
  private readonly options: ResolvedAuth0Options;
  private readonly loadSdk: Auth0SdkLoader;
  private session?: Promise<{ sdk: Auth0Sdk; management: Management; token: () => Promise<string> }>;

  constructor(options: Auth0ServiceAccountProviderOptions, dependencies: Auth0ServiceAccountProviderDependencies = {}) {
    this.options = resolveAuth0Options(options);
    this.loadSdk = dependencies.loadSdk ?? (() => import('auth0'));
  }

  async create(input: CreateServiceAccountInput): Promise<IssuedServiceAccount> {
    const operation = 'Creating a service account';
    const audience = input.audience ?? this.options.audience;
    const created = await this.call(operation, { permission: 'create:clients' }, (m) =>
      m.clients.create({
        name: input.name,
        description: 'Service account managed by nestjs-identity',
        app_type: 'non_interactive',
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'client_secret_post',
        client_metadata: { [AUTH0_MANAGED_BY.key]: AUTH0_MANAGED_BY.value },
      }),
    );
    const clientId = created.client_id;
    if (!isClientId(clientId)) throw new ProviderRequestError(operation, 'Auth0 answered without a client_id this module can store safely');
    const clientSecret = created.client_secret;
    if (typeof clientSecret !== 'string' || clientSecret.length === 0) {
      await this.discard(clientId);
      throw new ProviderRequestError(operation, 'Auth0 issued no client_secret for the new application');
    }
    try {
      await this.call(operation, { permission: 'create:client_grants', target: audience }, (m) =>
        m.clientGrants.create({ client_id: clientId, audience, scope: [...input.scopes] }),
      );
    } catch (error) {
      // An application without its grant could not get a token: do not leave it behind.
      await this.discard(clientId);
      throw error;
    }
    const record: ServiceAccountRecord = {
      clientId,
      name: typeof created.name === 'string' ? created.name : input.name,
      scopes: [...input.scopes],
      audience,
      createdAt: typeof created.created_at === 'string' ? created.created_at : new Date().toISOString(),
      tokenEndpointAuthMethod: 'client_secret_post',
    };
    return { record, clientSecret };
  }

  /**
   * Reads the secret in force (`read:client_keys`), then calls rotate-secret (`update:client_keys`),
   * which answers the application with its new secret.
   *
   * Grace window: Auth0's "Rotate Client Secrets" page
   * (https://auth0.com/docs/get-started/applications/rotate-client-secret) says new secrets may be
   * delayed up to thirty seconds while rotating, and advises keeping the previous secret as a
   * fallback meanwhile. That propagation delay is reported as `previousSecretValidUntil` = now +
   * `propagationSeconds` (default 30), so the caller does not probe the old secret and wrongly
   * call the rotation a failure while it still works. The page does not promise the old secret
   * works for all of that time, and there is no way to end it sooner (`invalidatePrevious` is
   * ignored).
   */
  async rotate(record: ServiceAccountRecord): Promise<RotatedServiceAccount> {
    const operation = 'Secret rotation';
    const target = record.clientId;
    const current = await this.call(operation, { permission: 'read:client_keys', target }, (m) =>
      m.clients.get(record.clientId, { fields: 'client_id,client_secret', include_fields: true }),
    );
    const previousSecret = typeof current.client_secret === 'string' && current.client_secret.length > 0 ? current.client_secret : undefined;
    const rotated = await this.call(operation, { permission: 'update:client_keys', target }, (m) => m.clients.rotateSecret(record.clientId));
    const clientSecret = rotated.client_secret;
    if (typeof clientSecret !== 'string' || clientSecret.length === 0) {
      throw new ProviderRequestError(operation, 'Auth0 answered rotate-secret without a client_secret');
    }
    const now = Date.now();
    return {
      record: { ...record, rotatedAt: new Date(now).toISOString() },
      clientSecret,
      previousSecret,
      previousSecretValidUntil: new Date(now + this.options.propagationSeconds * 1000),
      via: 'Auth0 rotate-secret',
    };
  }

  async get(record: ServiceAccountRecord): Promise<ServiceAccountRecord | undefined> {
    const operation = 'Reading a service account';
    let client: Auth0.Management.GetClientResponseContent;
    try {
      client = await this.call(operation, { permission: 'read:clients', target: record.clientId }, (m) =>
        m.clients.get(record.clientId, { fields: CLIENT_FIELDS, include_fields: true }),
      );
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
    const audience = record.audience ?? this.options.audience;
    const grants = await this.grantScopes(operation, audience, record.clientId);
    return {
      ...record,
      name: typeof client.name === 'string' ? client.name : record.name,
      scopes: grants.get(record.clientId) ?? [],
      audience,
      tokenEndpointAuthMethod: typeof client.token_endpoint_auth_method === 'string' ? client.token_endpoint_auth_method : record.tokenEndpointAuthMethod,
    };
  }

  /** The M2M applications carrying this adapter's marker, with their scopes on the configured API. */
  async list(): Promise<ServiceAccountRecord[]> {
    const operation = 'Listing service accounts';
    const clients = await this.call(operation, { permission: 'read:clients' }, async (m, requestOptions) => {
      const page = await m.clients.list({ app_type: 'non_interactive', fields: CLIENT_FIELDS, include_fields: true, per_page: 100 }, requestOptions);
      const found: Auth0.Management.Client[] = [];
      for await (const client of page) {
        if (client.client_metadata?.[AUTH0_MANAGED_BY.key] === AUTH0_MANAGED_BY.value && isClientId(client.client_id)) found.push(client);
      }
      return found;
    });
    const audience = this.options.audience;
    const grants = clients.length > 0 ? await this.grantScopes(operation, audience) : new Map<string, string[]>();
    return clients.map((client) => ({
      clientId: client.client_id as string,
      name: typeof client.name === 'string' ? client.name : '',
      scopes: grants.get(client.client_id as string) ?? [],
      audience,
      // Auth0 answers created_at for applications created since it added the field.
      createdAt: typeof client.created_at === 'string' ? client.created_at : '',
      tokenEndpointAuthMethod: typeof client.token_endpoint_auth_method === 'string' ? client.token_endpoint_auth_method : undefined,
    }));
  }

  /** Deletes the application (Auth0 deletes its client grants with it). Already gone is success. */
  async delete(record: ServiceAccountRecord): Promise<void> {
    try {
      await this.call('Deleting a service account', { permission: 'delete:clients', target: record.clientId }, (m) => m.clients.delete(record.clientId));
    } catch (error) {
      if (statusOf(error) === 404) return;
      throw error;
    }
  }

  /**
   * Reads the `scope` claim of the Management API token (decoded, not verified: it is only
   * compared with what the adapter needs) and names each missing scope.
   */
  async checkPermissions(): Promise<ProviderPermissionProblem[]> {
    const operation = 'Checking the Auth0 Management API permissions';
    const token = await this.call(operation, {}, async (_management, _options, session) => session.token());
    const granted = scopesOf(token);
    if (!granted) throw new ProviderRequestError(operation, 'the Management API token is not a JWT with a scope claim, so its permissions could not be read');
    return REQUIRED_SCOPES.filter((required) => !granted.has(required.permission)).map((required) => ({ ...required }));
  }

  /** client_id → scopes of its grant for `audience` (one client, or all of them). */
  private async grantScopes(operation: string, audience: string, clientId?: string): Promise<Map<string, string[]>> {
    return this.call(operation, { permission: 'read:client_grants' }, async (m, requestOptions) => {
      const page = await m.clientGrants.list({ audience, ...(clientId ? { client_id: clientId } : {}), take: 100 }, requestOptions);
      const scopes = new Map<string, string[]>();
      for await (const grant of page) {
        if (typeof grant.client_id === 'string' && grant.audience === audience) scopes.set(grant.client_id, Array.isArray(grant.scope) ? grant.scope.filter((s) => typeof s === 'string') : []);
      }
      return scopes;
    });
  }

  /** Best-effort removal of an application created by a failed `create`. */
  private async discard(clientId: string): Promise<void> {
    try {
      await this.call('Creating a service account', { permission: 'delete:clients', target: clientId }, (m) => m.clients.delete(clientId));
    } catch {
      // The original failure is what the caller needs to see.
    }
  }

  /** One SDK call; every failure leaves through auth0Failure() / providerFailure(). */
  private async call<T>(
    operation: string,
    context: Auth0FailureContext,
    run: (management: Management, requestOptions: { timeoutInSeconds: number; maxRetries: number }, session: { token: () => Promise<string> }) => Promise<T>,
  ): Promise<T> {
    const session = await this.connect();
    try {
      // A safety net over the SDK's own deadlines (its token request and its calls): an operation never hangs past it.
      return await within(run(session.management, { timeoutInSeconds: this.options.timeoutMs / 1000, maxRetries: 0 }, session), this.options.timeoutMs * 3 + 1_000, () =>
        providerFailure(operation, { timedOut: true }),
      );
    } catch (error) {
      throw this.failure(operation, error, context, session.sdk);
    }
  }

  private failure(operation: string, error: unknown, context: Auth0FailureContext, sdk: Auth0Sdk): unknown {
    if (error instanceof ManagementTokenError) {
      // The token endpoint refused the M2M application (401: wrong credentials; 403: not authorised for the Management API).
      return auth0Failure(operation, error.sdkError, { permission: MANAGEMENT_API });
    }
    if (isSdkError(error, sdk)) return auth0Failure(operation, error, context);
    // Our own HttpExceptions pass through; anything else is a bug to surface as is, not an upstream answer.
    return error;
  }

  private connect(): Promise<{ sdk: Auth0Sdk; management: Management; token: () => Promise<string> }> {
    this.session ??= this.open().catch((error: unknown) => {
      this.session = undefined;
      throw error;
    });
    return this.session;
  }

  private async open(): Promise<{ sdk: Auth0Sdk; management: Management; token: () => Promise<string> }> {
    const sdk = await this.sdk();
    const { domain, credentials, timeoutMs, baseUrl } = this.options;
    const fetchFn = auth0Fetch(domain, baseUrl, timeoutMs);
    let supplier: () => Promise<string>;
    if ('token' in credentials) {
      const token = credentials.token;
      supplier = async () => token;
    } else {
      const tokens = new sdk.TokenProvider({
        domain,
        clientId: credentials.clientId,
        clientSecret: credentials.clientSecret,
        audience: `https://${domain}/api/v2/`,
        fetch: fetchFn,
      });
      supplier = async () => {
        try {
          return await tokens.getAccessToken();
        } catch (error) {
          throw new ManagementTokenError(error);
        }
      };
    }
    // maxRetries 0: a 429 reaches us (and the caller gets 503 + Retry-After) instead of being retried silently.
    const management = new sdk.ManagementClient({ domain, token: supplier, fetch: fetchFn, timeoutInSeconds: timeoutMs / 1000, maxRetries: 0 });
    return { sdk, management, token: supplier };
  }

  private async sdk(): Promise<Auth0Sdk> {
    let loaded: unknown;
    try {
      loaded = await this.loadSdk();
    } catch (error) {
      if (isModuleNotFound(error)) {
        throw new IdentityConfigurationError('auth0', 'the Auth0 adapter (nestjs-identity/auth0) needs the Auth0 SDK, an optional peer dependency: npm install auth0');
      }
      throw error;
    }
    const sdk = loaded as Partial<Auth0Sdk> | undefined;
    if (typeof sdk?.ManagementClient !== 'function' || typeof sdk.TokenProvider !== 'function' || typeof sdk.ManagementError !== 'function') {
      throw new IdentityConfigurationError('auth0', 'the installed "auth0" package is not v7 (no ManagementClient/TokenProvider export): npm install auth0@^7');
    }
    return sdk as Auth0Sdk;
  }
}

/**
 * The fetch the SDK uses (its `fetch` option, which it also uses for its token request). It
 * sends requests for `https://{domain}` to `baseUrl` when one is set (tests), and bounds the
 * token request by our deadline (the SDK's own is a fixed 10 s); Management API calls are
 * bounded by the SDK's `timeoutInSeconds`.
 */
function auth0Fetch(domain: string, baseUrl: string | undefined, timeoutMs: number): typeof fetch {
  const origin = `https://${domain}`;
  return (input, init) => {
    let url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const isTokenRequest = url.startsWith(`${origin}/oauth/token`);
    if (baseUrl && (url === origin || url.startsWith(`${origin}/`))) url = baseUrl + url.slice(origin.length);
    const signal = isTokenRequest ? (init?.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs)) : init?.signal;
    if (typeof input === 'object' && !(input instanceof URL)) return fetch(new Request(url, input), { ...init, signal });
    return fetch(url, { ...init, signal });
  };
}

function statusOf(error: unknown): number | undefined {
  return isHttpException(error) ? error.getStatus() : undefined;
}

function isHttpException(error: unknown): error is HttpException {
  return typeof error === 'object' && error !== null && typeof (error as { getStatus?: unknown }).getStatus === 'function';
}

function isModuleNotFound(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

/** The scopes in a JWT's `scope` claim (space-separated, as Auth0 issues them), or undefined if it is not one. */
function scopesOf(token: string): Set<string> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    const scope = typeof payload === 'object' && payload !== null ? (payload as { scope?: unknown }).scope : undefined;
    if (typeof scope === 'string') return new Set(scope.split(' ').filter(Boolean));
    if (Array.isArray(scope)) return new Set(scope.filter((s): s is string => typeof s === 'string'));
    return undefined;
  } catch {
    return undefined;
  }
}
