import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProviderFault } from '../service-account-provider.contract.js';

/**
 * A local stand-in for the parts of Keycloak that the Keycloak adapter (through
 * `@keycloak/keycloak-admin-client`) and the secret probe talk to. CI cannot reach a real Keycloak,
 * so this follows Keycloak's documentation, request for request:
 *
 * - Admin REST API, https://www.keycloak.org/docs-api/latest/rest-api/index.html
 *   - "Clients": GET/POST /admin/realms/{realm}/clients (query `clientId`, `search`, `q`, `first`, `max`;
 *     POST answers 201 with a Location header and no body, 409 for a taken clientId),
 *     GET/DELETE /clients/{client-uuid}, GET/POST /clients/{client-uuid}/client-secret
 *     (CredentialRepresentation `{ type: "secret", value }`), GET/DELETE /clients/{client-uuid}/client-secret/rotated,
 *     GET /clients/{client-uuid}/default-client-scopes, PUT/DELETE .../default-client-scopes/{clientScopeId}
 *     and the same for optional-client-scopes.
 *   - "Client Scopes": GET /admin/realms/{realm}/client-scopes.
 *   - "Protocol Mappers": GET/POST /clients/{client-uuid}/protocol-mappers/models, GET/DELETE .../models/{id}.
 *   - The admin console's GET /admin/{realm}/console/whoami?currentRealm= (what the SDK's `whoAmI.find` calls),
 *     answering the caller's realm-management roles per realm in `realm_access`.
 *   - Errors as Keycloak sends them: `{"error": "..."}` (404 "Could not find client", 401/403 "HTTP 401 Unauthorized" /
 *     "HTTP 403 Forbidden"), `{"errorMessage": "..."}` for conflicts.
 *   - Permissions: realm-management roles `manage-clients` (write, and read: Keycloak's canView includes canManage),
 *     `view-clients` (read; composite of `query-clients`), `query-clients` (list), `realm-admin` (all).
 * - Client secret rotation, https://www.keycloak.org/docs/latest/server_admin/#_client_credentials and
 *   https://www.keycloak.org/docs/latest/server_admin/#_secret_rotation (client policies, executor `secret-rotation`
 *   with `expiration-period` and `rotated-expiration-period`; a rotated expiration of 0 removes the old secret at
 *   once): with `rotationPolicy`, regenerating a secret keeps the old one as the rotated
 *   secret until `client.secret.rotated.expiration.time` (epoch seconds, a client attribute), and the token
 *   endpoint accepts it until then; DELETE .../client-secret/rotated ends it. Without a policy, regenerate drops
 *   the rotation attributes and the old secret dies at once. The fake applies the policy to every confidential client.
 * - The OIDC token endpoint, POST /realms/{realm}/protocol/openid-connect/token: `client_credentials` with
 *   client_secret_basic or client_secret_post (401 `{"error":"invalid_client"}` for a wrong, dead or expired
 *   secret; 401 `unauthorized_client` for a client without service accounts) and `password` with a public client
 *   (`admin-cli` in `master`). Access tokens are opaque random strings (the SDK reads `exp` only from JWTs).
 *
 * Keycloak itself does not rate-limit the admin API; a 429 with Retry-After is what a proxy in front of it answers,
 * so `fault('rate-limited')` answers that. Faults apply to /admin/ requests only, not to the token endpoint.
 */

export interface KeycloakFakeOptions {
  /** The realm service accounts are managed in. Default `services`. */
  realm?: string;
  /** A client policy with the secret-rotation executor, for every confidential client of the realm. */
  rotationPolicy?: { rotatedExpirationSeconds: number; expirationSeconds?: number };
  /** The realm's confidential admin client (client_credentials) and the realm-management roles of its service account. */
  adminClient?: { clientId?: string; clientSecret?: string; roles?: string[] };
  /** An admin user of the master realm (password grant through `admin-cli`) and its roles for the realm. */
  adminUser?: { username?: string; password?: string; roles?: string[] };
  /** Client scopes the realm has besides Keycloak's built-in ones. */
  clientScopes?: string[];
  /** Whether the admin console's whoami answers (older or locked-down servers: 404). Default true. */
  whoami?: boolean;
}

export interface FakeKeycloakClient {
  id: string;
  clientId: string;
  name?: string;
  enabled: boolean;
  publicClient: boolean;
  bearerOnly: boolean;
  serviceAccountsEnabled: boolean;
  standardFlowEnabled: boolean;
  implicitFlowEnabled: boolean;
  directAccessGrantsEnabled: boolean;
  clientAuthenticatorType: string;
  description?: string;
  secret?: string;
  rotatedSecret?: string;
  attributes: Record<string, string>;
  defaultScopes: string[];
  optionalScopes: string[];
  mappers: Array<{ id: string; name: string; protocol: string; protocolMapper: string; config: Record<string, string> }>;
}

export interface KeycloakFake {
  /** What the adapter's `baseUrl` is. */
  baseUrl: string;
  realm: string;
  /** The realm's token endpoint, for the secret probe. */
  tokenUrl: string;
  adminClient: { clientId: string; clientSecret: string };
  adminUser: { username: string; password: string };
  /** From now on /admin/ requests answer with this fault (undefined: normal). */
  fault(fault: ProviderFault | undefined): void;
  /** Changes the realm-management roles of the admin client's service account. */
  setAdminRoles(roles: string[]): void;
  /** The realm's client with this clientId, as stored. */
  client(clientId: string): FakeKeycloakClient | undefined;
  /** Every request, "METHOD /path", in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

const ALL_ADMIN_ROLES = ['create-client', 'view-realm', 'view-users', 'view-clients', 'view-events', 'view-identity-providers', 'view-authorization', 'manage-realm', 'manage-users', 'manage-clients', 'manage-events', 'manage-identity-providers', 'manage-authorization', 'query-users', 'query-clients', 'query-realms', 'query-groups'];
const BUILT_IN_DEFAULT_SCOPES = ['acr', 'basic', 'email', 'profile', 'roles', 'web-origins'];
const BUILT_IN_OPTIONAL_SCOPES = ['address', 'microprofile-jwt', 'offline_access', 'organization', 'phone'];
const TOKEN_SECONDS = 300;

type Json = Record<string, unknown>;

interface Principal {
  realm: string;
  kind: 'admin-client' | 'admin-user' | 'service-account';
  clientId: string;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Json,
  ) {
    super(String(status));
  }
}

const notFound = (message = 'Could not find client') => new HttpError(404, { error: message });

function effectiveRoles(roles: readonly string[]): Set<string> {
  const all = new Set(roles);
  if (all.has('realm-admin')) ALL_ADMIN_ROLES.forEach((role) => all.add(role));
  // realm-management composites: view-clients includes query-clients.
  if (all.has('view-clients')) all.add('query-clients');
  return all;
}

function secretsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Keycloak's generated secrets: 32 alphanumerics. */
function generateSecret(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(32), (byte) => alphabet[byte % alphabet.length]).join('');
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

export async function startKeycloakFake(options: KeycloakFakeOptions = {}): Promise<KeycloakFake> {
  const realm = options.realm ?? 'services';
  const admin = { clientId: options.adminClient?.clientId ?? 'nestjs-identity-admin', clientSecret: options.adminClient?.clientSecret ?? generateSecret() };
  let adminRoles = [...(options.adminClient?.roles ?? ['manage-clients', 'view-clients', 'query-clients'])];
  const adminUser = { username: options.adminUser?.username ?? 'admin', password: options.adminUser?.password ?? generateSecret() };
  const adminUserRoles = [...(options.adminUser?.roles ?? ['realm-admin'])];
  const whoamiEnabled = options.whoami ?? true;
  const requests: string[] = [];
  let currentFault: ProviderFault | undefined;
  const tokens = new Map<string, Principal & { expiresAt: number }>();

  const scopes = new Map<string, { id: string; name: string; protocol: string }>();
  for (const name of [...BUILT_IN_DEFAULT_SCOPES, ...BUILT_IN_OPTIONAL_SCOPES, ...(options.clientScopes ?? [])]) {
    const id = randomUUID();
    scopes.set(id, { id, name, protocol: 'openid-connect' });
  }
  const scopeIdsByName = (names: readonly string[]) => [...scopes.values()].filter((scope) => names.includes(scope.name)).map((scope) => scope.id);
  const clients = new Map<string, FakeKeycloakClient>();

  function addClient(rep: Json): FakeKeycloakClient {
    const confidential = rep.publicClient !== true && rep.bearerOnly !== true;
    const attributes: Record<string, string> = {};
    if (typeof rep.attributes === 'object' && rep.attributes !== null) {
      for (const [key, value] of Object.entries(rep.attributes as Json)) if (value !== null && value !== undefined) attributes[key] = String(value);
    }
    const client: FakeKeycloakClient = {
      id: typeof rep.id === 'string' ? rep.id : randomUUID(),
      clientId: rep.clientId as string,
      name: typeof rep.name === 'string' ? rep.name : undefined,
      description: typeof rep.description === 'string' ? rep.description : undefined,
      enabled: rep.enabled !== false,
      publicClient: rep.publicClient === true,
      bearerOnly: rep.bearerOnly === true,
      serviceAccountsEnabled: rep.serviceAccountsEnabled === true,
      standardFlowEnabled: rep.standardFlowEnabled !== false,
      implicitFlowEnabled: rep.implicitFlowEnabled === true,
      directAccessGrantsEnabled: rep.directAccessGrantsEnabled === true,
      clientAuthenticatorType: typeof rep.clientAuthenticatorType === 'string' ? rep.clientAuthenticatorType : 'client-secret',
      secret: confidential ? (typeof rep.secret === 'string' && rep.secret ? rep.secret : generateSecret()) : undefined,
      attributes,
      defaultScopes: scopeIdsByName(Array.isArray(rep.defaultClientScopes) ? (rep.defaultClientScopes as string[]) : BUILT_IN_DEFAULT_SCOPES),
      optionalScopes: scopeIdsByName(Array.isArray(rep.optionalClientScopes) ? (rep.optionalClientScopes as string[]) : BUILT_IN_OPTIONAL_SCOPES),
      mappers: [],
    };
    if (confidential) {
      attributes['client.secret.creation.time'] = String(nowSeconds());
      if (options.rotationPolicy?.expirationSeconds) attributes['client.secret.expiration.time'] = String(nowSeconds() + options.rotationPolicy.expirationSeconds);
    }
    if (Array.isArray(rep.protocolMappers)) for (const mapper of rep.protocolMappers as Json[]) addMapper(client, mapper);
    clients.set(client.id, client);
    return client;
  }

  function addMapper(client: FakeKeycloakClient, body: Json): string {
    const name = body.name;
    if (typeof name !== 'string' || !name) throw new HttpError(400, { error: 'invalid_input', error_description: 'Protocol mapper name is required' });
    if (client.mappers.some((mapper) => mapper.name === name)) throw new HttpError(409, { errorMessage: `Protocol mapper exists with same name` });
    const config: Record<string, string> = {};
    if (typeof body.config === 'object' && body.config !== null) for (const [key, value] of Object.entries(body.config as Json)) config[key] = String(value);
    if (body.protocolMapper === 'oidc-audience-mapper' && !config['included.client.audience'] && !config['included.custom.audience']) {
      throw new HttpError(400, { error: 'invalid_input', error_description: 'Either Included Client Audience or Included Custom Audience must be set' });
    }
    const id = randomUUID();
    client.mappers.push({ id, name, protocol: typeof body.protocol === 'string' ? body.protocol : 'openid-connect', protocolMapper: String(body.protocolMapper), config });
    return id;
  }

  // Keycloak's built-ins plus the admin client.
  addClient({ clientId: 'admin-cli', publicClient: true, standardFlowEnabled: false, directAccessGrantsEnabled: true });
  addClient({ clientId: 'realm-management', bearerOnly: true });
  addClient({ clientId: admin.clientId, secret: admin.clientSecret, serviceAccountsEnabled: true, standardFlowEnabled: false });

  const byClientId = (clientId: string) => [...clients.values()].find((client) => client.clientId === clientId);

  function rolesOf(principal: Principal): Set<string> {
    if (principal.kind === 'admin-user') return effectiveRoles(adminUserRoles);
    if (principal.kind === 'admin-client') return effectiveRoles(adminRoles);
    return new Set();
  }

  function representation(client: FakeKeycloakClient, roles: Set<string>): Json {
    const manage = roles.has('manage-clients');
    const view = manage || roles.has('view-clients');
    const names = (ids: string[]) => ids.map((id) => scopes.get(id)?.name).filter(Boolean);
    return {
      id: client.id,
      clientId: client.clientId,
      ...(client.name !== undefined ? { name: client.name } : {}),
      ...(client.description !== undefined ? { description: client.description } : {}),
      surrogateAuthRequired: false,
      enabled: client.enabled,
      alwaysDisplayInConsole: false,
      clientAuthenticatorType: client.clientAuthenticatorType,
      // StripSecretsUtils: the secret only for callers who may manage the client.
      ...(manage && client.secret ? { secret: client.secret } : {}),
      redirectUris: [],
      webOrigins: [],
      notBefore: 0,
      bearerOnly: client.bearerOnly,
      consentRequired: false,
      standardFlowEnabled: client.standardFlowEnabled,
      implicitFlowEnabled: client.implicitFlowEnabled,
      directAccessGrantsEnabled: client.directAccessGrantsEnabled,
      serviceAccountsEnabled: client.serviceAccountsEnabled,
      publicClient: client.publicClient,
      frontchannelLogout: true,
      protocol: 'openid-connect',
      attributes: { ...client.attributes },
      fullScopeAllowed: true,
      nodeReRegistrationTimeout: -1,
      ...(client.mappers.length ? { protocolMappers: client.mappers.map((mapper) => ({ ...mapper, config: { ...mapper.config } })) } : {}),
      defaultClientScopes: names(client.defaultScopes),
      optionalClientScopes: names(client.optionalScopes),
      access: { view, configure: manage, manage },
    };
  }

  function issueToken(principal: Principal): Json {
    const token = randomBytes(32).toString('base64url');
    tokens.set(token, { ...principal, expiresAt: Date.now() + TOKEN_SECONDS * 1000 });
    return { access_token: token, expires_in: TOKEN_SECONDS, refresh_expires_in: 0, token_type: 'Bearer', 'not-before-policy': 0, scope: 'profile email' };
  }

  /** Secret check as the client-secret authenticator does it, with the rotated secret per the rotation policy. */
  function secretAccepted(client: FakeKeycloakClient, secret: string): boolean {
    const expiration = Number(client.attributes['client.secret.expiration.time'] ?? 0);
    if (client.secret && secretsEqual(client.secret, secret)) return !(expiration > 0 && expiration < nowSeconds());
    const rotatedUntil = Number(client.attributes['client.secret.rotated.expiration.time'] ?? 0);
    return client.rotatedSecret !== undefined && rotatedUntil >= nowSeconds() && secretsEqual(client.rotatedSecret, secret);
  }

  function tokenEndpoint(req: IncomingMessage, tokenRealm: string, form: URLSearchParams): Json {
    if (tokenRealm !== realm && tokenRealm !== 'master') throw new HttpError(404, { error: 'Realm does not exist' });
    const grant = form.get('grant_type');
    let clientId = form.get('client_id') ?? undefined;
    let clientSecret = form.get('client_secret') ?? undefined;
    const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (basic) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const formDecode = (value: string) => decodeURIComponent(value.replace(/\+/g, ' '));
      try {
        clientId = formDecode(colon < 0 ? decoded : decoded.slice(0, colon));
        clientSecret = colon < 0 ? undefined : formDecode(decoded.slice(colon + 1));
      } catch {
        throw new HttpError(401, { error: 'invalid_client', error_description: 'Invalid client or Invalid client credentials' });
      }
    }
    if (grant === 'password') {
      if (tokenRealm !== 'master' || clientId !== 'admin-cli') throw new HttpError(401, { error: 'invalid_client', error_description: 'Invalid client or Invalid client credentials' });
      const username = form.get('username') ?? '';
      const password = form.get('password') ?? '';
      if (username !== adminUser.username || !secretsEqual(password, adminUser.password)) throw new HttpError(401, { error: 'invalid_grant', error_description: 'Invalid user credentials' });
      return { ...issueToken({ realm: 'master', kind: 'admin-user', clientId: 'admin-cli' }), refresh_token: randomBytes(32).toString('base64url'), refresh_expires_in: 1800, session_state: randomUUID() };
    }
    if (grant !== 'client_credentials') throw new HttpError(400, { error: 'unsupported_grant_type', error_description: 'Unsupported grant_type' });
    const client = tokenRealm === realm && clientId ? byClientId(clientId) : undefined;
    if (!client || !client.enabled || clientSecret === undefined || client.publicClient || !secretAccepted(client, clientSecret)) {
      throw new HttpError(401, { error: 'invalid_client', error_description: 'Invalid client or Invalid client credentials' });
    }
    if (!client.serviceAccountsEnabled) throw new HttpError(401, { error: 'unauthorized_client', error_description: 'Client not enabled to retrieve service account' });
    return issueToken({ realm, kind: client.clientId === admin.clientId ? 'admin-client' : 'service-account', clientId: client.clientId });
  }

  function adminApi(method: string, url: URL, principal: Principal, body: Json | undefined): { status: number; body?: unknown; headers?: Record<string, string> } {
    const roles = rolesOf(principal);
    const manage = roles.has('manage-clients');
    const view = manage || roles.has('view-clients');
    const list = view || roles.has('query-clients');
    const require = (allowed: boolean) => {
      if (!allowed) throw new HttpError(403, { error: 'HTTP 403 Forbidden' });
    };
    const whoami = /^\/admin\/([^/]+)\/console\/whoami$/.exec(url.pathname);
    if (whoami) {
      if (!whoamiEnabled) throw new HttpError(404, { error: 'HTTP 404 Not Found' });
      if (decodeURIComponent(whoami[1]!) !== principal.realm) throw new HttpError(403, { error: 'HTTP 403 Forbidden' });
      const current = url.searchParams.get('currentRealm') ?? realm;
      const granted = current === realm ? [...roles].filter((role) => ALL_ADMIN_ROLES.includes(role)) : [];
      return { status: 200, body: { userId: randomUUID(), realm: principal.realm, displayName: principal.kind === 'admin-user' ? adminUser.username : `service-account-${principal.clientId}`, locale: 'en', createRealm: false, realm_access: { [current]: granted }, temporary: false } };
    }
    const match = /^\/admin\/realms\/([^/]+)(\/.*)?$/.exec(url.pathname);
    if (!match) throw new HttpError(404, { error: 'HTTP 404 Not Found' });
    const pathRealm = decodeURIComponent(match[1]!);
    if (pathRealm !== realm) throw new HttpError(404, { error: 'Realm not found.' });
    if (principal.realm !== realm && principal.realm !== 'master') throw new HttpError(403, { error: 'HTTP 403 Forbidden' });
    const path = (match[2] ?? '/').split('/').filter(Boolean).map(decodeURIComponent);

    if (path[0] === 'client-scopes' && path.length === 1 && method === 'GET') {
      require(list);
      return { status: 200, body: [...scopes.values()].map((scope) => ({ ...scope, attributes: {} })) };
    }
    if (path[0] !== 'clients') throw new HttpError(404, { error: 'HTTP 404 Not Found' });

    if (path.length === 1) {
      if (method === 'GET') {
        require(list);
        const clientId = url.searchParams.get('clientId');
        const search = url.searchParams.get('search') === 'true';
        const q = (url.searchParams.get('q') ?? '').split(' ').filter(Boolean).map((pair) => [pair.slice(0, pair.indexOf(':')), pair.slice(pair.indexOf(':') + 1)] as const);
        let found = [...clients.values()].filter((client) => {
          if (clientId !== null && (search ? !client.clientId.toLowerCase().includes(clientId.toLowerCase()) : client.clientId !== clientId)) return false;
          return q.every(([key, value]) => client.attributes[key] === value);
        });
        const first = Number(url.searchParams.get('first') ?? 0) || 0;
        const max = url.searchParams.has('max') ? Number(url.searchParams.get('max')) : -1;
        found = found.slice(Math.max(0, first), max >= 0 ? Math.max(0, first) + max : undefined);
        return { status: 200, body: found.map((client) => representation(client, roles)) };
      }
      if (method === 'POST') {
        require(manage || roles.has('create-client'));
        if (!body || typeof body.clientId !== 'string' || !body.clientId) throw new HttpError(400, { error: 'invalid_input', error_description: 'Client id is required' });
        if (byClientId(body.clientId)) throw new HttpError(409, { errorMessage: `Client ${body.clientId} already exists` });
        const client = addClient(body);
        return { status: 201, headers: { location: `${origin()}/admin/realms/${encodeURIComponent(realm)}/clients/${client.id}` } };
      }
      throw new HttpError(405, { error: 'HTTP 405 Method Not Allowed' });
    }

    const client = clients.get(path[1]!);
    if (!client) throw notFound();
    const rest = path.slice(2).join('/');

    if (rest === '') {
      if (method === 'GET') {
        require(view);
        return { status: 200, body: representation(client, roles) };
      }
      if (method === 'DELETE') {
        require(manage);
        clients.delete(client.id);
        return { status: 204 };
      }
    }
    if (rest === 'client-secret') {
      require(manage);
      if (method === 'GET') return { status: 200, body: { type: 'secret', ...(client.secret ? { value: client.secret } : {}) } };
      if (method === 'POST') {
        const previous = client.secret;
        client.secret = generateSecret();
        const now = nowSeconds();
        const policy = options.rotationPolicy;
        if (policy && policy.rotatedExpirationSeconds > 0 && previous && !client.publicClient) {
          // The secret-rotation executor: the old secret becomes the rotated secret, for rotated-expiration-period.
          client.rotatedSecret = previous;
          client.attributes['client.secret.rotated.creation.time'] = String(now);
          client.attributes['client.secret.rotated.expiration.time'] = String(now + policy.rotatedExpirationSeconds);
          client.attributes['client.secret.creation.time'] = String(now);
          if (policy.expirationSeconds) client.attributes['client.secret.expiration.time'] = String(now + policy.expirationSeconds);
        } else {
          // No executor ran: ClientResource.regenerateSecret removes the rotation info.
          client.rotatedSecret = undefined;
          for (const key of ['client.secret.rotated.creation.time', 'client.secret.rotated.expiration.time', 'client.secret.expiration.time']) delete client.attributes[key];
          client.attributes['client.secret.creation.time'] = String(now);
        }
        return { status: 200, body: { type: 'secret', value: client.secret } };
      }
    }
    if (rest === 'client-secret/rotated') {
      require(manage);
      if (method === 'GET') {
        if (!client.rotatedSecret) throw new HttpError(404, { error: 'Client does not have a rotated secret' });
        return { status: 200, body: { type: 'secret', value: client.rotatedSecret } };
      }
      if (method === 'DELETE') {
        client.rotatedSecret = undefined;
        delete client.attributes['client.secret.rotated.creation.time'];
        delete client.attributes['client.secret.rotated.expiration.time'];
        return { status: 204 };
      }
    }
    const scopeList = /^(default|optional)-client-scopes(?:\/([^/]+))?$/.exec(rest);
    if (scopeList) {
      const isDefault = scopeList[1] === 'default';
      const ids = isDefault ? client.defaultScopes : client.optionalScopes;
      if (!scopeList[2] && method === 'GET') {
        require(view);
        return { status: 200, body: ids.map((id) => scopes.get(id)).filter(Boolean).map((scope) => ({ id: scope!.id, name: scope!.name })) };
      }
      if (scopeList[2]) {
        require(manage);
        const scope = scopes.get(scopeList[2]);
        if (!scope) throw new HttpError(404, { error: 'Client scope not found' });
        if (method === 'PUT') {
          const other = isDefault ? client.optionalScopes : client.defaultScopes;
          if (other.includes(scope.id)) throw new HttpError(409, { errorMessage: `Client scope ${scope.name} is already assigned to the client` });
          if (!ids.includes(scope.id)) ids.push(scope.id);
          return { status: 204 };
        }
        if (method === 'DELETE') {
          client.defaultScopes = client.defaultScopes.filter((id) => id !== scope.id);
          client.optionalScopes = client.optionalScopes.filter((id) => id !== scope.id);
          return { status: 204 };
        }
      }
    }
    const mappers = /^protocol-mappers\/models(?:\/([^/]+))?$/.exec(rest);
    if (mappers) {
      if (!mappers[1] && method === 'GET') {
        require(view);
        return { status: 200, body: client.mappers };
      }
      if (!mappers[1] && method === 'POST') {
        require(manage);
        const id = addMapper(client, body ?? {});
        return { status: 201, headers: { location: `${origin()}${url.pathname}/${id}` } };
      }
      const mapper = client.mappers.find((candidate) => candidate.id === mappers[1]);
      if (!mapper) throw new HttpError(404, { error: 'Model not found' });
      if (method === 'GET') {
        require(view);
        return { status: 200, body: mapper };
      }
      if (method === 'DELETE') {
        require(manage);
        client.mappers = client.mappers.filter((candidate) => candidate !== mapper);
        return { status: 204 };
      }
    }
    throw new HttpError(404, { error: 'HTTP 404 Not Found' });
  }

  function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { ...(text ? { 'content-type': 'application/json' } : {}), 'cache-control': 'no-cache', ...headers });
    res.end(text);
  }

  function faultAnswer(res: ServerResponse): boolean {
    switch (currentFault) {
      case undefined:
        return false;
      case 'unauthorized':
        send(res, 401, { error: 'HTTP 401 Unauthorized' });
        return true;
      case 'forbidden':
        send(res, 403, { error: 'HTTP 403 Forbidden' });
        return true;
      case 'not-found':
        send(res, 404, { error: 'Could not find client' });
        return true;
      case 'rate-limited':
        send(res, 429, { error: 'too_many_requests' }, { 'retry-after': '7' });
        return true;
      case 'timeout':
        // Never answered; the socket is destroyed by the client's deadline or by close().
        return true;
    }
  }

  async function readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > 1 << 20) throw new HttpError(413, { error: 'Request too large' });
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    requests.push(`${method} ${url.pathname}`);
    try {
      const text = await readBody(req);
      const token = /^\/realms\/([^/]+)\/protocol\/openid-connect\/token$/.exec(url.pathname);
      if (token) {
        if (method !== 'POST') throw new HttpError(405, { error: 'HTTP 405 Method Not Allowed' });
        send(res, 200, tokenEndpoint(req, decodeURIComponent(token[1]!), new URLSearchParams(text)));
        return;
      }
      if (!url.pathname.startsWith('/admin/')) throw new HttpError(404, { error: 'HTTP 404 Not Found' });
      if (faultAnswer(res)) return;
      const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
      const principal = bearer ? tokens.get(bearer[1]!) : undefined;
      if (!principal || principal.expiresAt < Date.now() || principal.kind === 'service-account') throw new HttpError(401, { error: 'HTTP 401 Unauthorized' });
      let body: Json | undefined;
      if (text && (req.headers['content-type'] ?? '').includes('application/json')) {
        try {
          const parsed: unknown = JSON.parse(text);
          body = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Json) : undefined;
        } catch {
          throw new HttpError(400, { error: 'unknown_error' });
        }
      }
      const answer = adminApi(method, url, principal, body);
      send(res, answer.status, answer.body, answer.headers);
    } catch (error) {
      if (error instanceof HttpError) send(res, error.status, error.body);
      else send(res, 500, { error: 'unknown_error' });
    }
  }

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = () => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const baseUrl = origin();

  return {
    baseUrl,
    realm,
    tokenUrl: `${baseUrl}/realms/${encodeURIComponent(realm)}/protocol/openid-connect/token`,
    adminClient: admin,
    adminUser,
    requests,
    fault(fault) {
      currentFault = fault;
    },
    setAdminRoles(roles) {
      adminRoles = [...roles];
    },
    client: byClientId,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
