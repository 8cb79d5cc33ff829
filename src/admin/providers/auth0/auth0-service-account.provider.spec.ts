import { HttpException } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { IdentityConfigurationError } from '../../../errors/identity-configuration.error.js';
import { auth0Failure, auth0RetryAfterSeconds } from './auth0-failure.js';
import type { Auth0ServiceAccountProviderOptions } from './auth0-options.js';
import { Auth0ServiceAccountProvider } from './auth0-service-account.provider.js';

const VALID: Auth0ServiceAccountProviderOptions = {
  domain: 'tenant.eu.auth0.com',
  credentials: { clientId: 'mgmt-client', clientSecret: 'mgmt-secret' },
  audience: 'https://orders.example.com',
};

function configError(options: unknown): IdentityConfigurationError {
  try {
    new Auth0ServiceAccountProvider(options as Auth0ServiceAccountProviderOptions);
  } catch (error) {
    if (error instanceof IdentityConfigurationError) return error;
    throw error;
  }
  throw new Error('expected an IdentityConfigurationError');
}

/** An unsigned JWT-shaped token carrying `scope` (the adapter decodes, never verifies, it). */
function tokenWithScopes(scopes: string[]): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part({ iss: 'https://tenant.eu.auth0.com/', scope: scopes.join(' '), gty: 'client-credentials' })}.sig`;
}

describe('Auth0ServiceAccountProvider options', () => {
  it('accepts client credentials or a token', () => {
    expect(new Auth0ServiceAccountProvider(VALID).kind).toBe('auth0');
    expect(new Auth0ServiceAccountProvider({ ...VALID, credentials: { token: 'a.b.c' } }).kind).toBe('auth0');
  });

  it.each([
    ['no options', undefined, 'auth0', /domain, credentials, audience/],
    ['no domain', { ...VALID, domain: '' }, 'auth0.domain', /your-tenant/],
    ['a domain with scheme', { ...VALID, domain: 'https://tenant.eu.auth0.com/' }, 'auth0.domain', /without scheme/],
    ['a domain with a path', { ...VALID, domain: 'tenant.eu.auth0.com/api' }, 'auth0.domain', /host name/],
    ['no credentials', { ...VALID, credentials: undefined }, 'auth0.credentials', /clientId, clientSecret/],
    ['both secret and token', { ...VALID, credentials: { clientId: 'a', clientSecret: 'b', token: 'c' } }, 'auth0.credentials', /not both/],
    ['no client secret', { ...VALID, credentials: { clientId: 'a' } }, 'auth0.credentials.clientSecret', /required/],
    ['no client id', { ...VALID, credentials: { clientSecret: 'b' } }, 'auth0.credentials.clientId', /Management API/],
    ['an empty token', { ...VALID, credentials: { token: ' ' } }, 'auth0.credentials.token', /non-empty/],
    ['no audience', { ...VALID, audience: '' }, 'auth0.audience', /API/],
    ['a zero timeout', { ...VALID, timeoutMs: 0 }, 'auth0.timeoutMs', /milliseconds/],
    ['a negative propagation', { ...VALID, propagationSeconds: -1 }, 'auth0.propagationSeconds', /seconds/],
    ['a plain-http non-loopback baseUrl', { ...VALID, baseUrl: 'http://auth0.example.com' }, 'auth0.baseUrl', /loopback/],
    ['a baseUrl with a path', { ...VALID, baseUrl: 'http://127.0.0.1:4000/api/v2' }, 'auth0.baseUrl', /origin only/],
  ])('refuses %s, naming the option and the fix', (_case, options, option, fix) => {
    const error = configError(options);
    expect(error.option).toBe(option);
    expect(error.message).toContain(`option "${option}"`);
    expect(error.message).toMatch(fix);
  });

  it('never repeats the secret or token in an options error', () => {
    expect(configError({ ...VALID, credentials: { clientId: 'a', clientSecret: 'super-secret', token: 'tok-123' } }).message).not.toMatch(/super-secret|tok-123/);
  });
});

describe('Auth0ServiceAccountProvider SDK loading', () => {
  it('says "npm install auth0" when the optional peer dependency is missing (loaded lazily, on first use)', async () => {
    let loads = 0;
    const missing = Object.assign(new Error("Cannot find package 'auth0'"), { code: 'ERR_MODULE_NOT_FOUND' });
    const provider = new Auth0ServiceAccountProvider(VALID, {
      loadSdk: async () => {
        loads += 1;
        throw missing;
      },
    });
    expect(loads).toBe(0);
    const error = await provider.create({ name: 'svc', scopes: [] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdentityConfigurationError);
    expect((error as Error).message).toContain('npm install auth0');
    expect(loads).toBe(1);
  });

  it('refuses a module that is not auth0 v7', async () => {
    const provider = new Auth0ServiceAccountProvider(VALID, { loadSdk: async () => ({ ManagementClient: undefined }) });
    const error = await provider.list().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdentityConfigurationError);
    expect((error as Error).message).toContain('auth0@^7');
  });
});

describe('Auth0ServiceAccountProvider.checkPermissions', () => {
  const ALL = ['create:clients', 'read:clients', 'delete:clients', 'read:client_keys', 'update:client_keys', 'create:client_grants', 'read:client_grants'];

  it('names a missing update:client_keys and what it is needed for', async () => {
    const provider = new Auth0ServiceAccountProvider({ ...VALID, credentials: { token: tokenWithScopes(ALL.filter((s) => s !== 'update:client_keys')) } });
    expect(await provider.checkPermissions()).toEqual([{ permission: 'update:client_keys', neededFor: expect.stringMatching(/rotating secrets/) }]);
  });

  it('reports nothing when every scope is granted', async () => {
    const provider = new Auth0ServiceAccountProvider({ ...VALID, credentials: { token: tokenWithScopes([...ALL, 'read:users']) } });
    expect(await provider.checkPermissions()).toEqual([]);
  });

  it('answers 502 when the token is not a JWT (its scopes cannot be read)', async () => {
    const provider = new Auth0ServiceAccountProvider({ ...VALID, credentials: { token: 'opaque-token' } });
    const error = (await provider.checkPermissions().catch((e: unknown) => e)) as HttpException;
    expect(error.getStatus()).toBe(502);
    expect(error.message).not.toContain('opaque-token');
  });
});

describe('auth0Failure (SDK errors → providerFailure)', () => {
  const headers = (values: Record<string, string>) => new Headers(values);

  it('treats the SDK timeout shapes as 504: ManagementTimeoutError, a status-less error caused by "timeout", a 408 from the token request', () => {
    expect(auth0Failure('Op', { name: 'ManagementTimeoutError' }).getStatus()).toBe(504);
    expect(auth0Failure('Op', { name: 'ManagementError', cause: 'timeout' }).getStatus()).toBe(504);
    expect(auth0Failure('Op', { name: 'ManagementError', statusCode: 408 }).getStatus()).toBe(504);
  });

  it('429 → 503 with Retry-After, else from x-ratelimit-reset', () => {
    const now = Date.now();
    expect(auth0RetryAfterSeconds(headers({ 'retry-after': '7' }), now)).toBe(7);
    expect(auth0RetryAfterSeconds(headers({ 'x-ratelimit-reset': String(Math.floor(now / 1000) + 12) }), now)).toBeGreaterThanOrEqual(11);
    const error = auth0Failure('Op', { statusCode: 429, rawResponse: { headers: headers({ 'x-ratelimit-reset': String(Math.floor(now / 1000) + 5) }) } });
    expect(error.getStatus()).toBe(503);
    expect(Number((error as unknown as { headers(): Record<string, string> }).headers()['Retry-After'])).toBeGreaterThan(0);
  });

  it('403 names the scope; the body is never repeated beyond its error code', () => {
    const error = auth0Failure('Secret rotation', { statusCode: 403, body: { message: 'secret-ish text', errorCode: 'insufficient_scope' } }, { permission: 'update:client_keys' });
    expect(error.getStatus()).toBe(502);
    expect(error.message).toContain('grant them "update:client_keys"');
    expect(error.message).toContain('insufficient_scope');
    expect(error.message).not.toContain('secret-ish');
  });

  it('404 → 404 naming the target; no status → 502', () => {
    expect(auth0Failure('Op', { statusCode: 404 }, { target: 'abc' }).getStatus()).toBe(404);
    expect(auth0Failure('Op', { name: 'ManagementError', cause: new TypeError('fetch failed') }).getStatus()).toBe(502);
  });
});
