import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { importJWK, jwtVerify, type JWK } from 'jose';
import type { ProviderFault } from '../service-account-provider.contract.js';

/*
 * A local stand-in for an Okta org, built from Okta's published API reference (not from what the
 * adapter would find convenient), for the requests `@okta/okta-sdk-nodejs` v8 sends:
 *
 * - Applications (create, get, list, deactivate, delete):
 *   https://developer.okta.com/docs/api/openapi/okta-management/management/tag/Application/
 *   POST /api/v1/apps answers 200 with the app and, once, `credentials.oauthClient.client_secret`;
 *   for OIDC apps `client_id` is the app `id`; GET never returns the secret; DELETE only deletes an
 *   INACTIVE app; list pages with a `Link: <...>; rel="next"` header and takes `filter=name eq "..."`.
 * - Client secrets (list, create, deactivate, delete), the SDK's ApplicationSSOPublicKeysApi:
 *   https://developer.okta.com/docs/api/openapi/okta-management/management/tag/ApplicationSSOPublicKeys/
 *   (formerly .../tag/ApplicationSecrets/) and https://developer.okta.com/docs/guides/client-secret-rotation-key/main/
 *   "You can create up to two Secret objects. An error is returned if you attempt to create more
 *   than two"; "You can only delete an inactive Secret". The list answer carries `client_secret`,
 *   as Okta's own Terraform provider relies on (terraform-provider-okta PR #1307,
 *   getCurrentlyActiveClientSecret); it also carries `secret_hash`.
 * - Errors: `{ errorCode, errorSummary, errorLink, errorId, errorCauses }`, e.g. E0000007 (404),
 *   E0000011 (401), E0000006 (403), E0000047 (429): https://developer.okta.com/docs/reference/error-codes/
 * - Rate limits: 429 with `x-rate-limit-limit`, `x-rate-limit-remaining`, `x-rate-limit-reset`
 *   (UTC epoch seconds): https://developer.okta.com/docs/reference/rl-best-practices/
 * - Custom authorization server token endpoint, `POST /oauth2/{authServerId}/v1/token`:
 *   https://developer.okta.com/docs/api/openapi/okta-oauth/oauth/tag/CustomAS/#tag/CustomAS/operation/tokenCustomAS
 *   client_credentials authenticated by the app's registered method; a wrong, deactivated or
 *   deleted secret (or a deactivated app) is `401 {"error":"invalid_client"}`; without `scope`
 *   (and no default scope) `400 invalid_scope`.
 * - OAuth 2.0 for the management API (service app, private_key_jwt at the org authorization
 *   server `POST /oauth2/v1/token`; every requested scope must be granted, else `invalid_scope`;
 *   a missing scope on a call is 403 with `www-authenticate: Bearer ... error="insufficient_scope"`):
 *   https://developer.okta.com/docs/guides/implement-oauth-for-okta-serviceapp/main/ and
 *   https://developer.okta.com/docs/guides/implement-oauth-for-okta/scopes/ ("okta.<resource>.read
 *   scopes to perform GET API operations and the okta.<resource>.manage scopes to perform POST,
 *   PUT, and DELETE API operations").
 *
 * Where the reference is silent, the fake picks an answer and says so (marked "Assumed" below):
 * the error code and status for a third secret or for deleting an active secret (400 E0000001),
 * for deleting an active app (403 E0000056), and that the token endpoint holds a client to its
 * registered token_endpoint_auth_method. The adapter never relies on these answers succeeding.
 */

type Json = Record<string, unknown>;

interface FakeSecret {
  id: string;
  client_secret: string;
  secret_hash: string;
  status: 'ACTIVE' | 'INACTIVE';
  created: string;
  lastUpdated: string;
}

interface FakeApp {
  id: string;
  label: string;
  status: 'ACTIVE' | 'INACTIVE';
  created: string;
  lastUpdated: string;
  profile?: Json;
  authMethod: string;
  grantTypes: string[];
  applicationType: string;
  secrets: FakeSecret[];
}

/** What an SSWS API token may do: it inherits the admin role of the admin who created it. */
export type OktaFakeTokenRole = 'app-admin' | 'read-only' | 'none';

export interface OktaFakeOptions {
  /** The custom authorization server whose token endpoint the service accounts use. Default `default`. */
  authorizationServerId?: string;
  /** Scopes defined on that authorization server. Default `orders:read orders:write`. */
  scopes?: string[];
  /** SSWS API tokens and the role each inherits. Default: one generated token with `app-admin`. */
  apiTokens?: Record<string, OktaFakeTokenRole>;
  /** Apps per list page (Okta's default is 20). */
  pageSize?: number;
}

export interface OktaFakeAdminClient {
  clientId: string;
  /** The public half of the key the service app signs its client assertions with. */
  publicJwk: JWK;
  /** Okta API scopes granted to the service app (its "Okta API Scopes" tab). */
  grantedScopes: string[];
}

export interface OktaFakeFailure {
  method: string;
  path: RegExp;
  status: number;
  /** How many matching requests fail (default 1). */
  times?: number;
  errorCode?: string;
}

export interface OktaFakeRequest {
  method: string;
  path: string;
}

export interface OktaFake {
  /** `http://127.0.0.1:<port>`. */
  orgUrl: string;
  /** An SSWS token with the Application Administrator role. */
  apiToken: string;
  authorizationServerId: string;
  /** `POST {orgUrl}/oauth2/{authorizationServerId}/v1/token`. */
  tokenUrl: string;
  /** Every management/OAuth request, in order. */
  requests: OktaFakeRequest[];
  /** From now on the management API (`/api/v1/*`) answers with `fault`; undefined restores it. */
  fault(kind: ProviderFault | undefined): void;
  /** Makes the next matching management request(s) fail with `status`. */
  failNext(failure: OktaFakeFailure): void;
  /** Registers an OAuth service app for the management API (private_key_jwt). */
  addAdminClient(client: OktaFakeAdminClient): void;
  /** Adds a secret to an app as if an admin did it in the console; answers its value. */
  addSecret(appId: string, status?: 'ACTIVE' | 'INACTIVE'): string;
  /** The app's secrets as Okta holds them (copies). */
  secrets(appId: string): Array<{ id: string; status: string; client_secret: string }>;
  /** Whether the app exists (in any state). */
  has(appId: string): boolean;
  close(): Promise<void>;
}

const ERRORS: Record<number, { code: string; summary: string }> = {
  400: { code: 'E0000001', summary: 'Api validation failed' },
  401: { code: 'E0000011', summary: 'Invalid token provided' },
  403: { code: 'E0000006', summary: 'You do not have permission to perform the requested action' },
  404: { code: 'E0000007', summary: 'Not found: Resource not found' },
  405: { code: 'E0000022', summary: 'The endpoint does not support the provided HTTP method' },
  429: { code: 'E0000047', summary: 'API call exceeded rate limit due to too many requests.' },
  500: { code: 'E0000009', summary: 'Internal Server Error' },
};

const RATE_LIMIT_WINDOW_SECONDS = 42;

function id(prefix: string): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const bytes = randomBytes(17);
  return prefix + Array.from(bytes, (byte) => alphabet[byte % alphabet.length]).join('');
}

function newSecretValue(): string {
  return randomBytes(48).toString('base64url');
}

function hashOf(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url').slice(0, 22);
}

function now(): string {
  return new Date().toISOString();
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): Json | undefined {
  if (!text) return {};
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
  } catch {
    return undefined;
  }
}

function rateLimitHeaders(remaining = 99): Record<string, string> {
  return {
    'x-rate-limit-limit': '100',
    'x-rate-limit-remaining': String(remaining),
    'x-rate-limit-reset': String(Math.floor(Date.now() / 1000) + RATE_LIMIT_WINDOW_SECONDS),
  };
}

function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  const all: Record<string, string> = { 'x-okta-request-id': randomUUID(), date: new Date().toUTCString(), ...headers };
  if (body === undefined) {
    res.writeHead(status, all).end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', ...all }).end(JSON.stringify(body));
}

function oktaError(res: ServerResponse, status: number, options: { code?: string; summary?: string; causes?: string[]; headers?: Record<string, string> } = {}): void {
  const known = ERRORS[status] ?? ERRORS[500]!;
  const code = options.code ?? known.code;
  send(
    res,
    status,
    {
      errorCode: code,
      errorSummary: options.summary ?? known.summary,
      errorLink: code,
      errorId: id('oae'),
      errorCauses: (options.causes ?? []).map((errorSummary) => ({ errorSummary })),
    },
    { ...rateLimitHeaders(), ...options.headers },
  );
}

function oauthError(res: ServerResponse, status: number, error: string, description: string): void {
  send(res, status, { error, error_description: description }, { 'cache-control': 'no-store', pragma: 'no-cache' });
}

/** Starts the fake on 127.0.0.1, port 0. */
export async function startOktaFake(options: OktaFakeOptions = {}): Promise<OktaFake> {
  const authorizationServerId = options.authorizationServerId ?? 'default';
  const asScopes = new Set(options.scopes ?? ['orders:read', 'orders:write']);
  const pageSize = options.pageSize ?? 20;
  const defaultToken = `00${randomBytes(20).toString('base64url')}`;
  const apiTokens = new Map<string, OktaFakeTokenRole>(Object.entries(options.apiTokens ?? { [defaultToken]: 'app-admin' }));
  const apps = new Map<string, FakeApp>();
  const adminClients = new Map<string, OktaFakeAdminClient>();
  /** Access tokens the org authorization server issued for the management API, with their scopes. */
  const adminTokens = new Map<string, Set<string>>();
  const requests: OktaFakeRequest[] = [];
  const failures: Array<OktaFakeFailure & { left: number }> = [];
  let currentFault: ProviderFault | undefined;
  let orgUrl = '';

  function appJson(app: FakeApp, withSecret?: string): Json {
    return {
      id: app.id,
      name: 'oidc_client',
      label: app.label,
      status: app.status,
      created: app.created,
      lastUpdated: app.lastUpdated,
      signOnMode: 'OPENID_CONNECT',
      features: [],
      visibility: { autoSubmitToolbar: false, hide: { iOS: true, web: true }, appLinks: { oidc_client_link: false } },
      accessibility: { selfService: false },
      ...(app.profile ? { profile: app.profile } : {}),
      credentials: {
        userNameTemplate: { template: '${source.login}', type: 'BUILT_IN' },
        signing: { kid: 'fake-signing-kid' },
        oauthClient: {
          autoKeyRotation: true,
          client_id: app.id,
          ...(withSecret ? { client_secret: withSecret } : {}),
          token_endpoint_auth_method: app.authMethod,
          pkce_required: false,
        },
      },
      settings: {
        app: {},
        notifications: { vpn: { network: { connection: 'DISABLED' } } },
        oauthClient: {
          application_type: app.applicationType,
          grant_types: app.grantTypes,
          response_types: ['token'],
          consent_method: 'REQUIRED',
          issuer_mode: 'DYNAMIC',
        },
      },
      _links: {
        self: { href: `${orgUrl}/api/v1/apps/${app.id}` },
        deactivate: { href: `${orgUrl}/api/v1/apps/${app.id}/lifecycle/deactivate` },
      },
    };
  }

  function secretJson(app: FakeApp, secret: FakeSecret): Json {
    return {
      id: secret.id,
      status: secret.status,
      client_secret: secret.client_secret,
      secret_hash: secret.secret_hash,
      created: secret.created,
      lastUpdated: secret.lastUpdated,
      _links: {
        [secret.status === 'ACTIVE' ? 'deactivate' : 'activate']: {
          href: `${orgUrl}/api/v1/apps/${app.id}/credentials/secrets/${secret.id}/lifecycle/${secret.status === 'ACTIVE' ? 'deactivate' : 'activate'}`,
          hints: { allow: ['POST'] },
        },
      },
    };
  }

  function newSecret(value = newSecretValue(), status: 'ACTIVE' | 'INACTIVE' = 'ACTIVE'): FakeSecret {
    const at = now();
    return { id: id('ocs'), client_secret: value, secret_hash: hashOf(value), status, created: at, lastUpdated: at };
  }

  /** Whether the caller may do this; when not, the answer (401/403) has been sent. */
  function authorize(req: IncomingMessage, res: ServerResponse, write: boolean): boolean {
    const header = req.headers['authorization'] ?? '';
    if (header.startsWith('SSWS ')) {
      const role = apiTokens.get(header.slice(5));
      if (!role) {
        oktaError(res, 401);
        return false;
      }
      if (role === 'none' || (write && role === 'read-only')) {
        oktaError(res, 403);
        return false;
      }
      return true;
    }
    if (header.startsWith('Bearer ')) {
      const scopes = adminTokens.get(header.slice(7));
      if (!scopes) {
        oktaError(res, 401);
        return false;
      }
      const needed = write ? 'okta.apps.manage' : 'okta.apps.read';
      if (!scopes.has(needed) && !scopes.has('okta.apps.manage')) {
        oktaError(res, 403, {
          headers: {
            'www-authenticate': `Bearer authorization_uri="${orgUrl}/oauth2/v1/authorize", realm="IdP", scope="${needed}", error="insufficient_scope", error_description="The access token provided does not contain the required scopes.", resource="${new URL(req.url ?? '/', orgUrl).pathname}"`,
          },
        });
        return false;
      }
      return true;
    }
    oktaError(res, 401, { summary: 'Invalid session' });
    return false;
  }

  function injectedFault(res: ServerResponse): boolean {
    switch (currentFault) {
      case undefined:
        return false;
      case 'unauthorized':
        oktaError(res, 401);
        return true;
      case 'forbidden':
        oktaError(res, 403);
        return true;
      case 'not-found':
        oktaError(res, 404);
        return true;
      case 'rate-limited':
        oktaError(res, 429, { headers: rateLimitHeaders(0) });
        return true;
      case 'timeout':
        // Never answer: the client's deadline has to end it (close() drops the socket).
        return true;
    }
  }

  function injectedFailure(method: string, path: string, res: ServerResponse): boolean {
    const index = failures.findIndex((failure) => failure.method === method && failure.path.test(path));
    if (index < 0) return false;
    const failure = failures[index]!;
    failure.left -= 1;
    if (failure.left <= 0) failures.splice(index, 1);
    oktaError(res, failure.status, { code: failure.errorCode, headers: failure.status === 429 ? rateLimitHeaders(0) : {} });
    return true;
  }

  async function management(req: IncomingMessage, res: ServerResponse, method: string, url: URL): Promise<void> {
    const path = url.pathname;
    if (injectedFault(res)) return;
    const write = method !== 'GET';
    if (!authorize(req, res, write)) return;
    if (injectedFailure(method, path, res)) return;
    const body = write ? parseJson(await readBody(req)) : {};
    if (body === undefined) return oktaError(res, 400, { code: 'E0000003', summary: 'The request body was not well-formed.' });

    if (path === '/api/v1/apps' && method === 'POST') return createApp(res, body, url);
    if (path === '/api/v1/apps' && method === 'GET') return listApps(res, url);

    const appMatch = /^\/api\/v1\/apps\/([^/]+)(\/.*)?$/.exec(path);
    if (!appMatch) return oktaError(res, 404, { summary: `Not found: Resource not found: ${path} (UnknownResource)` });
    const app = apps.get(decodeURIComponent(appMatch[1]!));
    if (!app) return oktaError(res, 404, { summary: `Not found: Resource not found: ${appMatch[1]} (AppInstance)` });
    const rest = appMatch[2] ?? '';

    if (rest === '' && method === 'GET') return send(res, 200, appJson(app), rateLimitHeaders());
    if (rest === '' && method === 'DELETE') {
      // Documented: "Deletes an inactive application." Assumed: the answer for an active one.
      if (app.status !== 'INACTIVE') return oktaError(res, 403, { code: 'E0000056', summary: 'Delete application forbidden.' });
      apps.delete(app.id);
      return send(res, 204, undefined, rateLimitHeaders());
    }
    if (rest === '/lifecycle/deactivate' && method === 'POST') {
      app.status = 'INACTIVE';
      app.lastUpdated = now();
      return send(res, 200, {}, rateLimitHeaders());
    }
    if (rest === '/lifecycle/activate' && method === 'POST') {
      app.status = 'ACTIVE';
      app.lastUpdated = now();
      return send(res, 200, {}, rateLimitHeaders());
    }
    if (rest === '/credentials/secrets' && method === 'GET') {
      return send(res, 200, app.secrets.map((secret) => secretJson(app, secret)), rateLimitHeaders());
    }
    if (rest === '/credentials/secrets' && method === 'POST') {
      if (app.secrets.length >= 2) {
        // Documented: "An error is returned if you attempt to create more than two Secret objects." Assumed: its status and code.
        return oktaError(res, 400, { causes: ['You can create up to two client secrets. Delete an inactive secret before creating another one.'] });
      }
      const own = typeof body.client_secret === 'string' && body.client_secret.length > 0 ? body.client_secret : undefined;
      const secret = newSecret(own, body.status === 'INACTIVE' ? 'INACTIVE' : 'ACTIVE');
      app.secrets.push(secret);
      return send(res, 201, secretJson(app, secret), rateLimitHeaders());
    }
    const secretMatch = /^\/credentials\/secrets\/([^/]+)(\/lifecycle\/(activate|deactivate))?$/.exec(rest);
    if (secretMatch) {
      const secret = app.secrets.find((candidate) => candidate.id === decodeURIComponent(secretMatch[1]!));
      if (!secret) return oktaError(res, 404, { summary: `Not found: Resource not found: ${secretMatch[1]} (ClientSecret)` });
      const action = secretMatch[3];
      if (!action && method === 'GET') return send(res, 200, secretJson(app, secret), rateLimitHeaders());
      if (!action && method === 'DELETE') {
        // Documented: "You can only delete an inactive Secret." Assumed: its status and code.
        if (secret.status !== 'INACTIVE') return oktaError(res, 400, { causes: ['You can only delete an inactive client secret.'] });
        app.secrets = app.secrets.filter((candidate) => candidate !== secret);
        return send(res, 204, undefined, rateLimitHeaders());
      }
      if (action && method === 'POST') {
        secret.status = action === 'activate' ? 'ACTIVE' : 'INACTIVE';
        secret.lastUpdated = now();
        return send(res, 200, secretJson(app, secret), rateLimitHeaders());
      }
    }
    return oktaError(res, 405);
  }

  function createApp(res: ServerResponse, body: Json, url: URL): void {
    const causes: string[] = [];
    const label = typeof body.label === 'string' ? body.label.trim() : '';
    if (!label) causes.push('label: The field cannot be left blank');
    if (body.signOnMode !== 'OPENID_CONNECT') causes.push('signOnMode: only OPENID_CONNECT apps are modelled by this fake');
    if (body.name !== undefined && body.name !== 'oidc_client') causes.push('name: An OIDC app must be named oidc_client');
    const settings = ((body.settings as Json | undefined)?.oauthClient ?? {}) as Json;
    const credentials = ((body.credentials as Json | undefined)?.oauthClient ?? {}) as Json;
    const applicationType = typeof settings.application_type === 'string' ? settings.application_type : 'web';
    const grantTypes = Array.isArray(settings.grant_types) ? settings.grant_types.filter((grant): grant is string => typeof grant === 'string') : ['authorization_code'];
    if (applicationType === 'service' && (grantTypes.length !== 1 || grantTypes[0] !== 'client_credentials')) {
      causes.push('grant_types: A service application only supports the client_credentials grant type');
    }
    const authMethod = typeof credentials.token_endpoint_auth_method === 'string' ? credentials.token_endpoint_auth_method : 'client_secret_basic';
    if (!['client_secret_basic', 'client_secret_post'].includes(authMethod)) causes.push('token_endpoint_auth_method: only client_secret_basic/client_secret_post are modelled by this fake');
    const profile = body.profile;
    if (profile !== undefined && (typeof profile !== 'object' || profile === null || Array.isArray(profile))) causes.push('profile: must be a JSON object');
    if (causes.length) return oktaError(res, 400, { causes });
    const at = now();
    const secret = newSecret(typeof credentials.client_secret === 'string' ? credentials.client_secret : undefined);
    const app: FakeApp = {
      id: id('0oa'),
      label,
      // `activate` defaults to true.
      status: url.searchParams.get('activate') === 'false' ? 'INACTIVE' : 'ACTIVE',
      created: at,
      lastUpdated: at,
      profile: profile as Json | undefined,
      authMethod,
      grantTypes,
      applicationType,
      secrets: [secret],
    };
    apps.set(app.id, app);
    send(res, 200, appJson(app, secret.client_secret), rateLimitHeaders());
  }

  function listApps(res: ServerResponse, url: URL): void {
    let all = [...apps.values()].sort((a, b) => a.id.localeCompare(b.id));
    const filter = url.searchParams.get('filter');
    if (filter) {
      const match = /^(name|status|id) eq "([^"]*)"$/.exec(filter.trim());
      if (!match) return oktaError(res, 400, { code: 'E0000031', summary: 'Invalid search criteria.' });
      const [, field, value] = match;
      all = all.filter((app) => (field === 'name' ? value === 'oidc_client' : field === 'status' ? app.status === value : app.id === value));
    }
    const q = url.searchParams.get('q');
    if (q) all = all.filter((app) => app.label.toLowerCase().startsWith(q.toLowerCase()));
    const after = url.searchParams.get('after');
    if (after) all = all.filter((app) => app.id > after);
    const limit = Math.min(Math.max(Number(url.searchParams.get('limit') ?? pageSize) || pageSize, 1), 200);
    const page = all.slice(0, limit);
    const links = [`<${orgUrl}${url.pathname}${url.search}>; rel="self"`];
    if (all.length > limit) {
      const next = new URL(url.toString());
      next.searchParams.set('after', page[page.length - 1]!.id);
      links.push(`<${orgUrl}${next.pathname}${next.search}>; rel="next"`);
    }
    send(res, 200, page.map((app) => appJson(app)), { ...rateLimitHeaders(), link: links.join(', ') });
  }

  /** The custom authorization server's token endpoint, used by the service accounts. */
  async function customToken(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams(await readBody(req));
    let clientId = form.get('client_id') ?? undefined;
    let secret = form.get('client_secret') ?? undefined;
    let method = 'client_secret_post';
    const header = req.headers['authorization'];
    if (header?.startsWith('Basic ')) {
      const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return oauthError(res, 401, 'invalid_client', 'Client authentication failed.');
      const decode = (part: string) => decodeURIComponent(part.replace(/\+/g, ' '));
      clientId = decode(decoded.slice(0, colon));
      secret = decode(decoded.slice(colon + 1));
      method = 'client_secret_basic';
    }
    if (form.get('grant_type') !== 'client_credentials') return oauthError(res, 400, 'unsupported_grant_type', 'The grant type is not supported by this fake.');
    const app = clientId ? apps.get(clientId) : undefined;
    // Assumed: the client must use its registered token_endpoint_auth_method.
    const valid = app?.status === 'ACTIVE' && app.authMethod === method && app.secrets.some((candidate) => candidate.status === 'ACTIVE' && candidate.client_secret === secret);
    if (!app || !valid) return oauthError(res, 401, 'invalid_client', 'Client authentication failed. Either the client or the client credentials are invalid.');
    if (!app.grantTypes.includes('client_credentials')) return oauthError(res, 400, 'unauthorized_client', 'The client is not authorized to use the provided grant type.');
    const requested = (form.get('scope') ?? '').split(' ').filter(Boolean);
    if (requested.length === 0) return oauthError(res, 400, 'invalid_scope', "The authorization server resource does not have any configured default scopes, 'scope' must be provided.");
    const unknown = requested.filter((scope) => !asScopes.has(scope));
    if (unknown.length) return oauthError(res, 400, 'invalid_scope', 'One or more scopes are not configured for the authorization server resource.');
    send(res, 200, { token_type: 'Bearer', expires_in: 3600, access_token: randomBytes(32).toString('base64url'), scope: requested.join(' ') }, { 'cache-control': 'no-store' });
  }

  /** The org authorization server's token endpoint, used by OAuth service apps for the management API. */
  async function orgToken(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams(await readBody(req));
    if (form.get('grant_type') !== 'client_credentials') return oauthError(res, 400, 'unsupported_grant_type', 'The grant type is not supported.');
    if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return oauthError(res, 401, 'invalid_client', 'A client_assertion is required.');
    const assertion = form.get('client_assertion') ?? '';
    let client: OktaFakeAdminClient | undefined;
    try {
      const [, payload] = assertion.split('.');
      const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8')) as { iss?: string };
      client = claims.iss ? adminClients.get(claims.iss) : undefined;
      if (!client) throw new Error('unknown client');
      const key = await importJWK(client.publicJwk, client.publicJwk.alg ?? 'RS256');
      await jwtVerify(assertion, key, { issuer: client.clientId, subject: client.clientId, audience: `${orgUrl}/oauth2/v1/token` });
    } catch {
      return oauthError(res, 401, 'invalid_client', 'The client_assertion signature is invalid.');
    }
    const requested = (form.get('scope') ?? '').split(' ').filter(Boolean);
    if (requested.length === 0) return oauthError(res, 400, 'invalid_scope', "'scope' must be provided.");
    const notGranted = requested.filter((scope) => !client.grantedScopes.includes(scope));
    if (notGranted.length) return oauthError(res, 400, 'invalid_scope', `The following scopes are not allowed: ${notGranted.join(', ')}`);
    const token = randomBytes(32).toString('base64url');
    adminTokens.set(token, new Set(requested));
    send(res, 200, { token_type: 'Bearer', expires_in: 3600, access_token: token, scope: requested.join(' ') }, { 'cache-control': 'no-store' });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', orgUrl);
    requests.push({ method, path: url.pathname });
    if (method === 'POST' && url.pathname === `/oauth2/${authorizationServerId}/v1/token`) return customToken(req, res);
    if (method === 'POST' && url.pathname === '/oauth2/v1/token') return orgToken(req, res);
    if (url.pathname.startsWith('/api/v1/')) return management(req, res, method, url);
    return oktaError(res, 404, { summary: `Not found: Resource not found: ${url.pathname} (UnknownResource)` });
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) oktaError(res, 500);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  orgUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    orgUrl,
    apiToken: [...apiTokens.entries()].find(([, role]) => role === 'app-admin')?.[0] ?? defaultToken,
    authorizationServerId,
    tokenUrl: `${orgUrl}/oauth2/${authorizationServerId}/v1/token`,
    requests,
    fault(kind) {
      currentFault = kind;
    },
    failNext(failure) {
      failures.push({ ...failure, left: failure.times ?? 1 });
    },
    addAdminClient(client) {
      adminClients.set(client.clientId, client);
    },
    addSecret(appId, status = 'ACTIVE') {
      const app = apps.get(appId);
      if (!app) throw new Error(`okta fake: no app ${appId}`);
      const secret = newSecret(undefined, status);
      app.secrets.push(secret);
      return secret.client_secret;
    },
    secrets(appId) {
      return (apps.get(appId)?.secrets ?? []).map(({ id: secretId, status, client_secret }) => ({ id: secretId, status, client_secret }));
    },
    has(appId) {
      return apps.has(appId);
    },
    close() {
      currentFault = undefined;
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
