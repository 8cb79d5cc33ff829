import { describe, expect, it, vi } from 'vitest';
import { OutboundRequestError, safeFetch, type OutboundPolicy } from './safe-fetch.js';

// A trusted name whose DNS answer points at the cloud metadata service (rebinding, bad record).
vi.mock('node:dns/promises', () => ({
  lookup: vi.fn(async (host: string) => {
    if (host === 'auth.example.com') return [{ address: '169.254.169.254', family: 4 }];
    if (host === 'v6.example.com') return [{ address: '2001:db8::1', family: 6 }, { address: 'fe80::1', family: 6 }];
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  }),
}));

const policy: OutboundPolicy = { timeoutMs: 1000, maxBytes: 1024, allowInsecureHttp: false, allowedHosts: ['v6.example.com', 'missing.example.com'], issuerHost: 'auth.example.com' };

async function failure(url: string): Promise<OutboundRequestError> {
  const error = await safeFetch(url, {}, policy, 'metadata').then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OutboundRequestError);
  return error as OutboundRequestError;
}

describe('safeFetch DNS check', () => {
  it('refuses a name that resolves to a link-local or metadata address', async () => {
    expect((await failure('https://auth.example.com/.well-known/s3db-identity.json')).reason).toMatch(/resolves to a link-local/);
    expect((await failure('https://v6.example.com/jwks')).kind).toBe('policy');
  });

  it('reports an unknown name as a network error', async () => {
    expect((await failure('https://missing.example.com/jwks')).reason).toBe('network error (ENOTFOUND)');
  });
});
