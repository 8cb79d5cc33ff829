import { describe, expect, it } from 'vitest';
import { NotSupportedByProviderError } from '../errors/not-supported-by-provider.error.js';
import { ProviderRequestError } from './provider-request.error.js';
import { judgeRotation, type SecretProbeResult } from './rotation-check.js';
import type { RotatedServiceAccount } from './service-account-provider.js';

const record = { clientId: 'orders-worker', name: 'orders', scopes: [], createdAt: '2026-01-01T00:00:00.000Z' };
const rotated = (extra: Partial<RotatedServiceAccount>): RotatedServiceAccount => ({ record, clientSecret: 'new-secret', ...extra });

function probeAnswering(answer: SecretProbeResult) {
  const tried: string[] = [];
  const probe = async (secret: string) => {
    tried.push(secret);
    return answer;
  };
  return { probe, tried };
}

describe('judgeRotation', () => {
  it('confirms a rotation only when the old secret is refused at the token endpoint', async () => {
    const { probe, tried } = probeAnswering('refused');
    await expect(judgeRotation(rotated({ previousSecret: 'old-secret' }), probe)).resolves.toEqual({ previousSecret: 'refused' });
    expect(tried).toEqual(['old-secret']);
  });

  it('answers 501 naming what the provider did when it kept the secret, without probing', async () => {
    const { probe, tried } = probeAnswering('refused');
    const error = await judgeRotation(rotated({ clientSecret: 'same', previousSecret: 'same', via: 'RFC 7592 update' }), probe).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotSupportedByProviderError);
    expect((error as NotSupportedByProviderError).getStatus()).toBe(501);
    expect((error as Error).message).toContain('the provider kept the old client_secret on RFC 7592 update');
    expect(JSON.stringify((error as NotSupportedByProviderError).getResponse())).not.toContain('same"');
    expect(tried).toEqual([]);
  });

  it('answers 502 when a new secret was issued but the old one still gets tokens', async () => {
    const error = await judgeRotation(rotated({ previousSecret: 'old-secret' }), probeAnswering('accepted').probe, 'the keycloak provider').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderRequestError);
    expect((error as ProviderRequestError).getStatus()).toBe(502);
    expect((error as Error).message).toMatch(/the keycloak provider issued a new client_secret but still accepts the old one/);
    expect((error as Error).message).not.toContain('old-secret');
  });

  it('reports a documented grace window as valid-until, without probing', async () => {
    const { probe, tried } = probeAnswering('accepted');
    const until = new Date(Date.now() + 30_000);
    await expect(judgeRotation(rotated({ previousSecret: 'old', previousSecretValidUntil: until }), probe)).resolves.toEqual({ previousSecret: 'valid-until', previousSecretValidUntil: until.toISOString() });
    expect(tried).toEqual([]);
  });

  it('never calls a rotation it could not check a success', async () => {
    const unknownOld = await judgeRotation(rotated({}), probeAnswering('refused').probe);
    expect(unknownOld.previousSecret).toBe('unconfirmed');
    expect(unknownOld.reason).toMatch(/does not reveal the previous secret/);
    const unreachable = await judgeRotation(rotated({ previousSecret: 'old' }), probeAnswering('unknown').probe);
    expect(unreachable).toMatchObject({ previousSecret: 'unconfirmed', reason: expect.stringMatching(/token endpoint could not be asked/) });
  });
});
