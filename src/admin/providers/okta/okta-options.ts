import { IdentityConfigurationError } from '../../../errors/identity-configuration.error.js';

/** An SSWS API token (Security → API → Tokens); it acts with the admin role of the admin who created it. */
export interface OktaApiTokenCredentials {
  token: string;
}

/**
 * An OAuth 2.0 service app for the Okta management API ("OAuth for Okta"): private_key_jwt at the
 * org authorization server, with the Okta API scopes `okta.apps.read` and `okta.apps.manage`
 * granted and an admin role (Application Administrator) assigned to the app.
 */
export interface OktaPrivateKeyCredentials {
  clientId: string;
  /** PEM (PKCS#1 or PKCS#8) or a private JWK (object or JSON string), RSA or EC. */
  privateKey: string | Record<string, unknown>;
  /** The `kid` of the public key registered on the service app, when the JWK does not carry one. */
  keyId?: string;
}

export interface OktaServiceAccountProviderOptions {
  /** The Okta org, e.g. `https://dev-123456.okta.com` (no path, not the `-admin` URL, not an issuer). */
  orgUrl: string;
  credentials: OktaApiTokenCredentials | OktaPrivateKeyCredentials;
  /**
   * The custom authorization server whose token endpoint issues the service accounts' tokens
   * (`{orgUrl}/oauth2/{authorizationServerId}/v1/token`). Default `default`.
   */
  authorizationServerId?: string;
  /** Deadline for each admin-API request, in ms. Default 10 000. */
  timeoutMs?: number;
  testing?: {
    /** Accept an `http://` orgUrl (a local fake). Never in production. */
    disableHttpsCheck?: boolean;
  };
}

export type ResolvedOktaCredentials =
  | { mode: 'token'; token: string }
  | { mode: 'private-key'; clientId: string; privateKey: string | Record<string, unknown>; keyId?: string };

export interface ResolvedOktaOptions {
  /** Without a trailing slash. */
  orgUrl: string;
  credentials: ResolvedOktaCredentials;
  authorizationServerId: string;
  timeoutMs: number;
  /** Where the service accounts get their tokens. */
  tokenUrl: string;
}

export const OKTA_DEFAULT_TIMEOUT_MS = 10_000;
const MAX_TIMEOUT_MS = 120_000;
const OPTION = 'OktaServiceAccountProvider';

function fail(option: string, message: string): never {
  throw new IdentityConfigurationError(`${OPTION}.${option}`, message);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function resolveOrgUrl(value: unknown, allowHttp: boolean): string {
  const example = 'set it to your org URL such as "https://dev-123456.okta.com" (Okta Admin Console, top-right menu)';
  if (typeof value !== 'string' || value.trim() === '') fail('orgUrl', `is required; ${example}`);
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    fail('orgUrl', `is not a URL; ${example}`);
  }
  if (url.protocol !== 'https:' && !(allowHttp && url.protocol === 'http:')) {
    fail('orgUrl', `must use https (got ${url.protocol.replace(':', '')}); ${example}. Only a local fake may use http, with testing.disableHttpsCheck`);
  }
  if (url.username || url.password) fail('orgUrl', `must not carry credentials; give them in the credentials option and ${example}`);
  if (url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    fail('orgUrl', `must be the bare org URL, without a path (an issuer such as ".../oauth2/default" is not an org URL; use authorizationServerId for that); ${example}`);
  }
  if (/-admin\./i.test(url.hostname)) {
    fail('orgUrl', `is the Admin Console URL ("-admin"); drop "-admin" from the host, e.g. "https://dev-123456.okta.com"`);
  }
  return url.origin;
}

function resolveCredentials(value: unknown): ResolvedOktaCredentials {
  const both = 'give either { token } (an SSWS API token from Security → API → Tokens) or { clientId, privateKey, keyId? } (an OAuth 2.0 service app for the Okta management API)';
  if (!isRecord(value)) fail('credentials', `is required; ${both}`);
  const hasToken = value.token !== undefined;
  const hasKey = value.clientId !== undefined || value.privateKey !== undefined;
  if (hasToken && hasKey) fail('credentials', `holds both a token and a private key; ${both}, not both`);
  if (hasToken) {
    const token = value.token;
    if (typeof token !== 'string' || token.trim() === '') fail('credentials.token', `must be a non-empty string; ${both}`);
    if (/^ssws\s/i.test(token)) fail('credentials.token', 'must be the token alone, without the "SSWS " prefix (the SDK adds it)');
    if (/\s/.test(token)) fail('credentials.token', 'contains whitespace; paste the API token exactly as Okta showed it');
    return { mode: 'token', token };
  }
  if (!hasKey) fail('credentials', both);
  const clientId = value.clientId;
  if (typeof clientId !== 'string' || !/^[A-Za-z0-9._~-]{1,128}$/.test(clientId)) {
    fail('credentials.clientId', "must be the service app's client ID (Applications → your service app → General), e.g. \"0oa1abcd2EFGH3ijk4l5\"");
  }
  const privateKey = value.privateKey;
  const keyHint = 'give the private key of the service app as PEM ("-----BEGIN PRIVATE KEY-----...") or as a private JWK (object or JSON string with "d")';
  if (typeof privateKey === 'string') {
    const trimmed = privateKey.trim();
    const pem = /^-----BEGIN (RSA |EC )?PRIVATE KEY-----/.test(trimmed);
    let jwk = false;
    if (!pem && trimmed.startsWith('{')) {
      try {
        const parsed: unknown = JSON.parse(trimmed);
        jwk = isRecord(parsed) && typeof parsed.kty === 'string' && typeof parsed.d === 'string';
      } catch {
        jwk = false;
      }
    }
    if (!pem && !jwk) fail('credentials.privateKey', `is neither a PEM private key nor a private JWK; ${keyHint}`);
  } else if (!isRecord(privateKey) || typeof privateKey.kty !== 'string' || typeof privateKey.d !== 'string') {
    fail('credentials.privateKey', `is required for a service app; ${keyHint}`);
  }
  const keyId = value.keyId;
  if (keyId !== undefined && (typeof keyId !== 'string' || keyId.trim() === '' || keyId.length > 200)) {
    fail('credentials.keyId', 'must be the "kid" of the public key registered on the service app (or be left out when the JWK carries its kid)');
  }
  // A copy: the SDK writes a default "alg" into a JWK object it is given.
  return { mode: 'private-key', clientId, privateKey: typeof privateKey === 'string' ? privateKey : { ...privateKey }, ...(keyId ? { keyId } : {}) };
}

/** Checks the options once, in the constructor: every mistake names the option and the fix. */
export function resolveOktaOptions(options: OktaServiceAccountProviderOptions): ResolvedOktaOptions {
  if (!isRecord(options)) fail('options', 'are required: { orgUrl, credentials }');
  const testing = options.testing;
  if (testing !== undefined && (!isRecord(testing) || (testing.disableHttpsCheck !== undefined && typeof testing.disableHttpsCheck !== 'boolean'))) {
    fail('testing', 'must be { disableHttpsCheck?: boolean }');
  }
  const orgUrl = resolveOrgUrl(options.orgUrl, testing?.disableHttpsCheck === true);
  const credentials = resolveCredentials(options.credentials);
  const authorizationServerId = options.authorizationServerId ?? 'default';
  if (typeof authorizationServerId !== 'string' || !/^[A-Za-z0-9]{1,64}$/.test(authorizationServerId)) {
    fail('authorizationServerId', 'must be the id of a custom authorization server ("default", or "aus..." from Security → API → Authorization Servers), not its issuer URL');
  }
  const timeoutMs = options.timeoutMs ?? OKTA_DEFAULT_TIMEOUT_MS;
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
    fail('timeoutMs', `must be a whole number of milliseconds between 1 and ${MAX_TIMEOUT_MS} (default ${OKTA_DEFAULT_TIMEOUT_MS})`);
  }
  return { orgUrl, credentials, authorizationServerId, timeoutMs, tokenUrl: `${orgUrl}/oauth2/${authorizationServerId}/v1/token` };
}
