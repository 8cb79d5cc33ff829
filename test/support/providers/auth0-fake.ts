import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ProviderFault } from '../service-account-provider.contract.js';

/**
 * A local stand-in for an Auth0 tenant: the token endpoint and the Management API v2 endpoints
 * the `auth0` SDK calls for service accounts, answering as Auth0 documents them. Plain http on
 * 127.0.0.1; the adapter reaches it through its test-only `baseUrl` option.
 *
 * Documented behaviour it follows (bodies trimmed to the fields the adapter reads):
 * - Token endpoint, client credentials flow: https://auth0.com/docs/api/authentication#client-credentials-flow
 *   (`audience` is required; the client must have a client grant for it). A wrong secret or an
 *   unknown client is answered 401 `{"error":"access_denied","error_description":"Unauthorized"}`
 *   (what Auth0 answers in practice, e.g. auth0/node-auth0#428 and #682); an application without a
 *   grant for the audience 403 `access_denied`.
 * - Create a client: https://auth0.com/docs/api/management/v2/clients/post-clients (201, answers `client_secret`).
 * - Get clients: https://auth0.com/docs/api/management/v2/clients/get-clients (`page`, `per_page`,
 *   `include_totals`, `app_type`, `fields`, `include_fields`).
 * - Get a client: https://auth0.com/docs/api/management/v2/clients/get-clients-by-id (`client_secret`
 *   only with `read:client_keys`; 404 `inexistent_client`).
 * - Delete a client: https://auth0.com/docs/api/management/v2/clients/delete-clients-by-id (204; its grants go with it).
 * - Rotate a client secret: https://auth0.com/docs/api/management/v2/clients/post-rotate-secret
 *   (`update:client_keys`; answers the client with its new `client_secret`).
 * - Create a client grant: https://auth0.com/docs/api/management/v2/client-grants/post-client-grants (201).
 * - Get client grants: https://auth0.com/docs/api/management/v2/client-grants/get-client-grants (`audience`, `client_id`, `from`/`take` checkpoint pagination).
 * - Errors: `{"statusCode","error","message","errorCode"}`; 403 `insufficient_scope` ("Insufficient scope, expected any of: ...").
 * - Rate limits: https://auth0.com/docs/troubleshoot/customer-support/operational-policies/rate-limit-policy
 *   (429 with `x-ratelimit-limit`, `x-ratelimit-remaining`, `x-ratelimit-reset` as a UNIX time in seconds).
 *
 * Secret rotation: https://auth0.com/docs/get-started/applications/rotate-client-secret says new
 * secrets may be delayed up to thirty seconds. The fake models that propagation window the way
 * the adapter reports it: the new secret works at once, the old one keeps working for
 * `propagationMs` (short by default, so tests can see both states), then is refused.
 */
export interface Auth0FakeOptions {
  /** The tenant domain the SDK is configured with (requests still go to the fake's origin). Default `fake-tenant.auth0.test`. */
  domain?: string;
  /** How long the previous secret keeps working after rotate-secret. Default 1500 ms. */
  propagationMs?: number;
  /** Scopes granted to the management M2M application on the Management API. Default: all the adapter uses. */
  managementScopes?: string[];
  /** The API service accounts are granted on, and the scopes it defines. */
  api?: { identifier: string; scopes: string[] };
}

export interface Auth0Fake {
  /** `http://127.0.0.1:port`: pass as the adapter's `baseUrl`. */
  url: string;
  domain: string;
  /** The token endpoint on the fake (for probes). */
  tokenUrl: string;
  /** The management M2M application, authorised for the Management API. */
  management: { clientId: string; clientSecret: string };
  /** The API identifier service accounts get a grant for. */
  audience: string;
  /** Scopes that API defines. */
  apiScopes: string[];
  propagationMs: number;
  /** From now on the Management API answers with `fault` (undefined: back to normal). The token endpoint is not affected. */
  fault(fault: ProviderFault | undefined): void;
  /** Management API requests received, as "METHOD /path". */
  requests: string[];
  close(): Promise<void>;
}

/** Every Management API scope the adapter uses (the fake checks the ones each endpoint needs). */
export const AUTH0_ADAPTER_SCOPES = ['create:clients', 'read:clients', 'delete:clients', 'read:client_keys', 'update:client_keys', 'create:client_grants', 'read:client_grants'];

interface FakeClient {
  client_id: string;
  name: string;
  description?: string;
  app_type?: string;
  grant_types: string[];
  token_endpoint_auth_method: string;
  client_metadata: Record<string, unknown>;
  created_at: string;
  updated_at: string;
  secret: string;
  previous?: { secret: string; until: number };
}

interface FakeGrant {
  id: string;
  client_id: string;
  audience: string;
  scope: string[];
}

type Json = Record<string, unknown>;

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function randomId(length: number): string {
  const bytes = randomBytes(length);
  return Array.from(bytes, (byte) => ALNUM[byte % ALNUM.length]).join('');
}

function newSecret(): string {
  return randomBytes(48).toString('base64url');
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function startAuth0Fake(options: Auth0FakeOptions = {}): Promise<Auth0Fake> {
  const domain = options.domain ?? 'fake-tenant.auth0.test';
  const issuer = `https://${domain}/`;
  const managementAudience = `https://${domain}/api/v2/`;
  const propagationMs = options.propagationMs ?? 1500;
  const api = options.api ?? { identifier: 'https://orders.example.test', scopes: ['orders:read', 'orders:write'] };
  const signingKey = randomBytes(32);
  const clients = new Map<string, FakeClient>();
  const grants = new Map<string, FakeGrant>();
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  let currentFault: ProviderFault | undefined;

  // The management M2M application and its grant on the Management API.
  const now = new Date().toISOString();
  const management: FakeClient = {
    client_id: randomId(32),
    name: 'nestjs-identity management (fake)',
    app_type: 'non_interactive',
    grant_types: ['client_credentials'],
    token_endpoint_auth_method: 'client_secret_post',
    client_metadata: {},
    created_at: now,
    updated_at: now,
    secret: newSecret(),
  };
  clients.set(management.client_id, management);
  const managementGrant: FakeGrant = { id: `cgr_${randomId(16)}`, client_id: management.client_id, audience: managementAudience, scope: options.managementScopes ?? [...AUTH0_ADAPTER_SCOPES] };
  grants.set(managementGrant.id, managementGrant);

  function sign(payload: Json): string {
    const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    const signature = createHmac('sha256', signingKey).update(`${header}.${body}`).digest('base64url');
    return `${header}.${body}.${signature}`;
  }

  function verify(token: string): Json | undefined {
    const [header, body, signature] = token.split('.');
    if (!header || !body || !signature) return undefined;
    const expected = createHmac('sha256', signingKey).update(`${header}.${body}`).digest('base64url');
    if (!sameSecret(signature, expected)) return undefined;
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Json;
    if (typeof payload.exp !== 'number' || payload.exp * 1000 < Date.now()) return undefined;
    return payload;
  }

  function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
    if (body === undefined) {
      res.writeHead(status, headers).end();
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(JSON.stringify(body));
  }

  function managementError(res: ServerResponse, status: number, message: string, errorCode?: string, headers: Record<string, string> = {}): void {
    const error = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 429: 'Too Many Requests' }[status] ?? 'Error';
    send(res, status, { statusCode: status, error, message, ...(errorCode ? { errorCode } : {}) }, headers);
  }

  async function readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  function secretWorks(client: FakeClient, secret: string): boolean {
    if (sameSecret(secret, client.secret)) return true;
    return client.previous !== undefined && Date.now() < client.previous.until && sameSecret(secret, client.previous.secret);
  }

  /** POST /oauth/token, grant_type=client_credentials (client_secret_post or client_secret_basic). */
  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const type = req.headers['content-type'] ?? '';
    let params: Record<string, string>;
    if (type.includes('application/json')) {
      params = Object.fromEntries(Object.entries(JSON.parse(raw || '{}') as Json).filter((e): e is [string, string] => typeof e[1] === 'string'));
    } else {
      params = Object.fromEntries(new URLSearchParams(raw));
    }
    const basic = req.headers.authorization?.match(/^Basic\s+(.+)$/i)?.[1];
    if (basic) {
      const [id, secret] = Buffer.from(basic, 'base64').toString('utf8').split(':');
      params.client_id ??= decodeURIComponent(id ?? '');
      params.client_secret ??= decodeURIComponent(secret ?? '');
    }
    if (params.grant_type !== 'client_credentials') {
      send(res, 400, { error: 'unsupported_grant_type', error_description: `Unsupported grant type: ${params.grant_type ?? ''}` });
      return;
    }
    const client = params.client_id ? clients.get(params.client_id) : undefined;
    if (!client || !params.client_secret || !secretWorks(client, params.client_secret)) {
      send(res, 401, { error: 'access_denied', error_description: 'Unauthorized' });
      return;
    }
    const audience = params.audience;
    if (!audience) {
      send(res, 403, { error: 'access_denied', error_description: 'No audience parameter was provided, and no default audience has been configured' });
      return;
    }
    if (audience !== managementAudience && audience !== api.identifier) {
      send(res, 403, { error: 'access_denied', error_description: `Service not enabled within domain: ${audience}` });
      return;
    }
    const grant = [...grants.values()].find((g) => g.client_id === client.client_id && g.audience === audience);
    if (!grant) {
      send(res, 403, { error: 'access_denied', error_description: `Client is not authorized to access "${audience}". You need to create a "client-grant" associated to this API.` });
      return;
    }
    const requested = params.scope ? params.scope.split(' ').filter(Boolean) : undefined;
    const scope = requested ? grant.scope.filter((s) => requested.includes(s)) : grant.scope;
    const iat = Math.floor(Date.now() / 1000);
    const accessToken = sign({ iss: issuer, sub: `${client.client_id}@clients`, aud: audience, iat, exp: iat + 86_400, scope: scope.join(' '), gty: 'client-credentials', azp: client.client_id });
    send(res, 200, { access_token: accessToken, scope: scope.join(' '), expires_in: 86_400, token_type: 'Bearer' });
  }

  function view(client: FakeClient, withSecret: boolean): Json {
    const { secret, previous: _previous, ...rest } = client;
    return { tenant: domain.split('.')[0], global: false, is_first_party: true, ...rest, ...(withSecret ? { client_secret: secret } : {}) };
  }

  function project(value: Json, fields: string | null, include: string | null): Json {
    if (!fields) return value;
    const names = new Set(fields.split(',').map((f) => f.trim()));
    const keep = include !== 'false';
    return Object.fromEntries(Object.entries(value).filter(([key]) => names.has(key) === keep));
  }

  /** The Management API, under /api/v2. */
  async function managementApi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const path = url.pathname.slice('/api/v2'.length);
    requests.push(`${method} ${url.pathname}`);
    const route = routeOf(method, path);
    const fault = currentFault;
    if (fault === 'timeout') return; // never answered; closed with the server
    if (fault === 'unauthorized') return managementError(res, 401, 'Invalid token');
    if (fault === 'forbidden') return managementError(res, 403, `Insufficient scope, expected any of: ${route?.scopes.join(',') ?? 'read:clients'}`, 'insufficient_scope');
    if (fault === 'not-found') return managementError(res, 404, 'The client does not exist', 'inexistent_client');
    if (fault === 'rate-limited') {
      const reset = Math.floor(Date.now() / 1000) + 2;
      return managementError(res, 429, 'Global limit has been reached', 'too_many_requests', {
        'x-ratelimit-limit': '50',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(reset),
        'retry-after': '2',
      });
    }

    const bearer = req.headers.authorization?.match(/^Bearer\s+(\S+)$/i)?.[1];
    if (!bearer) return managementError(res, 401, 'Missing authentication');
    const claims = verify(bearer);
    if (!claims || claims.aud !== managementAudience) return managementError(res, 401, 'Invalid token');
    const granted = new Set(typeof claims.scope === 'string' ? claims.scope.split(' ') : []);
    if (!route) return managementError(res, 404, 'Not Found');
    if (!route.scopes.some((s) => granted.has(s))) return managementError(res, 403, `Insufficient scope, expected any of: ${route.scopes.join(',')}`, 'insufficient_scope');
    const readsKeys = granted.has('read:client_keys');

    const body = method === 'POST' ? (JSON.parse((await readBody(req)) || '{}') as Json) : {};
    const id = route.id;
    switch (route.name) {
      case 'create-client': {
        if (typeof body.name !== 'string' || body.name.length === 0) return managementError(res, 400, "Payload validation error: 'Missing required property: name'.", 'invalid_body');
        const at = new Date().toISOString();
        const client: FakeClient = {
          client_id: randomId(32),
          name: body.name,
          ...(typeof body.description === 'string' ? { description: body.description } : {}),
          app_type: typeof body.app_type === 'string' ? body.app_type : undefined,
          grant_types: Array.isArray(body.grant_types) ? (body.grant_types as string[]) : ['authorization_code', 'implicit', 'refresh_token', 'client_credentials'],
          token_endpoint_auth_method: typeof body.token_endpoint_auth_method === 'string' ? body.token_endpoint_auth_method : 'client_secret_post',
          client_metadata: typeof body.client_metadata === 'object' && body.client_metadata !== null ? (body.client_metadata as Json) : {},
          created_at: at,
          updated_at: at,
          secret: newSecret(),
        };
        clients.set(client.client_id, client);
        // POST /clients answers the new client with its client_secret.
        return send(res, 201, view(client, true));
      }
      case 'list-clients': {
        const appTypes = url.searchParams.get('app_type')?.split(',');
        const all = [...clients.values()].filter((c) => !appTypes || (c.app_type !== undefined && appTypes.includes(c.app_type)));
        const perPage = Math.min(100, Number(url.searchParams.get('per_page') ?? 50));
        const page = Number(url.searchParams.get('page') ?? 0);
        const slice = all.slice(page * perPage, (page + 1) * perPage).map((c) => project(view(c, readsKeys), url.searchParams.get('fields'), url.searchParams.get('include_fields')));
        if (url.searchParams.get('include_totals') === 'true') return send(res, 200, { start: page * perPage, limit: perPage, length: slice.length, total: all.length, clients: slice });
        return send(res, 200, slice);
      }
      case 'get-client': {
        const client = clients.get(id!);
        if (!client) return managementError(res, 404, 'The client does not exist', 'inexistent_client');
        return send(res, 200, project(view(client, readsKeys), url.searchParams.get('fields'), url.searchParams.get('include_fields')));
      }
      case 'delete-client': {
        if (!clients.delete(id!)) return managementError(res, 404, 'The client does not exist', 'inexistent_client');
        for (const [grantId, grant] of grants) if (grant.client_id === id) grants.delete(grantId);
        return send(res, 204);
      }
      case 'rotate-secret': {
        const client = clients.get(id!);
        if (!client) return managementError(res, 404, 'The client does not exist', 'inexistent_client');
        client.previous = { secret: client.secret, until: Date.now() + propagationMs };
        client.secret = newSecret();
        client.updated_at = new Date().toISOString();
        return send(res, 200, view(client, true));
      }
      case 'create-grant': {
        const clientId = body.client_id;
        const audience = body.audience;
        const scope = Array.isArray(body.scope) ? (body.scope as unknown[]).filter((s): s is string => typeof s === 'string') : [];
        if (typeof clientId !== 'string' || typeof audience !== 'string') return managementError(res, 400, "Payload validation error: 'Missing required property: audience'.", 'invalid_body');
        if (!clients.has(clientId)) return managementError(res, 404, 'The client does not exist', 'inexistent_client');
        if (audience !== api.identifier) return managementError(res, 404, `No resource server found with identifier ${audience}`, 'inexistent_resource_server');
        const unknown = scope.filter((s) => !api.scopes.includes(s));
        if (unknown.length > 0) return managementError(res, 400, `Client grant scopes not defined by the resource server: ${unknown.join(', ')}`, 'invalid_body');
        if ([...grants.values()].some((g) => g.client_id === clientId && g.audience === audience)) return managementError(res, 409, 'A resource with the same identifier already exists', 'conflict');
        const grant: FakeGrant = { id: `cgr_${randomId(16)}`, client_id: clientId, audience, scope };
        grants.set(grant.id, grant);
        return send(res, 201, grant);
      }
      case 'list-grants': {
        const audience = url.searchParams.get('audience');
        const clientId = url.searchParams.get('client_id');
        const all = [...grants.values()].filter((g) => (!audience || g.audience === audience) && (!clientId || g.client_id === clientId));
        const take = Math.min(100, Number(url.searchParams.get('take') ?? 50));
        const from = Number(url.searchParams.get('from') ?? 0);
        const slice = all.slice(from, from + take);
        const next = from + take < all.length ? String(from + take) : undefined;
        return send(res, 200, { client_grants: slice, ...(next ? { next } : {}) });
      }
    }
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const handle = url.pathname === '/oauth/token' && req.method === 'POST' ? token(req, res) : url.pathname.startsWith('/api/v2/') ? managementApi(req, res, url) : Promise.resolve(send(res, 404, { error: 'not_found' }));
    handle.catch(() => {
      if (!res.headersSent) send(res, 500, { statusCode: 500, error: 'Internal Server Error', message: 'fake failure' });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    domain,
    tokenUrl: `${url}/oauth/token`,
    management: { clientId: management.client_id, clientSecret: management.secret },
    audience: api.identifier,
    apiScopes: [...api.scopes],
    propagationMs,
    requests,
    fault(fault) {
      currentFault = fault;
    },
    async close() {
      currentFault = undefined;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Route {
  name: 'create-client' | 'list-clients' | 'get-client' | 'delete-client' | 'rotate-secret' | 'create-grant' | 'list-grants';
  /** Any one of these Management API scopes allows the call (Auth0's "expected any of"). */
  scopes: string[];
  id?: string;
}

function routeOf(method: string, path: string): Route | undefined {
  if (path === '/clients' && method === 'POST') return { name: 'create-client', scopes: ['create:clients'] };
  if (path === '/clients' && method === 'GET') return { name: 'list-clients', scopes: ['read:clients', 'read:client_keys'] };
  if (path === '/client-grants' && method === 'POST') return { name: 'create-grant', scopes: ['create:client_grants'] };
  if (path === '/client-grants' && method === 'GET') return { name: 'list-grants', scopes: ['read:client_grants'] };
  const rotate = path.match(/^\/clients\/([^/]+)\/rotate-secret$/);
  if (rotate && method === 'POST') return { name: 'rotate-secret', scopes: ['update:client_keys'], id: decodeURIComponent(rotate[1]!) };
  const one = path.match(/^\/clients\/([^/]+)$/);
  if (one && method === 'GET') return { name: 'get-client', scopes: ['read:clients', 'read:client_keys'], id: decodeURIComponent(one[1]!) };
  if (one && method === 'DELETE') return { name: 'delete-client', scopes: ['delete:clients'], id: decodeURIComponent(one[1]!) };
  return undefined;
}
