import { Injectable, Logger } from '@nestjs/common';
import { IdentityConfigurationError } from '../errors/identity-configuration.error.js';
import { IdentityStatus } from '../health/identity-status.js';
import type { TokenEndpointAuthMethod } from '../identity-options.js';
import { IdentityMetadataService } from '../metadata/identity-metadata.service.js';
import { IdentityMetrics } from '../metrics/identity.metrics.js';
import { INVALID_CLIENT_FIX } from './client-credentials.error.js';
import { requestClientCredentialsToken, TokenRequestError, type ClientCredentials, type TokenRequest, type TokenResponse } from './token-request.js';

/** The outcome of the last `client_credentials` probe, kept for health and `doctor`. */
export interface ClientProbeResult {
  clientId: string;
  valid: boolean;
  at: Date;
  /** The token endpoint's error code when it refused (invalid_client, invalid_scope, ...). */
  oauthError?: string;
  /** Safe words on failure. */
  reason?: string;
}

/** Credentials plus, during a rotation's grace window or its recovery, the other secret to try once. */
export interface InstalledCredentials extends ClientCredentials {
  /**
   * The previous secret while the provider's grace window lasts (Keycloak/Okta), which also
   * covers a new secret that has not propagated yet (Auth0), or a rotation's pending secret.
   */
  otherSecret?: string;
}

interface CachedToken {
  token: string;
  refreshAt: number;
}

/** Refresh this long before expiry (at most), so a token never expires in flight. */
const MAX_EARLY_REFRESH_MS = 60_000;
const MAX_CACHED_TOKENS = 100;

function otherMethod(method: TokenEndpointAuthMethod): TokenEndpointAuthMethod {
  return method === 'client_secret_basic' ? 'client_secret_post' : 'client_secret_basic';
}

/** `exp` from a JWT access token, when the endpoint did not send `expires_in`. */
function jwtLifetimeSeconds(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp - Date.now() / 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The API's own confidential client: access tokens for calls to other services
 * (`getToken({ scopes, audience })`), cached until shortly before expiry, one request in flight
 * per audience and scope set. Also runs the boot probe. Credentials are set by the provisioning
 * step at boot (options, the credential store, or auto-provisioning).
 */
@Injectable()
export class ClientCredentialsService {
  private readonly logger = new Logger('IdentityClient');
  private credentials?: InstalledCredentials;
  /** The method came from options or the registration: never second-guessed. */
  private methodKnown = true;
  /** Re-reads stored credentials (another replica or the CLI may have rotated them). */
  private reload?: () => Promise<InstalledCredentials | undefined>;
  private readonly cache = new Map<string, CachedToken>();
  private readonly inFlight = new Map<string, Promise<string>>();
  /** Bumped on every credential change, so answers to requests made with old credentials are not cached. */
  private generation = 0;
  private probeResult?: ClientProbeResult;

  constructor(
    private readonly metadata: IdentityMetadataService,
    private readonly status: IdentityStatus,
    private readonly metrics: IdentityMetrics,
  ) {}

  /** The client id in use, or undefined when the API has no client. */
  get clientId(): string | undefined {
    return this.credentials?.clientId;
  }

  /** Installs credentials and drops every cached token. */
  use(credentials: InstalledCredentials, options: { methodKnown: boolean; reload?: () => Promise<InstalledCredentials | undefined> }): void {
    this.credentials = { ...credentials };
    this.methodKnown = options.methodKnown;
    this.reload = options.reload;
    this.generation += 1;
    this.cache.clear();
    this.inFlight.clear();
  }

  /** The last probe, for health and `doctor`. */
  lastProbe(): ClientProbeResult | undefined {
    return this.probeResult;
  }

  /**
   * An access token for an outbound call. Cached per audience and scope set; concurrent callers
   * share one request. Throws TokenRequestError (counted in identity_token_exchange_failures_total).
   */
  getToken(request: TokenRequest = {}): Promise<string> {
    const credentials = this.requireCredentials();
    const scopes = [...new Set(request.scopes ?? [])].sort();
    const key = JSON.stringify([request.audience ?? '', scopes]);
    const cached = this.cache.get(key);
    if (cached && Date.now() < cached.refreshAt) return Promise.resolve(cached.token);
    let pending = this.inFlight.get(key);
    if (!pending) {
      const generation = this.generation;
      pending = this.fetchToken(credentials, { scopes, audience: request.audience })
        .then((response) => {
          if (generation === this.generation) this.remember(key, response);
          return response.accessToken;
        })
        .finally(() => {
          if (this.inFlight.get(key) === pending) this.inFlight.delete(key);
        });
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  /**
   * A `client_credentials` request that proves the credentials work. When the auth method was
   * not configured or registered, the other method is tried once after `invalid_client` (upstream
   * s3db reads only client_secret_post although it advertises basic). The result and time are
   * recorded for the health indicator. Never throws for a refusal: the caller decides.
   */
  async probe(scopes?: readonly string[]): Promise<ClientProbeResult> {
    const credentials = this.requireCredentials();
    const methods = this.methodKnown ? [credentials.tokenEndpointAuthMethod] : [credentials.tokenEndpointAuthMethod, otherMethod(credentials.tokenEndpointAuthMethod)];
    let failure: TokenRequestError | undefined;
    for (const method of methods) {
      try {
        await this.request({ ...credentials, tokenEndpointAuthMethod: method }, { scopes });
        if (method !== credentials.tokenEndpointAuthMethod) {
          this.logger.log(`The token endpoint accepts ${method} for client "${credentials.clientId}"; using it`);
          this.use({ ...credentials, tokenEndpointAuthMethod: method }, { methodKnown: true, reload: this.reload });
        }
        return this.recordProbe({ clientId: credentials.clientId, valid: true, at: new Date() });
      } catch (error) {
        if (!(error instanceof TokenRequestError)) throw error;
        failure = error;
        if (error.oauthError !== 'invalid_client') break;
      }
    }
    this.metrics.tokenExchangeFailure();
    return this.recordProbe({ clientId: credentials.clientId, valid: false, at: new Date(), oauthError: failure!.oauthError, reason: failure!.message });
  }

  private recordProbe(result: ClientProbeResult): ClientProbeResult {
    this.probeResult = result;
    // Only a verdict on the credentials is recorded; an unreachable endpoint says nothing about them.
    if (result.valid) this.status.recordCredentialValidation(true, undefined, result.at);
    else if (result.oauthError) this.status.recordCredentialValidation(false, `client "${result.clientId}": ${result.oauthError}: ${INVALID_CLIENT_FIX}`, result.at);
    return result;
  }

  private async fetchToken(credentials: InstalledCredentials, request: TokenRequest): Promise<TokenResponse> {
    try {
      const response = await this.request(credentials, request);
      this.status.recordCredentialValidation(true);
      return response;
    } catch (error) {
      this.metrics.tokenExchangeFailure();
      if (!(error instanceof TokenRequestError) || error.oauthError !== 'invalid_client') throw error;
      // Rotated elsewhere (CLI, another replica)? Retry once with what the store now holds.
      const fresh = await this.reload?.().catch(() => undefined);
      if (fresh && fresh.clientSecret !== credentials.clientSecret) {
        this.use(fresh, { methodKnown: true, reload: this.reload });
        return this.fetchToken(fresh, request);
      }
      // Within a rotation: the other secret, once (a new secret still propagating, or the old one in its grace window).
      const other = (fresh ?? credentials).otherSecret;
      if (other && other !== credentials.clientSecret) {
        try {
          const response = await this.request({ ...credentials, clientSecret: other }, request);
          this.logger.warn(`Client "${credentials.clientId}": the current secret was refused and the other secret of the rotation was accepted`);
          this.status.recordCredentialValidation(true);
          return response;
        } catch (retryError) {
          this.metrics.tokenExchangeFailure();
          if (!(retryError instanceof TokenRequestError) || retryError.oauthError !== 'invalid_client') throw retryError;
        }
      }
      this.status.recordCredentialValidation(false, `client "${credentials.clientId}": invalid_client: ${INVALID_CLIENT_FIX}`);
      throw error;
    }
  }

  private request(credentials: ClientCredentials, request: TokenRequest): Promise<TokenResponse> {
    const metadata = this.metadata.get();
    if (!metadata.tokenUrl) {
      throw new IdentityConfigurationError('url', 'the Identity metadata names no token endpoint (tokenUrl / token_endpoint); the API cannot use client_credentials');
    }
    return requestClientCredentialsToken(metadata.tokenUrl, credentials, request, this.metadata.policy());
  }

  private remember(key: string, response: TokenResponse): void {
    const lifetimeMs = (response.expiresIn ?? jwtLifetimeSeconds(response.accessToken) ?? 0) * 1000;
    if (lifetimeMs <= 0) return;
    const refreshAt = Date.now() + lifetimeMs - Math.min(MAX_EARLY_REFRESH_MS, lifetimeMs * 0.1);
    this.cache.delete(key);
    this.cache.set(key, { token: response.accessToken, refreshAt });
    if (this.cache.size > MAX_CACHED_TOKENS) this.cache.delete(this.cache.keys().next().value!);
  }

  private requireCredentials(): ClientCredentials {
    if (!this.credentials) {
      throw new IdentityConfigurationError('client', 'the API has no client credentials: set client.clientId and client.clientSecret, or turn on autoProvision');
    }
    return this.credentials;
  }
}
