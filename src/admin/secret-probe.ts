import { requestClientCredentialsToken, TokenRequestError } from '../client/token-request.js';
import type { TokenEndpointAuthMethod } from '../identity-options.js';
import type { OutboundPolicy } from '../metadata/safe-fetch.js';
import type { IdentityMetadataService } from '../metadata/identity-metadata.service.js';
import type { SecretProbe } from './rotation-check.js';
import type { ServiceAccountProvider } from './service-account-provider.js';

export interface SecretProbeTarget {
  clientId: string;
  tokenEndpointAuthMethod?: string;
  /** Sent as `audience`/`resource` (Auth0 refuses client_credentials without one). */
  audience?: string;
}

/**
 * A SecretProbe that sends one client_credentials request (no scope) to `tokenUrl`. Only
 * `invalid_client`, or a 401 that is bare or `access_denied` (Auth0's answer to a wrong secret),
 * counts as "refused": `invalid_scope`, a 403 `access_denied` and the like mean the secret itself
 * was accepted; a transport failure is `unknown`.
 */
export function tokenEndpointProbe(tokenUrl: string | undefined, target: SecretProbeTarget, policy: OutboundPolicy): SecretProbe {
  return async (secret) => {
    if (!tokenUrl) return 'unknown';
    const method: TokenEndpointAuthMethod = target.tokenEndpointAuthMethod === 'client_secret_basic' ? 'client_secret_basic' : 'client_secret_post';
    try {
      await requestClientCredentialsToken(tokenUrl, { clientId: target.clientId, clientSecret: secret, tokenEndpointAuthMethod: method }, { audience: target.audience }, policy);
      return 'accepted';
    } catch (error) {
      if (!(error instanceof TokenRequestError)) return 'unknown';
      if (error.oauthError === 'invalid_client') return 'refused';
      // Auth0 answers a wrong or unknown secret 401 access_denied (a missing grant is 403 access_denied).
      if (error.status === 401 && (error.oauthError === undefined || error.oauthError === 'access_denied')) return 'refused';
      // The client authenticated but may not use this grant or audience: the secret itself worked.
      if (error.oauthError === 'unauthorized_client' || error.oauthError === 'invalid_scope' || error.oauthError === 'invalid_target' || error.oauthError === 'access_denied') return 'accepted';
      return 'unknown';
    }
  };
}

/** The probe a rotation is judged with: at the adapter's own token endpoint, else the issuer's. */
export function secretProbeFor(provider: ServiceAccountProvider, metadata: IdentityMetadataService, target: SecretProbeTarget): SecretProbe {
  return tokenEndpointProbe(provider.tokenUrl ?? metadata.current()?.tokenUrl, target, metadata.policy());
}
