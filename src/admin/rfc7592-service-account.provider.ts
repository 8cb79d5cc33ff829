import type { HttpException } from '@nestjs/common';
import { IdentityConfigurationError } from '../errors/identity-configuration.error.js';
import { NotSupportedByProviderError } from '../errors/not-supported-by-provider.error.js';
import type { ResolvedIdentityOptions, TokenEndpointAuthMethod } from '../identity-options.js';
import type { IdentityMetadata } from '../metadata/identity-metadata.js';
import type { IdentityMetadataService } from '../metadata/identity-metadata.service.js';
import { OutboundRequestError, safeFetch } from '../metadata/safe-fetch.js';
import { providerFailure } from './provider-failure.js';
import { describeOAuthError, ProviderRequestError } from './provider-request.error.js';
import { isClientId } from './service-account-input.js';
import type { CreateServiceAccountInput, IssuedServiceAccount, RotatedServiceAccount, ServiceAccountProvider, ServiceAccountRecord } from './service-account-provider.js';

type Json = Record<string, unknown>;

/** Members RFC 7592 §2.2 forbids in an update request (the server manages them). */
const SERVER_MANAGED = ['registration_access_token', 'registration_client_uri', 'client_secret', 'client_secret_expires_at', 'client_id_issued_at'];

const NO_RFC7592 =
  'the provider returned no registration_client_uri / registration_access_token at registration (no RFC 7592 client management, as with upstream s3db); ' +
  "do it in the provider's admin console, or plug in a ServiceAccountProvider for its admin API";

/**
 * The standard ServiceAccountProvider: RFC 7591 dynamic registration creates a
 * `client_credentials` client; RFC 7592 (`registration_client_uri` + `registration_access_token`)
 * reads, updates and deletes it. Without RFC 7592 every operation but create answers
 * NotSupportedByProviderError (501).
 *
 * Rotation is an RFC 7592 PUT, and RFC 7592 §2.2 lets the server keep the secret on update: stock
 * oidc-provider and Keycloak's registration API always do, so against them the rotation is judged
 * "not supported" (501). The secret in force is read first (the GET answers it) so that the
 * caller can tell a kept secret from a new one and check that the old one died.
 */
export class Rfc7592ServiceAccountProvider implements ServiceAccountProvider {
  readonly kind = 'rfc7592';

  constructor(
    private readonly metadata: IdentityMetadataService,
    private readonly options: ResolvedIdentityOptions,
  ) {}

  async create(input: CreateServiceAccountInput): Promise<IssuedServiceAccount> {
    const metadata = this.metadata.get();
    const url = metadata.clientRegistration?.url;
    if (!url) throw new NotSupportedByProviderError('Client registration', 'the metadata names no registration endpoint (clientRegistration.url / registration_endpoint)');
    const method = this.authMethod(metadata);
    const redirectUri = this.redirectUri(metadata);
    const request: Json = {
      client_name: input.name,
      grant_types: ['client_credentials'],
      // Without this, providers default to ["code"], which needs the authorization_code grant.
      response_types: [],
      token_endpoint_auth_method: method,
      ...(input.scopes.length ? { scope: input.scopes.join(' ') } : {}),
      ...(input.audience ? { audience: input.audience } : {}),
      ...(redirectUri ? { redirect_uris: [redirectUri] } : {}),
    };
    const { status, body } = await this.call('Client registration', url, { method: 'POST', json: request });
    if (status !== 201 && status !== 200) throw new ProviderRequestError('Client registration', describeOAuthError(status, body));
    const clientId = body.client_id;
    if (!isClientId(clientId)) throw new ProviderRequestError('Client registration', 'the provider answered without a client_id this module can store safely');
    const clientSecret = body.client_secret;
    if (typeof clientSecret !== 'string' || clientSecret.length === 0) {
      throw new ProviderRequestError('Client registration', 'the provider issued no client_secret (a confidential client is required)');
    }
    const now = new Date().toISOString();
    const record: ServiceAccountRecord = {
      clientId,
      name: input.name,
      scopes: typeof body.scope === 'string' ? body.scope.split(' ').filter(Boolean) : [...input.scopes],
      audience: input.audience,
      createdAt: now,
      tokenEndpointAuthMethod: registeredMethod(body, method),
      ...management(body),
    };
    return { record, clientSecret };
  }

  async rotate(record: ServiceAccountRecord): Promise<RotatedServiceAccount> {
    const { uri, token } = this.management('Secret rotation', record);
    const current = await this.call('Secret rotation', uri, { method: 'GET', token });
    if (current.status !== 200) throw this.gone('Secret rotation', record, current.status, current.body);
    const previousSecret = typeof current.body.client_secret === 'string' && current.body.client_secret.length > 0 ? current.body.client_secret : undefined;
    const update: Json = Object.fromEntries(Object.entries(current.body).filter(([key]) => !SERVER_MANAGED.includes(key)));
    update.client_id = record.clientId;
    const updated = await this.call('Secret rotation', uri, { method: 'PUT', token, json: update });
    if (updated.status !== 200) throw this.gone('Secret rotation', record, updated.status, updated.body);
    // No client_secret in the answer means the old one stands (RFC 7592 §3); the caller judges a kept secret as 501.
    const issued = typeof updated.body.client_secret === 'string' && updated.body.client_secret.length > 0 ? updated.body.client_secret : previousSecret;
    if (issued === undefined) throw new NotSupportedByProviderError('Secret rotation', 'the provider kept the old client_secret on RFC 7592 update (it issued no new one)');
    const clientSecret = issued;
    const rotated: ServiceAccountRecord = {
      ...record,
      rotatedAt: new Date().toISOString(),
      tokenEndpointAuthMethod: registeredMethod(updated.body, record.tokenEndpointAuthMethod),
      // oidc-provider (and RFC 7592 §3) may rotate the registration access token too.
      registrationAccessToken: typeof updated.body.registration_access_token === 'string' ? updated.body.registration_access_token : token,
      registrationClientUri: typeof updated.body.registration_client_uri === 'string' ? updated.body.registration_client_uri : uri,
    };
    return { record: rotated, clientSecret, previousSecret, via: 'RFC 7592 update' };
  }

  async get(record: ServiceAccountRecord): Promise<ServiceAccountRecord | undefined> {
    const { uri, token } = this.management('Reading a client', record);
    const { status, body } = await this.call('Reading a client', uri, { method: 'GET', token });
    // RFC 7592 §2: an unknown client is answered 401 (the token died with it).
    if (status === 401 || status === 403 || status === 404) return undefined;
    if (status !== 200) throw new ProviderRequestError('Reading a client', describeOAuthError(status, body));
    return {
      ...record,
      name: typeof body.client_name === 'string' ? body.client_name : record.name,
      scopes: typeof body.scope === 'string' ? body.scope.split(' ').filter(Boolean) : record.scopes,
    };
  }

  async delete(record: ServiceAccountRecord): Promise<void> {
    const { uri, token } = this.management('Deleting a client', record);
    const { status, body } = await this.call('Deleting a client', uri, { method: 'DELETE', token });
    // Already gone at the provider is the outcome we want.
    if (status === 204 || status === 200 || status === 401 || status === 404) return;
    throw new ProviderRequestError('Deleting a client', describeOAuthError(status, body));
  }

  /** client_secret_post unless configured: upstream s3db reads only the body, and most providers take both. */
  private authMethod(metadata: IdentityMetadata): TokenEndpointAuthMethod {
    if (this.options.client?.tokenEndpointAuthMethod) return this.options.client.tokenEndpointAuthMethod;
    const supported = metadata.clientRegistration?.supportedAuth ?? [];
    return supported.length > 0 && !supported.includes('client_secret_post') && supported.includes('client_secret_basic') ? 'client_secret_basic' : 'client_secret_post';
  }

  private redirectUri(metadata: IdentityMetadata): string | undefined {
    const configured = this.options.client?.redirectUri;
    if (!configured && metadata.source === 's3db') {
      throw new IdentityConfigurationError(
        'client.redirectUri',
        'is required to register clients with this provider (upstream s3db rejects registrations without redirect_uris); set it to a URL of this API such as "https://api.example.com/auth/callback"',
      );
    }
    return configured;
  }

  private management(operation: string, record: ServiceAccountRecord): { uri: string; token: string } {
    if (!record.registrationClientUri || !record.registrationAccessToken) throw new NotSupportedByProviderError(operation, NO_RFC7592);
    return { uri: record.registrationClientUri, token: record.registrationAccessToken };
  }

  private gone(operation: string, record: ServiceAccountRecord, status: number, body: Json): HttpException {
    // RFC 7592 §2: a client that no longer exists (or whose registration token died) is answered 401.
    if (status === 401 || status === 403 || status === 404) return providerFailure(operation, { status: 404, target: record.clientId });
    if (status === 429) return providerFailure(operation, { status });
    return new ProviderRequestError(operation, describeOAuthError(status, body));
  }

  /** One JSON exchange through the safe fetch. Error statuses are returned; transport failures become 502. */
  private async call(operation: string, url: string, init: { method: string; token?: string; json?: Json }): Promise<{ status: number; body: Json }> {
    const headers: Record<string, string> = {};
    if (init.token) headers['authorization'] = `Bearer ${init.token}`;
    if (init.json) headers['content-type'] = 'application/json';
    try {
      const response = await safeFetch(url, { method: init.method, headers, body: init.json ? JSON.stringify(init.json) : undefined, allowErrorStatus: true }, this.metadata.policy(), operation);
      if (response.text.length === 0) return { status: response.status, body: {} };
      // Error answers may not be JSON; their status still says enough.
      const ok = response.status >= 200 && response.status < 300;
      return { status: response.status, body: ok ? response.json() : safeJson(response.text) };
    } catch (error) {
      if (error instanceof OutboundRequestError) throw error.kind === 'timeout' ? providerFailure(operation, { timedOut: true }) : new ProviderRequestError(operation, error.message);
      throw error;
    }
  }
}

function safeJson(text: string): Json {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {};
  } catch {
    return {};
  }
}

function registeredMethod(body: Json, fallback: string | undefined): TokenEndpointAuthMethod {
  const method = body.token_endpoint_auth_method ?? fallback;
  if (method === 'client_secret_basic' || method === 'client_secret_post') return method;
  throw new ProviderRequestError('Client registration', `the provider registered token_endpoint_auth_method "${String(method).slice(0, 40)}"; only client_secret_basic and client_secret_post are supported`);
}

/** The RFC 7592 handle, only when the provider gave both halves. */
function management(body: Json): Pick<ServiceAccountRecord, 'registrationClientUri' | 'registrationAccessToken'> {
  const uri = body.registration_client_uri;
  const token = body.registration_access_token;
  return typeof uri === 'string' && typeof token === 'string' && uri && token ? { registrationClientUri: uri, registrationAccessToken: token } : {};
}
