import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityConfigurationError } from '../errors/identity-configuration.error.js';
import { NotSupportedByProviderError } from '../errors/not-supported-by-provider.error.js';
import { resolveIdentityOptions, type IdentityModuleOptions } from '../identity-options.js';
import type { IdentityMetadata } from '../metadata/identity-metadata.js';
import type { IdentityMetadataService } from '../metadata/identity-metadata.service.js';
import { outboundPolicyFor } from '../metadata/safe-fetch.js';
import { DevelopmentIdentityProvider } from '../testing/index.js';
import { ProviderAccountMissingError } from './provider-failure.js';
import { ProviderRequestError } from './provider-request.error.js';
import { judgeRotation } from './rotation-check.js';
import { Rfc7592ServiceAccountProvider } from './rfc7592-service-account.provider.js';

const AUDIENCE = 'https://api.example.com';
const REDIRECT = 'https://api.example.com/auth/callback';

/** A metadata service that always answers one document. */
function fixedMetadata(issuer: string, source: IdentityMetadata['source'], registrationUrl?: string): IdentityMetadataService {
  const metadata = {
    source,
    version: 1,
    issuer,
    jwksUrl: `${issuer}/.well-known/jwks.json`,
    tokenUrl: `${issuer}/oauth/token`,
    supportedScopes: [],
    supportedGrantTypes: [],
    supportedResponseTypes: [],
    tokenEndpointAuthMethods: [],
    clientRegistration: registrationUrl ? { url: registrationUrl, supportedAuth: ['client_secret_basic', 'client_secret_post'] } : undefined,
    signed: false,
    fetchedAt: new Date(),
  } as IdentityMetadata;
  const policy = outboundPolicyFor(resolveIdentityOptions({ url: issuer, audience: AUDIENCE }));
  return { get: () => metadata, current: () => metadata, policy: () => policy } as unknown as IdentityMetadataService;
}

function provider(issuer: string, options: Partial<IdentityModuleOptions> = {}, source: IdentityMetadata['source'] = 's3db', registrationUrl = `${issuer}/oauth/register`) {
  const resolved = resolveIdentityOptions({ url: issuer, audience: AUDIENCE, client: { redirectUri: REDIRECT }, ...options });
  return new Rfc7592ServiceAccountProvider(fixedMetadata(issuer, source, registrationUrl), resolved);
}

async function tokenStatus(idp: DevelopmentIdentityProvider, clientId: string, secret: string): Promise<number> {
  const response = await fetch(`${idp.issuer}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret, scope: 'orders:read' }),
  });
  return response.status;
}

describe('Rfc7592ServiceAccountProvider against the development provider (opted into rotating secrets on PUT)', () => {
  let idp: DevelopmentIdentityProvider;
  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE, rotateClientSecretOnUpdate: true });
  });
  afterAll(async () => {
    await idp?.stop();
  });

  it('creates (RFC 7591), reads, rotates and deletes (RFC 7592)', async () => {
    const accounts = provider(idp.issuer);
    const before = idp.stats.registration;
    const { record, clientSecret } = await accounts.create({ name: 'orders-worker', scopes: ['orders:read'], audience: AUDIENCE });
    expect(idp.stats.registration).toBe(before + 1);
    expect(record).toMatchObject({ name: 'orders-worker', scopes: ['orders:read'], audience: AUDIENCE, tokenEndpointAuthMethod: 'client_secret_post' });
    expect(record.registrationClientUri).toBe(`${idp.issuer}/oauth/register/${record.clientId}`);
    expect(record.registrationAccessToken).toEqual(expect.any(String));
    expect(idp.clientMetadata(record.clientId)).toMatchObject({ grant_types: ['client_credentials'], redirect_uris: [REDIRECT], client_name: 'orders-worker', audience: AUDIENCE });
    expect(await tokenStatus(idp, record.clientId, clientSecret)).toBe(200);

    expect(await accounts.get(record)).toMatchObject({ clientId: record.clientId, name: 'orders-worker', scopes: ['orders:read'] });

    const rotated = await accounts.rotate(record);
    expect(rotated.clientSecret).not.toBe(clientSecret);
    // The secret in force before the PUT, read from the RFC 7592 GET, so the caller can check it died.
    expect(rotated.previousSecret).toBe(clientSecret);
    expect(rotated.via).toBe('RFC 7592 update');
    expect(rotated.record.rotatedAt).toEqual(expect.any(String));
    // The development provider rotates the registration access token too; the new one must be kept.
    expect(rotated.record.registrationAccessToken).not.toBe(record.registrationAccessToken);
    expect(await tokenStatus(idp, record.clientId, rotated.clientSecret)).toBe(200);
    expect(await tokenStatus(idp, record.clientId, clientSecret)).toBe(401);
    // The old registration access token died with the rotation: to us, the client is gone (404).
    const stale = await accounts.rotate(record).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(ProviderAccountMissingError);
    expect((stale as ProviderAccountMissingError).getStatus()).toBe(404);

    await accounts.delete(rotated.record);
    expect(idp.clientMetadata(record.clientId)).toBeUndefined();
    expect(await accounts.get(rotated.record)).toBeUndefined();
    await expect(accounts.delete(rotated.record)).resolves.toBeUndefined();
  });

  it('honours a configured client_secret_basic', async () => {
    const { record } = await provider(idp.issuer, { client: { redirectUri: REDIRECT, tokenEndpointAuthMethod: 'client_secret_basic' } }).create({ name: 'basic', scopes: ['orders:read'] });
    expect(record.tokenEndpointAuthMethod).toBe('client_secret_basic');
    expect(idp.clientMetadata(record.clientId)?.token_endpoint_auth_method).toBe('client_secret_basic');
  });

  it('surfaces a refused registration as 502 with the provider error code', async () => {
    const error = await provider(idp.issuer)
      .create({ name: 'bad', scopes: ['not-a-supported-scope'] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderRequestError);
    expect((error as ProviderRequestError).getStatus()).toBe(502);
    expect((error as Error).message).toMatch(/^Client registration failed at the Identity provider: HTTP 400 \(invalid_/);
  });

  it('needs client.redirectUri with an s3db provider, which rejects registrations without one', async () => {
    const accounts = provider(idp.issuer, { client: {} });
    await expect(accounts.create({ name: 'x', scopes: ['orders:read'] })).rejects.toThrow(IdentityConfigurationError);
    await expect(accounts.create({ name: 'x', scopes: ['orders:read'] })).rejects.toThrow(/client\.redirectUri.*redirect_uris/);
    // A standards provider does not need one.
    const { record } = await provider(idp.issuer, { client: {} }, 'oidc-discovery').create({ name: 'no-redirect', scopes: ['orders:read'] });
    expect(idp.clientMetadata(record.clientId)?.redirect_uris ?? []).toEqual([]);
  });

  it('answers 501 when the metadata names no registration endpoint', async () => {
    const accounts = new Rfc7592ServiceAccountProvider(fixedMetadata(idp.issuer, 's3db'), resolveIdentityOptions({ url: idp.issuer, audience: AUDIENCE }));
    const error = await accounts.create({ name: 'x', scopes: [] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotSupportedByProviderError);
    expect((error as NotSupportedByProviderError).getStatus()).toBe(501);
  });
});

describe('Rfc7592ServiceAccountProvider against the development provider in its default, stock mode', () => {
  let idp: DevelopmentIdentityProvider;
  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE, rotateClientSecretOnUpdate: false });
  });
  afterAll(async () => {
    await idp?.stop();
  });

  it('reports the kept secret, and the rotation is judged 501 with the old secret still working', async () => {
    const accounts = provider(idp.issuer);
    const { record, clientSecret } = await accounts.create({ name: 'stock-worker', scopes: ['orders:read'], audience: AUDIENCE });
    const rotated = await accounts.rotate(record);
    expect(rotated.clientSecret).toBe(clientSecret);
    expect(rotated.previousSecret).toBe(clientSecret);
    const error = await judgeRotation(rotated, async () => 'refused').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotSupportedByProviderError);
    expect((error as Error).message).toMatch(/the provider kept the old client_secret on RFC 7592 update/);
    expect(await tokenStatus(idp, record.clientId, clientSecret)).toBe(200);
    // The registration access token oidc-provider rotated on the PUT is in the returned record.
    expect(rotated.record.registrationAccessToken).not.toBe(record.registrationAccessToken);
    expect(await accounts.get(rotated.record)).toMatchObject({ clientId: record.clientId });
  });
});

describe('Rfc7592ServiceAccountProvider against an upstream-like provider without RFC 7592', () => {
  let server: Server;
  let issuer: string;
  beforeAll(async () => {
    // Upstream s3db: open registration, 201 with id and secret, no registration_client_uri.
    server = createServer((req, res) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ client_id: 'orders-worker', client_secret: 's3cr3t', client_id_issued_at: 1, client_secret_expires_at: 0 }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('creates, then answers NotSupportedByProviderError (501) for rotate, get and delete: never a silent success', async () => {
    const accounts = provider(issuer);
    const { record, clientSecret } = await accounts.create({ name: 'orders-worker', scopes: ['orders:read'] });
    expect(clientSecret).toBe('s3cr3t');
    expect(record.registrationClientUri).toBeUndefined();
    // No method in the answer: the one we asked for (client_secret_post, what upstream reads).
    expect(record.tokenEndpointAuthMethod).toBe('client_secret_post');
    for (const operation of [() => accounts.rotate(record), () => accounts.get(record), () => accounts.delete(record)]) {
      const error = await operation().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotSupportedByProviderError);
      expect((error as NotSupportedByProviderError).getStatus()).toBe(501);
      expect((error as Error).message).toMatch(/not supported by this Identity provider: .*no registration_client_uri/);
    }
  });
});
