import type { TokenEndpointAuthMethod } from '../identity-options.js';
import { OutboundRequestError, safeFetch, type OutboundPolicy } from '../metadata/safe-fetch.js';

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
  /** How the token endpoint authenticates the client. */
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
}

export interface TokenRequest {
  scopes?: readonly string[];
  /** Sent as RFC 8707 `resource` and as `audience` (Auth0's name for it). */
  audience?: string;
}

export interface TokenResponse {
  accessToken: string;
  /** Seconds, when the endpoint said (`expires_in`). */
  expiresIn?: number;
  scope?: string;
}

/** Token endpoint errors that mean "these credentials (or their scopes) are not accepted". */
const CREDENTIAL_ERRORS = new Set(['invalid_client', 'unauthorized_client', 'invalid_scope']);

/**
 * A token request failed. `oauthError` is the endpoint's `error` code (`invalid_client`, ...);
 * the message never holds the secret, the token or the endpoint's free text.
 */
export class TokenRequestError extends Error {
  /** Written to hold no secret, token or response body (see errors/safe-message.ts). */
  readonly safeMessage = true as const;
  override readonly name = 'TokenRequestError';
  constructor(
    readonly clientId: string,
    readonly reason: string,
    readonly oauthError?: string,
    readonly status?: number,
  ) {
    super(`client_credentials token request for client "${clientId}" failed: ${reason}`);
  }

  /** The provider refused the credentials or their scopes, as opposed to being unreachable. */
  get rejectsCredentials(): boolean {
    return this.oauthError !== undefined && CREDENTIAL_ERRORS.has(this.oauthError);
  }
}

/** Only a well-formed OAuth error code is repeated; anything else could be arbitrary text. */
export function errorCode(value: unknown): string | undefined {
  return typeof value === 'string' && /^[a-z_]{1,64}$/.test(value) ? value : undefined;
}

/** One `grant_type=client_credentials` request (RFC 6749 §4.4), authenticated by the client's method. */
export async function requestClientCredentialsToken(tokenUrl: string, client: ClientCredentials, request: TokenRequest, policy: OutboundPolicy): Promise<TokenResponse> {
  const body = new URLSearchParams({ grant_type: 'client_credentials' });
  if (request.scopes?.length) body.set('scope', request.scopes.join(' '));
  if (request.audience) {
    body.set('resource', request.audience);
    body.set('audience', request.audience);
  }
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (client.tokenEndpointAuthMethod === 'client_secret_basic') {
    // RFC 6749 §2.3.1: each part form-encoded before base64.
    const pair = `${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`;
    headers['authorization'] = `Basic ${Buffer.from(pair).toString('base64')}`;
  } else {
    body.set('client_id', client.clientId);
    body.set('client_secret', client.clientSecret);
  }
  let json: Record<string, unknown>;
  let status: number;
  try {
    const response = await safeFetch(tokenUrl, { method: 'POST', headers, body, allowErrorStatus: true }, policy, 'token endpoint');
    status = response.status;
    json = response.json();
  } catch (error) {
    const reason = error instanceof OutboundRequestError ? error.message : 'unexpected error';
    throw new TokenRequestError(client.clientId, reason);
  }
  if (status < 200 || status >= 300) {
    const code = errorCode(json.error);
    throw new TokenRequestError(client.clientId, `the token endpoint answered HTTP ${status}${code ? ` (${code})` : ''}`, code, status);
  }
  if (typeof json.access_token !== 'string' || json.access_token.length === 0) {
    throw new TokenRequestError(client.clientId, 'the token endpoint answered without an access_token', undefined, status);
  }
  const expiresIn = typeof json.expires_in === 'number' && Number.isFinite(json.expires_in) && json.expires_in > 0 ? json.expires_in : undefined;
  return { accessToken: json.access_token, expiresIn, scope: typeof json.scope === 'string' ? json.scope : undefined };
}
