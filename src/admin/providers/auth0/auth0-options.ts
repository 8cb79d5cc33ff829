import { IdentityConfigurationError } from '../../../errors/identity-configuration.error.js';

/** An M2M application authorised for the Auth0 Management API (client_credentials). */
export interface Auth0ClientCredentials {
  clientId: string;
  clientSecret: string;
}

/** A Management API access token obtained elsewhere (it is not refreshed). */
export interface Auth0StaticToken {
  token: string;
}

export interface Auth0ServiceAccountProviderOptions {
  /** The tenant's domain, without scheme: `your-tenant.eu.auth0.com` (or a custom domain). */
  domain: string;
  /**
   * How the adapter calls the Management API: the client id and secret of an M2M application
   * authorised for it (the SDK fetches and refreshes the token), or a ready token.
   */
  credentials: Auth0ClientCredentials | Auth0StaticToken;
  /** The API identifier service accounts get a client grant for (Auth0 requires `audience` in client_credentials requests). */
  audience: string;
  /** Per-request deadline for the Management API, in milliseconds. Default 10 000. */
  timeoutMs?: number;
  /**
   * How long, in seconds, the previous secret is reported to keep working after a rotation.
   * Default 30, the propagation delay Auth0 documents for rotated secrets.
   */
  propagationSeconds?: number;
  /**
   * For tests only: send every SDK request (Management API and `/oauth/token`) to this origin
   * instead of `https://{domain}`, e.g. a local fake on `http://127.0.0.1:port`. Plain http is
   * accepted for loopback hosts only. Never set it in production.
   * @internal
   */
  baseUrl?: string;
}

export interface ResolvedAuth0Options {
  domain: string;
  credentials: Auth0ClientCredentials | Auth0StaticToken;
  audience: string;
  timeoutMs: number;
  propagationSeconds: number;
  baseUrl?: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_PROPAGATION_SECONDS = 30;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

function nonEmpty(value: unknown): value is string {
  return typeof value === 'string' && value.trim().length > 0;
}

/** Checks the adapter's options at construction; every error names the option and the fix. */
export function resolveAuth0Options(options: Auth0ServiceAccountProviderOptions | undefined): ResolvedAuth0Options {
  if (typeof options !== 'object' || options === null) {
    throw new IdentityConfigurationError('auth0', 'Auth0ServiceAccountProvider needs options: { domain, credentials, audience }');
  }
  const { domain, credentials, audience, timeoutMs = DEFAULT_TIMEOUT_MS, propagationSeconds = DEFAULT_PROPAGATION_SECONDS, baseUrl } = options;

  if (!nonEmpty(domain)) throw new IdentityConfigurationError('auth0.domain', 'is required: set it to your tenant\'s domain, e.g. "your-tenant.eu.auth0.com"');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(domain)) {
    throw new IdentityConfigurationError('auth0.domain', 'must be a bare host name without scheme or path: use "your-tenant.eu.auth0.com", not "https://your-tenant.eu.auth0.com/"');
  }
  if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(domain)) {
    throw new IdentityConfigurationError('auth0.domain', 'must be a host name such as "your-tenant.eu.auth0.com" (no path, port, query or spaces)');
  }

  if (typeof credentials !== 'object' || credentials === null) {
    throw new IdentityConfigurationError('auth0.credentials', 'is required: { clientId, clientSecret } of an M2M application authorised for the Auth0 Management API, or { token }');
  }
  const hasToken = 'token' in credentials;
  const hasSecret = 'clientId' in credentials || 'clientSecret' in credentials;
  if (hasToken && hasSecret) throw new IdentityConfigurationError('auth0.credentials', 'give either { clientId, clientSecret } or { token }, not both');
  if (hasToken) {
    if (!nonEmpty((credentials as Auth0StaticToken).token)) throw new IdentityConfigurationError('auth0.credentials.token', 'must be a non-empty Management API access token');
  } else {
    const { clientId, clientSecret } = credentials as Partial<Auth0ClientCredentials>;
    if (!nonEmpty(clientId)) throw new IdentityConfigurationError('auth0.credentials.clientId', 'is required: the client id of an M2M application authorised for the Auth0 Management API (Applications → APIs → Auth0 Management API)');
    if (!nonEmpty(clientSecret)) throw new IdentityConfigurationError('auth0.credentials.clientSecret', 'is required: the client secret of that M2M application');
  }

  if (!nonEmpty(audience)) {
    throw new IdentityConfigurationError('auth0.audience', 'is required: the identifier of the Auth0 API (Applications → APIs) service accounts get a client grant for, e.g. "https://api.example.com"');
  }

  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 100 || timeoutMs > 300_000) {
    throw new IdentityConfigurationError('auth0.timeoutMs', 'must be a number of milliseconds between 100 and 300000 (default 10000)');
  }
  if (typeof propagationSeconds !== 'number' || !Number.isFinite(propagationSeconds) || propagationSeconds < 0 || propagationSeconds > 86_400) {
    throw new IdentityConfigurationError('auth0.propagationSeconds', 'must be a number of seconds between 0 and 86400 (default 30, the delay Auth0 documents for rotated secrets)');
  }

  let origin: string | undefined;
  if (baseUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new IdentityConfigurationError('auth0.baseUrl', 'must be an absolute URL such as "http://127.0.0.1:4010" (it is for tests only; remove it in production)');
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
      throw new IdentityConfigurationError('auth0.baseUrl', 'must be https, or http on a loopback host (127.0.0.1, localhost); it is for tests only, remove it in production');
    }
    if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
      throw new IdentityConfigurationError('auth0.baseUrl', 'must be an origin only, such as "http://127.0.0.1:4010" (no path, query or credentials)');
    }
    origin = url.origin;
  }

  return { domain: domain.toLowerCase(), credentials, audience, timeoutMs, propagationSeconds, ...(origin ? { baseUrl: origin } : {}) };
}
