import { NotSupportedByProviderError } from '../errors/not-supported-by-provider.error.js';
import { ProviderRequestError } from './provider-request.error.js';
import type { RotatedServiceAccount } from './service-account-provider.js';

/** What one client_credentials request with a secret showed: `unknown` when the endpoint could not tell (down, no token endpoint). */
export type SecretProbeResult = 'accepted' | 'refused' | 'unknown';

/** Tries a secret once at the token endpoint. */
export type SecretProbe = (secret: string) => Promise<SecretProbeResult>;

/**
 * What a rotation did to the previous secret, as far as this module can tell:
 * - `refused`: the token endpoint refused it right after the rotation (confirmed);
 * - `valid-until`: the adapter documents a grace window; it works until `previousSecretValidUntil`;
 * - `unconfirmed`: a new secret was issued but we could not check that the old one died
 *   (the provider never revealed it, or the token endpoint could not be asked). Never reported as success.
 */
export interface RotationOutcome {
  previousSecret: 'refused' | 'valid-until' | 'unconfirmed';
  previousSecretValidUntil?: string;
  /** Why the outcome is unconfirmed. */
  reason?: string;
}

const OPERATION = 'Secret rotation';

/**
 * Judges a rotation honestly. Throws 501 when the provider kept the old secret (RFC 7592 lets a
 * server do that, and stock oidc-provider and Keycloak's registration API always do), 502 when
 * it issued a new one yet still accepts the old one without a documented grace window.
 */
export async function judgeRotation(rotated: RotatedServiceAccount, probe: SecretProbe, provider = 'the provider'): Promise<RotationOutcome> {
  const { clientSecret, previousSecret, previousSecretValidUntil } = rotated;
  if (previousSecret !== undefined && previousSecret === clientSecret) {
    const how = rotated.via ? ` on ${rotated.via}` : ' (it answered the rotation with the secret already in force)';
    throw new NotSupportedByProviderError(OPERATION, `${provider} kept the old client_secret${how}; rotate it in the provider's console, or use an adapter for its admin API (nestjs-identity/keycloak, /auth0, /okta)`);
  }
  if (previousSecretValidUntil) {
    return { previousSecret: 'valid-until', previousSecretValidUntil: previousSecretValidUntil.toISOString() };
  }
  if (previousSecret === undefined) {
    return { previousSecret: 'unconfirmed', reason: `${provider} does not reveal the previous secret, so whether it still works could not be checked` };
  }
  const result = await probe(previousSecret);
  if (result === 'refused') return { previousSecret: 'refused' };
  if (result === 'accepted') {
    throw new ProviderRequestError(OPERATION, `${provider} issued a new client_secret but still accepts the old one at the token endpoint (no documented grace window); the account keeps its old secret, try again or rotate in the provider's console`);
  }
  return { previousSecret: 'unconfirmed', reason: 'the token endpoint could not be asked whether the old secret still works' };
}
