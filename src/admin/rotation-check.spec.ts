import { describe, expect, it } from 'vitest';
import { NotSupportedByProviderError } from '../errors/not-supported-by-provider.error.js';
import { judgeRotation, rotationConfirmed, type SecretProbeResult } from './rotation-check.js';
import type { RotatedServiceAccount } from './service-account-provider.js';

const record = { clientId: 'orders-worker', name: 'orders', scopes: [], createdAt: '2026-01-01T00:00:00.000Z' };
const rotated = (extra: Partial<RotatedServiceAccount>): RotatedServiceAccount => ({ record, clientSecret: 'new-secret', ...extra });
const NO_WAIT = [0, 0, 0];

/** A token endpoint that answers per secret, and remembers what it was asked. */
function endpoint(answers: Record<string, SecretProbeResult>) {
  const tried: string[] = [];
  const probe = async (secret: string) => {
    tried.push(secret);
    return answers[secret] ?? 'refused';
  };
  return { probe, tried };
}

describe('judgeRotation', () => {
  it('confirms a rotation only when the old secret is refused and the new one accepted', async () => {
    const { probe, tried } = endpoint({ 'old-secret': 'refused', 'new-secret': 'accepted' });
    const outcome = await judgeRotation(rotated({ previousSecret: 'old-secret' }), probe, 'the provider', NO_WAIT);
    expect(outcome).toEqual({ previousSecret: 'refused' });
    expect(rotationConfirmed(outcome)).toBe(true);
    expect(tried).toEqual(['old-secret', 'new-secret']);
  });

  it('answers 501 naming what the provider did when it kept the secret, without probing', async () => {
    const { probe, tried } = endpoint({});
    const error = await judgeRotation(rotated({ clientSecret: 'same', previousSecret: 'same', via: 'RFC 7592 update' }), probe).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotSupportedByProviderError);
    expect((error as NotSupportedByProviderError).getStatus()).toBe(501);
    expect((error as Error).message).toContain('the provider kept the old client_secret on RFC 7592 update');
    expect(JSON.stringify((error as NotSupportedByProviderError).getResponse())).not.toContain('same"');
    expect(tried).toEqual([]);
  });

  it('reports an old secret that is still accepted after several tries as still-accepted (never a success), keeping the new secret', async () => {
    const { probe, tried } = endpoint({ 'old-secret': 'accepted', 'new-secret': 'accepted' });
    const outcome = await judgeRotation(rotated({ previousSecret: 'old-secret' }), probe, 'the keycloak provider', NO_WAIT);
    expect(outcome.previousSecret).toBe('still-accepted');
    expect(outcome.reason).toMatch(/the keycloak provider issued a new client_secret but still accepted the old one 3 times/);
    expect(outcome.reason).not.toContain('old-secret');
    expect(rotationConfirmed(outcome)).toBe(false);
    expect(tried).toEqual(['old-secret', 'old-secret', 'old-secret']);
  });

  it('counts an old secret retired on the second try as refused', async () => {
    let calls = 0;
    const probe = async (secret: string): Promise<SecretProbeResult> => (secret === 'old-secret' ? (calls++ === 0 ? 'accepted' : 'refused') : 'accepted');
    expect(await judgeRotation(rotated({ previousSecret: 'old-secret' }), probe, 'the provider', NO_WAIT)).toEqual({ previousSecret: 'refused' });
  });

  it('reports a documented grace window as valid-until, without probing', async () => {
    const { probe, tried } = endpoint({});
    const until = new Date(Date.now() + 30_000);
    const outcome = await judgeRotation(rotated({ previousSecret: 'old', previousSecretValidUntil: until }), probe);
    expect(outcome).toEqual({ previousSecret: 'valid-until', previousSecretValidUntil: until.toISOString() });
    expect(rotationConfirmed(outcome)).toBe(true);
    expect(tried).toEqual([]);
  });

  it('never calls a rotation it could not check a success', async () => {
    const unknownOld = await judgeRotation(rotated({}), endpoint({}).probe, 'the provider', NO_WAIT);
    expect(unknownOld).toMatchObject({ previousSecret: 'unconfirmed', reason: expect.stringMatching(/does not reveal the previous secret/) });
    const unreachable = await judgeRotation(rotated({ previousSecret: 'old' }), endpoint({ old: 'unknown' }).probe, 'the provider', NO_WAIT);
    expect(unreachable).toMatchObject({ previousSecret: 'unconfirmed', reason: expect.stringMatching(/token endpoint could not be asked/) });
    // An endpoint that refuses this client whatever the secret proves nothing about the old one.
    const refusesAll = await judgeRotation(rotated({ previousSecret: 'old' }), endpoint({}).probe, 'the provider', NO_WAIT);
    expect(refusesAll).toMatchObject({ previousSecret: 'unconfirmed', reason: expect.stringMatching(/did not accept the new one either/) });
    for (const outcome of [unknownOld, unreachable, refusesAll]) expect(rotationConfirmed(outcome)).toBe(false);
  });
});
