import { IdentityConfigurationError } from '../../../errors/identity-configuration.error.js';

/** A confidential admin client of the realm (client_credentials), whose service account holds realm-management roles. */
export interface KeycloakClientCredentials {
  clientId: string;
  clientSecret: string;
  /** Realm the admin client lives in. Default: the `realm` option. */
  realm?: string;
}

/** An admin user (password grant), by default the master realm's `admin-cli` client. */
export interface KeycloakPasswordCredentials {
  username: string;
  password: string;
  /** Public client used for the password grant. Default `admin-cli`. */
  clientId?: string;
  /** Realm the admin user lives in. Default `master`. */
  realm?: string;
}

export interface KeycloakServiceAccountProviderOptions {
  /** Keycloak's base URL, e.g. `https://keycloak.example.com` (add `/auth` for the pre-17 WildFly distribution). */
  baseUrl: string;
  /** The realm the service accounts (clients) are managed in. */
  realm: string;
  /** How the adapter signs in to the Admin REST API. */
  credentials: KeycloakClientCredentials | KeycloakPasswordCredentials;
  /** Deadline for each Admin REST API request, in milliseconds. Default 10 000. */
  timeoutMs?: number;
  /** Audience put in the tokens of every account created (oidc-audience-mapper), unless the account names its own. */
  audience?: string;
  /** How requested scopes are assigned to the client: `default` (always in its tokens, the default) or `optional` (only when asked with `scope`). */
  scopeAssignment?: 'default' | 'optional';
  secretRotation?: {
    /** End the previous secret at once (DELETE .../client-secret/rotated) instead of letting the realm's rotation policy keep it. Default false. */
    invalidatePrevious?: boolean;
  };
  /** Allow `http:` for a non-loopback `baseUrl` (a private network you trust). Default false: admin credentials and secrets travel in these requests. */
  allowInsecureHttp?: boolean;
}

/** What the adapter works from after validation. */
export interface ResolvedKeycloakOptions {
  baseUrl: string;
  realm: string;
  loginRealm: string;
  credentials: { grantType: 'client_credentials'; clientId: string; clientSecret: string } | { grantType: 'password'; clientId: string; username: string; password: string };
  timeoutMs: number;
  audience?: string;
  scopeAssignment: 'default' | 'optional';
  invalidatePrevious: boolean;
}

export const DEFAULT_KEYCLOAK_TIMEOUT_MS = 10_000;

const OPTION_KEYS = ['baseUrl', 'realm', 'credentials', 'timeoutMs', 'audience', 'scopeAssignment', 'secretRotation', 'allowInsecureHttp'];
const CLIENT_KEYS = ['clientId', 'clientSecret', 'realm'];
const PASSWORD_KEYS = ['username', 'password', 'clientId', 'realm'];
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
const CONTROL = /[\x00-\x1F\x7F]/;

function fail(option: string, message: string): never {
  throw new IdentityConfigurationError(`keycloak.${option}`, message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unknownKeys(option: string, value: Record<string, unknown>, allowed: string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) fail(option ? `${option}.${key}` : key, `is not a known option; allowed: ${allowed.join(', ')}`);
  }
}

/** A realm (or client id) as it goes into a URL path: non-empty, no slashes or control characters. */
function realmName(option: string, value: unknown, example: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 255 || value.trim() !== value || /[/\\]/.test(value) || CONTROL.test(value)) {
    fail(option, `must be a Keycloak realm name such as "${example}" (1-255 characters, no slashes, no surrounding spaces)`);
  }
  return value;
}

function text(option: string, value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 4096 || CONTROL.test(value)) fail(option, `is required: ${what}`);
  return value;
}

function baseUrl(value: unknown, allowInsecureHttp: boolean): string {
  const example = 'must be Keycloak\'s base URL such as "https://keycloak.example.com"';
  if (typeof value !== 'string' || value.length === 0) fail('baseUrl', `is required: it ${example}`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail('baseUrl', `is not a URL: it ${example}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail('baseUrl', `${example} (http or https)`);
  if (url.username || url.password) fail('baseUrl', 'must not carry credentials; put them in keycloak.credentials');
  if (url.search || url.hash) fail('baseUrl', `must have no query or fragment: it ${example}`);
  if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname) && !allowInsecureHttp) {
    fail('baseUrl', 'uses http: on a non-loopback host, so admin credentials and client secrets would travel in clear; use https, or set keycloak.allowInsecureHttp: true for a private network you trust');
  }
  if (/\/admin(\/|$)|\/realms(\/|$)/.test(url.pathname)) fail('baseUrl', `must be the server's base URL, without /admin or /realms/...: it ${example}`);
  return url.href.replace(/\/+$/, '');
}

function credentials(value: unknown, realm: string): Pick<ResolvedKeycloakOptions, 'credentials' | 'loginRealm'> {
  const shape = 'must be { clientId, clientSecret } (a confidential client with service accounts and realm-management roles) or { username, password } (an admin user, by default of the master realm)';
  if (!isObject(value)) fail('credentials', `is required: it ${shape}`);
  const hasSecret = value.clientSecret !== undefined;
  const hasUser = value.username !== undefined || value.password !== undefined;
  if (hasSecret && hasUser) fail('credentials', `mixes both kinds: it ${shape}`);
  if (hasUser) {
    unknownKeys('credentials', value, PASSWORD_KEYS);
    const username = text('credentials.username', value.username, 'the admin user\'s username (with realm-management "manage-clients" in the managed realm)');
    const password = text('credentials.password', value.password, 'the admin user\'s password');
    const clientId = value.clientId === undefined ? 'admin-cli' : text('credentials.clientId', value.clientId, 'a public client allowing the password grant, such as "admin-cli"');
    const loginRealm = value.realm === undefined ? 'master' : realmName('credentials.realm', value.realm, 'master');
    return { loginRealm, credentials: { grantType: 'password', clientId, username, password } };
  }
  unknownKeys('credentials', value, CLIENT_KEYS);
  if (value.clientId === undefined && value.clientSecret === undefined) fail('credentials', shape);
  const clientId = text('credentials.clientId', value.clientId, 'the admin client\'s client id, e.g. "nestjs-identity-admin"');
  const clientSecret = text('credentials.clientSecret', value.clientSecret, 'the admin client\'s secret (Clients > the client > Credentials)');
  const loginRealm = value.realm === undefined ? realm : realmName('credentials.realm', value.realm, realm);
  return { loginRealm, credentials: { grantType: 'client_credentials', clientId, clientSecret } };
}

/** Validates the options at construction: every message names the option and how to fix it. */
export function resolveKeycloakOptions(options: unknown): ResolvedKeycloakOptions {
  if (!isObject(options)) fail('options', 'are required: { baseUrl, realm, credentials }');
  unknownKeys('', options, OPTION_KEYS);
  if (options.allowInsecureHttp !== undefined && typeof options.allowInsecureHttp !== 'boolean') fail('allowInsecureHttp', 'must be true or false');
  const url = baseUrl(options.baseUrl, options.allowInsecureHttp === true);
  const realm = realmName('realm', options.realm, 'services');
  const login = credentials(options.credentials, realm);
  let timeoutMs = DEFAULT_KEYCLOAK_TIMEOUT_MS;
  if (options.timeoutMs !== undefined) {
    if (typeof options.timeoutMs !== 'number' || !Number.isInteger(options.timeoutMs) || options.timeoutMs < 100 || options.timeoutMs > 300_000) {
      fail('timeoutMs', 'must be a whole number of milliseconds between 100 and 300000 (default 10000)');
    }
    timeoutMs = options.timeoutMs;
  }
  let audience: string | undefined;
  if (options.audience !== undefined) {
    if (typeof options.audience !== 'string' || options.audience.length === 0 || options.audience.length > 2048 || CONTROL.test(options.audience) || options.audience.trim() !== options.audience) {
      fail('audience', 'must be the audience your API checks, such as "https://api.example.com" (1-2048 characters, no spaces around it)');
    }
    audience = options.audience;
  }
  const scopeAssignment = options.scopeAssignment ?? 'default';
  if (scopeAssignment !== 'default' && scopeAssignment !== 'optional') fail('scopeAssignment', 'must be "default" or "optional"');
  let invalidatePrevious = false;
  if (options.secretRotation !== undefined) {
    if (!isObject(options.secretRotation)) fail('secretRotation', 'must be an object such as { invalidatePrevious: true }');
    unknownKeys('secretRotation', options.secretRotation, ['invalidatePrevious']);
    const value = options.secretRotation.invalidatePrevious;
    if (value !== undefined && typeof value !== 'boolean') fail('secretRotation.invalidatePrevious', 'must be true or false');
    invalidatePrevious = value === true;
  }
  return { baseUrl: url, realm, ...login, timeoutMs, audience, scopeAssignment, invalidatePrevious };
}
