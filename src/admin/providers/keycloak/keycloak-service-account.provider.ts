import { randomBytes } from 'node:crypto';
import { HttpException } from '@nestjs/common';
import type KcAdminClient from '@keycloak/keycloak-admin-client';
import { errorCode } from '../../../client/token-request.js';
import { IdentityConfigurationError } from '../../../errors/identity-configuration.error.js';
import { providerFailure, retryAfterSeconds } from '../../provider-failure.js';
import { ProviderRequestError } from '../../provider-request.error.js';
import { isClientId, ServiceAccountInputError } from '../../service-account-input.js';
import type {
  CreateServiceAccountInput,
  IssuedServiceAccount,
  ProviderPermissionProblem,
  RotatedServiceAccount,
  RotateServiceAccountOptions,
  ServiceAccountProvider,
  ServiceAccountRecord,
} from '../../service-account-provider.js';
import { resolveKeycloakOptions, type KeycloakServiceAccountProviderOptions, type ResolvedKeycloakOptions } from './keycloak-options.js';

/**
 * Loads `@keycloak/keycloak-admin-client` (an optional peer dependency). Internal: tests inject one
 * to simulate a missing SDK. Typed loosely so that this package's declarations never name the SDK.
 */
export type KeycloakSdkLoader = () => Promise<unknown>;

type KcClient = KcAdminClient;
type ClientRepresentation = NonNullable<Awaited<ReturnType<KcClient['clients']['findOne']>>>;
interface SdkModule {
  default: new (config: { baseUrl: string; realmName: string; timeout: number }) => KcClient;
}

/** Client attributes this adapter writes at create (Keycloak keeps arbitrary client attributes as strings). */
export const KEYCLOAK_MANAGED_ATTRIBUTE = 'nestjs-identity.managed';
const SCOPES_ATTRIBUTE = 'nestjs-identity.scopes';
const CREATED_AT_ATTRIBUTE = 'nestjs-identity.created-at';
/** Set by Keycloak's "secret-rotation" client-policy executor: epoch seconds until which the previous secret still works. */
const ROTATED_EXPIRATION_ATTRIBUTE = 'client.secret.rotated.expiration.time';
const AUDIENCE_MAPPER = 'nestjs-identity audience';
const PAGE = 100;
const MAX_LISTED = 10_000;
/** Without an `exp` in the admin token (an opaque token), sign in again after this long. */
const OPAQUE_TOKEN_LIFETIME_MS = 60_000;

const MANAGE = 'manage-clients';
const VIEW = 'view-clients';
const QUERY = 'query-clients';

const loadSdk: KeycloakSdkLoader = () => import('@keycloak/keycloak-admin-client');

interface CallContext {
  /** The realm-management role this request needs, named in a 403. */
  permission: string;
  /** What was addressed, for a 404. */
  target?: string;
}

/**
 * ServiceAccountProvider for Keycloak's Admin REST API, through `@keycloak/keycloak-admin-client`.
 * A service account is a confidential OIDC client with only the service-account (client_credentials)
 * flow enabled, marked with the client attribute `nestjs-identity.managed=true`.
 *
 * Rotation is Keycloak's regenerate-secret (POST .../client-secret). When the realm has a client
 * policy with the `secret-rotation` executor, Keycloak keeps the previous secret as the "rotated
 * secret" until `client.secret.rotated.expiration.time`, which is reported as
 * `previousSecretValidUntil`; `invalidatePrevious` ends it at once (DELETE .../client-secret/rotated).
 */
export class KeycloakServiceAccountProvider implements ServiceAccountProvider {
  readonly kind = 'keycloak';
  private readonly settings: ResolvedKeycloakOptions;
  private sdk?: Promise<KcClient>;
  private signingIn?: Promise<void>;
  private renewAt = 0;

  constructor(
    options: KeycloakServiceAccountProviderOptions,
    /** @internal */
    private readonly loader: KeycloakSdkLoader = loadSdk,
  ) {
    this.settings = resolveKeycloakOptions(options);
  }

  async create(input: CreateServiceAccountInput): Promise<IssuedServiceAccount> {
    const operation = 'Creating a Keycloak client';
    const { realm } = this.settings;
    const audience = input.audience ?? this.settings.audience;
    const scopeIds = await this.clientScopeIds(operation, input.scopes);
    const clientId = newClientId(input.name);
    const createdAt = new Date().toISOString();
    const { id } = await this.call(operation, { permission: MANAGE }, (kc) =>
      kc.clients.create({
        realm,
        clientId,
        name: input.name,
        description: 'Service account managed by nestjs-identity',
        enabled: true,
        protocol: 'openid-connect',
        publicClient: false,
        bearerOnly: false,
        serviceAccountsEnabled: true,
        standardFlowEnabled: false,
        implicitFlowEnabled: false,
        directAccessGrantsEnabled: false,
        clientAuthenticatorType: 'client-secret',
        attributes: { [KEYCLOAK_MANAGED_ATTRIBUTE]: 'true', [SCOPES_ATTRIBUTE]: input.scopes.join(' '), [CREATED_AT_ATTRIBUTE]: createdAt },
      }),
    );
    const target = { permission: MANAGE, target: clientId };
    try {
      await this.assignScopes(operation, id, scopeIds, target);
      if (audience) {
        await this.call(operation, target, (kc) =>
          kc.clients.addProtocolMapper(
            { realm, id },
            {
              name: AUDIENCE_MAPPER,
              protocol: 'openid-connect',
              protocolMapper: 'oidc-audience-mapper',
              config: { 'included.custom.audience': audience, 'access.token.claim': 'true', 'introspection.token.claim': 'true', 'id.token.claim': 'false' },
            },
          ),
        );
      }
      const secret = await this.call(operation, target, (kc) => kc.clients.getClientSecret({ realm, id }));
      if (typeof secret?.value !== 'string' || secret.value.length === 0) throw new ProviderRequestError(operation, 'Keycloak answered without a client secret (is the client confidential?)');
      const record: ServiceAccountRecord = {
        clientId,
        providerId: id,
        name: input.name,
        scopes: [...input.scopes],
        ...(audience ? { audience } : {}),
        createdAt,
        // Keycloak's "client-secret" authenticator takes both Basic and the form body.
        tokenEndpointAuthMethod: 'client_secret_basic',
      };
      return { record, clientSecret: secret.value };
    } catch (error) {
      // Leave nothing half-made behind: the caller never got this client's secret.
      await this.call(operation, target, (kc) => kc.clients.del({ realm, id })).catch(() => undefined);
      throw error;
    }
  }

  async rotate(record: ServiceAccountRecord, options: RotateServiceAccountOptions = {}): Promise<RotatedServiceAccount> {
    const operation = 'Secret rotation';
    const { realm } = this.settings;
    const context = { permission: MANAGE, target: record.clientId };
    const client = await this.find(operation, record, context);
    if (!client?.id) throw providerFailure(operation, { status: 404, target: record.clientId });
    const id = client.id;
    const current = await this.call(operation, context, (kc) => kc.clients.getClientSecret({ realm, id }));
    const previousSecret = typeof current?.value === 'string' && current.value.length > 0 ? current.value : undefined;
    const generated = await this.call(operation, context, (kc) => kc.clients.generateNewClientSecret({ realm, id }));
    const clientSecret = generated?.value;
    if (typeof clientSecret !== 'string' || clientSecret.length === 0) throw new ProviderRequestError(operation, 'Keycloak answered regenerate-secret without a secret');
    const invalidate = options.invalidatePrevious ?? this.settings.invalidatePrevious;
    let previousSecretValidUntil: Date | undefined;
    if (invalidate) {
      // Keycloak answers 204 whether or not a rotated secret was kept.
      await this.call(operation, context, (kc) => kc.clients.invalidateSecret({ realm, id }));
    } else {
      const after = await this.call(operation, context, (kc) => kc.clients.findOne({ realm, id }));
      previousSecretValidUntil = rotatedSecretExpiry(after ?? undefined);
    }
    return {
      record: { ...record, providerId: id, rotatedAt: new Date().toISOString() },
      clientSecret,
      previousSecret,
      ...(previousSecretValidUntil ? { previousSecretValidUntil } : {}),
      via: 'Keycloak regenerate-secret',
    };
  }

  async get(record: ServiceAccountRecord): Promise<ServiceAccountRecord | undefined> {
    const client = await this.find('Reading a Keycloak client', record, { permission: VIEW, target: record.clientId });
    if (!client) return undefined;
    return { ...record, ...fromClient(client, record) };
  }

  async list(): Promise<ServiceAccountRecord[]> {
    const operation = 'Listing Keycloak clients';
    const records: ServiceAccountRecord[] = [];
    for (let first = 0; first < MAX_LISTED; first += PAGE) {
      // `q` searches client attributes ("key:value"); the filter below does not rely on it.
      const page = await this.call(operation, { permission: VIEW }, (kc) => kc.clients.find({ realm: this.settings.realm, first, max: PAGE, q: `${KEYCLOAK_MANAGED_ATTRIBUTE}:true` }));
      for (const client of page) {
        if (client.serviceAccountsEnabled !== true || client.attributes?.[KEYCLOAK_MANAGED_ATTRIBUTE] !== 'true' || !isClientId(client.clientId)) continue;
        const known = fromClient(client);
        records.push({ clientId: client.clientId, name: known.name ?? client.clientId, scopes: known.scopes ?? [], createdAt: known.createdAt ?? new Date(0).toISOString(), providerId: client.id, tokenEndpointAuthMethod: 'client_secret_basic', ...known });
      }
      if (page.length < PAGE) break;
    }
    return records;
  }

  async delete(record: ServiceAccountRecord): Promise<void> {
    const operation = 'Deleting a Keycloak client';
    const context = { permission: MANAGE, target: record.clientId };
    const client = await this.find(operation, record, context);
    if (!client?.id) return;
    const id = client.id;
    try {
      await this.call(operation, context, (kc) => kc.clients.del({ realm: this.settings.realm, id }));
    } catch (error) {
      // Gone between the read and the delete: the outcome we want.
      if (error instanceof HttpException && error.getStatus() === 404) return;
      throw error;
    }
  }

  /**
   * Signs in, then reads the realm-management roles the admin credentials hold in the realm (the
   * admin console's whoami) and lists one client. Falls back to the `access` Keycloak reports on
   * that client when whoami is not available.
   */
  async checkPermissions(): Promise<ProviderPermissionProblem[]> {
    const operation = 'Checking Keycloak admin permissions';
    const { realm, loginRealm } = this.settings;
    let canList = true;
    let sample: ClientRepresentation | undefined;
    try {
      sample = (await this.raw(operation, (kc) => kc.clients.find({ realm, max: 1 })))[0];
    } catch (error) {
      if (statusOf(error) !== 403) throw this.mapped(operation, error, { permission: QUERY });
      canList = false;
    }
    let roles: Set<string> | undefined;
    try {
      const whoami = await this.raw(operation, (kc) => kc.whoAmI.find({ realm: loginRealm, currentRealm: realm }));
      const granted: unknown = whoami?.realm_access?.[realm];
      if (Array.isArray(granted)) roles = new Set(granted.filter((role): role is string => typeof role === 'string'));
    } catch (error) {
      // whoami belongs to the admin console; without it, judge from what the listing showed.
      const status = statusOf(error);
      if (status !== 403 && status !== 404) throw this.mapped(operation, error, { permission: QUERY });
    }
    let manage: boolean;
    let view: boolean;
    let query: boolean;
    if (roles) {
      const all = roles.has('realm-admin') || roles.has('admin');
      manage = all || roles.has(MANAGE);
      view = manage || roles.has(VIEW);
      query = view || roles.has(QUERY);
    } else {
      query = canList;
      view = sample?.access?.view ?? canList;
      manage = sample?.access?.manage ?? canList;
    }
    const problems: ProviderPermissionProblem[] = [];
    if (!manage) problems.push({ permission: MANAGE, neededFor: 'creating, rotating and deleting service accounts' });
    if (!view) problems.push({ permission: VIEW, neededFor: 'reading service accounts and client scopes' });
    if (!query) problems.push({ permission: QUERY, neededFor: 'finding and listing service accounts' });
    return problems;
  }

  /** The client a record names: by Keycloak's internal id when known, else by its clientId. */
  private async find(operation: string, record: ServiceAccountRecord, context: CallContext): Promise<ClientRepresentation | undefined> {
    const { realm } = this.settings;
    if (record.providerId) {
      const id = record.providerId;
      const client = await this.call(operation, context, (kc) => kc.clients.findOne({ realm, id }));
      return client ?? undefined;
    }
    const found = await this.call(operation, context, (kc) => kc.clients.find({ realm, clientId: record.clientId, search: false, max: 2 }));
    return found.find((client) => client.clientId === record.clientId);
  }

  /** Maps requested scope names to the realm's client scopes; a name the realm lacks is the caller's 400, before anything is created. */
  private async clientScopeIds(operation: string, scopes: string[]): Promise<string[]> {
    if (scopes.length === 0) return [];
    const available = await this.call(operation, { permission: MANAGE }, (kc) => kc.clientScopes.find({ realm: this.settings.realm }));
    const byName = new Map(available.filter((scope) => scope.name && scope.id).map((scope) => [scope.name!, scope.id!]));
    return scopes.map((name, index) => {
      const id = byName.get(name);
      if (!id) {
        throw new ServiceAccountInputError(
          `scopes[${index}]`,
          `"${name}" is not a client scope of Keycloak realm "${this.settings.realm}"; create it under Client scopes (protocol openid-connect) first, or ask for one of: ${[...byName.keys()].slice(0, 20).join(' ')}`,
        );
      }
      return id;
    });
  }

  private async assignScopes(operation: string, id: string, scopeIds: string[], context: CallContext): Promise<void> {
    if (scopeIds.length === 0) return;
    const { realm, scopeAssignment } = this.settings;
    // Keycloak gives a new client the realm's default client scopes: move one that sits in the other list.
    const [defaults, optionals] = await Promise.all([
      this.call(operation, context, (kc) => kc.clients.listDefaultClientScopes({ realm, id })),
      this.call(operation, context, (kc) => kc.clients.listOptionalClientScopes({ realm, id })),
    ]);
    const here = new Set((scopeAssignment === 'default' ? defaults : optionals).map((scope) => scope.id));
    const there = new Set((scopeAssignment === 'default' ? optionals : defaults).map((scope) => scope.id));
    for (const clientScopeId of scopeIds) {
      if (here.has(clientScopeId)) continue;
      if (there.has(clientScopeId)) {
        await this.call(operation, context, (kc) =>
          scopeAssignment === 'default' ? kc.clients.delOptionalClientScope({ realm, id, clientScopeId }) : kc.clients.delDefaultClientScope({ realm, id, clientScopeId }),
        );
      }
      await this.call(operation, context, (kc) =>
        scopeAssignment === 'default' ? kc.clients.addDefaultClientScope({ realm, id, clientScopeId }) : kc.clients.addOptionalClientScope({ realm, id, clientScopeId }),
      );
      here.add(clientScopeId);
    }
  }

  /** One SDK request, signed in, mapped through providerFailure(). */
  private async call<T>(operation: string, context: CallContext, request: (kc: KcClient) => Promise<T>): Promise<T> {
    try {
      return await this.raw(operation, request);
    } catch (error) {
      throw this.mapped(operation, error, context);
    }
  }

  /**
   * One SDK request, signed in; SDK errors are thrown as they are. A 401 signs in again once (the
   * admin token may have been revoked or have expired early) before it is reported.
   */
  private async raw<T>(operation: string, request: (kc: KcClient) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const kc = await this.signedIn(operation);
      try {
        return await request(kc);
      } catch (error) {
        if (attempt === 0 && statusOf(error) === 401) {
          this.renewAt = 0;
          continue;
        }
        throw error;
      }
    }
  }

  private mapped(operation: string, error: unknown, context: CallContext): Error {
    // Our own answers (and a missing SDK) pass through; only what the SDK or fetch threw is mapped.
    return error instanceof HttpException || error instanceof IdentityConfigurationError ? error : failure(operation, error, context);
  }

  private async signedIn(operation: string): Promise<KcClient> {
    const kc = await this.client();
    if (Date.now() < this.renewAt) return kc;
    this.signingIn ??= this.signIn(kc, operation).finally(() => {
      this.signingIn = undefined;
    });
    await this.signingIn;
    return kc;
  }

  private async signIn(kc: KcClient, operation: string): Promise<void> {
    const { credentials, loginRealm } = this.settings;
    try {
      await kc.auth(credentials);
    } catch (error) {
      const status = statusOf(error);
      if (status === 404) {
        throw new ProviderRequestError(operation, `Keycloak has no realm "${loginRealm}" at the configured address (HTTP 404 from its token endpoint); check the adapter's baseUrl and realm / credentials.realm options`);
      }
      // 400/401 from the token endpoint are the credentials' fault (invalid_client, invalid_grant, unauthorized_client).
      throw failure(operation, error, { permission: credentials.grantType === 'password' ? 'the admin user' : 'the admin client' }, status === 400 ? 401 : undefined);
    }
    this.renewAt = renewalTime(kc.accessToken);
  }

  private client(): Promise<KcClient> {
    this.sdk ??= (async () => {
      let module: unknown;
      try {
        module = await this.loader();
      } catch (error) {
        this.sdk = undefined;
        throw new IdentityConfigurationError(
          'serviceAccountProvider',
          `KeycloakServiceAccountProvider needs the optional peer dependency @keycloak/keycloak-admin-client (>=26), which could not be loaded${moduleMissing(error) ? '' : ' (it failed to load)'}: npm install @keycloak/keycloak-admin-client`,
        );
      }
      const Client = (module as Partial<SdkModule> | undefined)?.default;
      if (typeof Client !== 'function') {
        this.sdk = undefined;
        throw new IdentityConfigurationError('serviceAccountProvider', 'the module loaded as @keycloak/keycloak-admin-client has no default export (KeycloakAdminClient); npm install @keycloak/keycloak-admin-client');
      }
      return new Client({ baseUrl: this.settings.baseUrl, realmName: this.settings.loginRealm, timeout: this.settings.timeoutMs });
    })();
    return this.sdk;
  }
}

/** What the SDK's NetworkError (and fetch) failures tell: the status and headers, when Keycloak answered. */
function statusOf(error: unknown): number | undefined {
  if (error instanceof HttpException) return undefined;
  const status = (error as { response?: { status?: unknown } } | undefined)?.response?.status;
  return typeof status === 'number' ? status : undefined;
}

function isTimeout(error: unknown): boolean {
  for (let cause = error, depth = 0; cause && depth < 4; cause = (cause as { cause?: unknown }).cause, depth++) {
    const name = (cause as { name?: unknown }).name;
    if (name === 'TimeoutError' || name === 'AbortError') return true;
  }
  return false;
}

function moduleMissing(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

/** The one mapping, fed with what the SDK error carries; never its message (Keycloak's free text). */
function failure(operation: string, error: unknown, context: CallContext, statusOverride?: number): HttpException {
  if (isTimeout(error)) return providerFailure(operation, { timedOut: true });
  const status = statusOf(error);
  if (status === undefined) {
    // fetch() failing to connect throws TypeError("fetch failed") with the system error as its cause.
    const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
    if (typeof code === 'string' && /^[A-Z_]{1,40}$/.test(code)) return providerFailure(operation, { detail: `Keycloak could not be reached: ${code}` });
    return providerFailure(operation, { detail: error instanceof TypeError ? 'Keycloak could not be reached' : 'unexpected answer from Keycloak' });
  }
  const response = (error as { response: { headers?: { get?(name: string): string | null } } }).response;
  const data = (error as { responseData?: unknown }).responseData;
  const detail = typeof data === 'object' && data !== null ? errorCode((data as Record<string, unknown>).error) : undefined;
  return providerFailure(operation, {
    status: statusOverride ?? status,
    retryAfterSeconds: retryAfterSeconds(response.headers?.get?.('retry-after')),
    permission: context.permission,
    target: context.target,
    detail,
  });
}

/** When to sign in again: 30 s before the admin token's `exp` (a JWT), or soon for an opaque token. */
function renewalTime(token: string | undefined, now = Date.now()): number {
  const payload = token?.split('.')[1];
  if (payload) {
    try {
      const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
      if (typeof exp === 'number' && Number.isFinite(exp)) return Math.max(now + 5_000, exp * 1000 - 30_000);
    } catch {
      // Not a JWT: treat as opaque.
    }
  }
  return now + OPAQUE_TOKEN_LIFETIME_MS;
}

/** The previous secret's end of grace, when Keycloak's rotation policy kept it and it is still ahead. */
function rotatedSecretExpiry(client: ClientRepresentation | undefined, now = Date.now()): Date | undefined {
  const raw: unknown = client?.attributes?.[ROTATED_EXPIRATION_ATTRIBUTE];
  const seconds = typeof raw === 'string' && /^\d{1,12}$/.test(raw) ? Number(raw) : typeof raw === 'number' ? raw : undefined;
  if (seconds === undefined || !Number.isFinite(seconds) || seconds * 1000 <= now) return undefined;
  return new Date(seconds * 1000);
}

/** A Keycloak clientId from the account's name: readable, storable, and unique enough not to collide. */
function newClientId(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 100);
  return `${slug || 'service-account'}-${randomBytes(4).toString('hex')}`;
}

/** What a client representation says about the account (only the fields it really carries). */
function fromClient(client: ClientRepresentation, record?: ServiceAccountRecord): Partial<ServiceAccountRecord> {
  const attributes = (client.attributes ?? {}) as Record<string, unknown>;
  const stored = typeof attributes[SCOPES_ATTRIBUTE] === 'string' ? (attributes[SCOPES_ATTRIBUTE] as string).split(' ').filter(Boolean) : record?.scopes;
  const assigned = Array.isArray(client.defaultClientScopes) || Array.isArray(client.optionalClientScopes) ? new Set([...(client.defaultClientScopes ?? []), ...(client.optionalClientScopes ?? [])]) : undefined;
  const mapper = client.protocolMappers?.find((candidate) => candidate.protocolMapper === 'oidc-audience-mapper' && candidate.name === AUDIENCE_MAPPER);
  const audience: unknown = mapper?.config?.['included.custom.audience'];
  const createdAt = attributes[CREATED_AT_ATTRIBUTE];
  return {
    ...(isClientId(client.clientId) ? { clientId: client.clientId } : {}),
    ...(client.id ? { providerId: client.id } : {}),
    ...(typeof client.name === 'string' && client.name ? { name: client.name } : {}),
    ...(stored ? { scopes: assigned ? stored.filter((scope) => assigned.has(scope)) : stored } : {}),
    ...(typeof audience === 'string' && audience ? { audience } : {}),
    ...(typeof createdAt === 'string' && !Number.isNaN(Date.parse(createdAt)) ? { createdAt } : {}),
  };
}
