import { NotSupportedByProviderError } from '../errors/not-supported-by-provider.error.js';
import type { RotatedServiceAccount, ServiceAccountProvider } from './service-account-provider.js';

/** What one client_credentials request with a secret showed: `unknown` when the endpoint could not tell (down, no token endpoint). */
export type SecretProbeResult = 'accepted' | 'refused' | 'unknown';

/** Tries a secret once at the token endpoint. */
export type SecretProbe = (secret: string) => Promise<SecretProbeResult>;

/**
 * What a rotation did to the previous secret, as far as this module can tell:
 * - `refused`: right after the rotation the token endpoint refused the old secret and accepted the
 *   new one (confirmed: the only outcome reported as a success without a window);
 * - `valid-until`: the adapter documents a grace window; the old secret works until `previousSecretValidUntil`;
 * - `still-accepted`: a new secret was issued, but the old one was still accepted after several
 *   tries and no grace window is documented: the provider misbehaves, the leak (if any) is not closed;
 * - `unconfirmed`: a new secret was issued but whether the old one died could not be checked (the
 *   provider never revealed it, the token endpoint could not be asked, or it refused the new one too).
 * `still-accepted` and `unconfirmed` are never reported as a success (audit `unconfirmed`, CLI exit
 * 3); the new secret is still handed out, since the provider now holds it and may retire the old one.
 */
export interface RotationOutcome {
  previousSecret: 'refused' | 'valid-until' | 'still-accepted' | 'unconfirmed';
  previousSecretValidUntil?: string;
  /** Why the outcome is not a confirmation. */
  reason?: string;
}

const OPERATION = 'Secret rotation';
/** Providers may take a moment to retire a secret everywhere: the old one is tried this many times before it counts as still accepted. */
const OLD_SECRET_TRIES_MS = [0, 500, 1500];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Judges a rotation honestly. Throws 501 when the provider kept the old secret (RFC 7592 lets a
 * server do that, and stock oidc-provider and Keycloak's registration API always do): then nothing
 * changed. Otherwise the provider holds a new secret, which is never thrown away; the outcome says
 * what became of the old one.
 */
export async function judgeRotation(rotated: RotatedServiceAccount, probe: SecretProbe, provider = 'the provider', delays: readonly number[] = OLD_SECRET_TRIES_MS): Promise<RotationOutcome> {
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
  let old: SecretProbeResult = 'unknown';
  for (const delay of delays) {
    if (delay > 0) await sleep(delay);
    old = await probe(previousSecret);
    if (old !== 'accepted') break;
  }
  if (old === 'unknown') return { previousSecret: 'unconfirmed', reason: 'the token endpoint could not be asked whether the old secret still works' };
  if (old === 'accepted') {
    return {
      previousSecret: 'still-accepted',
      reason: `${provider} issued a new client_secret but still accepted the old one ${delays.length} times over ${Math.round(delays.reduce((a, b) => a + b, 0) / 100) / 10} s, with no documented grace window: retire the old secret in the provider's console`,
    };
  }
  // The old one is refused: make sure that is not because the endpoint refuses this client altogether.
  const fresh = await probe(clientSecret);
  if (fresh === 'accepted') return { previousSecret: 'refused' };
  return { previousSecret: 'unconfirmed', reason: 'the token endpoint refused the old secret but did not accept the new one either (is it the endpoint this client uses?)' };
}

/** Whether an outcome is a confirmed success (a refused old secret, or a documented grace window). */
export function rotationConfirmed(outcome: RotationOutcome): boolean {
  return outcome.previousSecret === 'refused' || outcome.previousSecret === 'valid-until';
}

/** How messages name the provider: "the keycloak provider", or "the provider" for RFC 7592 and custom ports. */
export function providerLabel(provider: Pick<ServiceAccountProvider, 'kind'>): string {
  return provider.kind === undefined || provider.kind === 'rfc7592' ? 'the provider' : `the ${provider.kind} provider`;
}
