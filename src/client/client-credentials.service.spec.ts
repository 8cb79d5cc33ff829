import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IdentityStatus } from '../health/identity-status.js';
import { resolveIdentityOptions } from '../identity-options.js';
import type { IdentityMetadata } from '../metadata/identity-metadata.js';
import type { IdentityMetadataService } from '../metadata/identity-metadata.service.js';
import { outboundPolicyFor } from '../metadata/safe-fetch.js';
import { IdentityMetrics } from '../metrics/identity.metrics.js';
import { ClientCredentialsService } from './client-credentials.service.js';
import { TokenRequestError, type ClientCredentials } from './token-request.js';

interface Seen {
  authorization?: string;
  params: URLSearchParams;
}

/** A token endpoint that accepts one secret, by one method, and counts what it gets. */
class FakeTokenEndpoint {
  server!: Server;
  url = '';
  requests: Seen[] = [];
  secret = 'right';
  method: 'client_secret_basic' | 'client_secret_post' = 'client_secret_post';
  expiresIn: number | undefined = 900;
  delayMs = 0;
  issued = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req).then(([status, body]) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    }));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private async handle(req: IncomingMessage): Promise<[number, Record<string, unknown>]> {
    let text = '';
    for await (const chunk of req) text += chunk;
    const seen = { authorization: req.headers.authorization, params: new URLSearchParams(text) };
    this.requests.push(seen);
    if (this.delayMs) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    const basic = seen.authorization?.startsWith('Basic ') ? Buffer.from(seen.authorization.slice(6), 'base64').toString().split(':').map(decodeURIComponent) : undefined;
    const secret = this.method === 'client_secret_basic' ? basic?.[1] : basic ? undefined : seen.params.get('client_secret');
    if (secret !== this.secret) return [401, { error: 'invalid_client', error_description: `secret ${String(secret)} is wrong` }];
    if (seen.params.get('scope')?.includes('forbidden')) return [400, { error: 'invalid_scope' }];
    this.issued += 1;
    return [200, { access_token: `token-${this.issued}`, token_type: 'Bearer', ...(this.expiresIn === undefined ? {} : { expires_in: this.expiresIn }), scope: seen.params.get('scope') ?? '' }];
  }
}

describe('ClientCredentialsService', () => {
  const endpoint = new FakeTokenEndpoint();
  let status: IdentityStatus;
  let registry: Registry;
  let service: ClientCredentialsService;
  const client: ClientCredentials = { clientId: 'api', clientSecret: 'right', tokenEndpointAuthMethod: 'client_secret_post' };

  const failures = async (): Promise<number> => (await registry.getSingleMetric('identity_token_exchange_failures_total')!.get()).values[0]?.value ?? 0;

  beforeAll(() => endpoint.start());
  afterAll(async () => {
    await new Promise((resolve) => endpoint.server.close(resolve));
  });
  beforeEach(() => {
    Object.assign(endpoint, { requests: [], secret: 'right', method: 'client_secret_post', expiresIn: 900, delayMs: 0 });
    const metadata = { tokenUrl: `${endpoint.url}/oauth/token` } as IdentityMetadata;
    const policy = outboundPolicyFor(resolveIdentityOptions({ url: endpoint.url, audience: 'https://api.example.com' }));
    const metadataService = { get: () => metadata, policy: () => policy } as unknown as IdentityMetadataService;
    status = new IdentityStatus();
    registry = new Registry();
    service = new ClientCredentialsService(metadataService, status, new IdentityMetrics(status, registry));
  });

  it('refuses to run without credentials, naming the options', async () => {
    expect(() => service.getToken()).toThrow(/client\.clientId and client\.clientSecret, or turn on autoProvision/);
  });

  it('caches a token per audience and scope set until shortly before expiry', async () => {
    service.use(client, { methodKnown: true });
    const first = await service.getToken({ scopes: ['b', 'a'], audience: 'https://orders.example.com' });
    expect(await service.getToken({ scopes: ['a', 'b', 'a'], audience: 'https://orders.example.com' })).toBe(first);
    expect(endpoint.requests).toHaveLength(1);
    expect(Object.fromEntries(endpoint.requests[0]!.params)).toEqual({
      grant_type: 'client_credentials',
      scope: 'a b',
      resource: 'https://orders.example.com',
      audience: 'https://orders.example.com',
      client_id: 'api',
      client_secret: 'right',
    });
    // Another audience, another scope set: separate entries.
    expect(await service.getToken({ scopes: ['a', 'b'] })).not.toBe(first);
    expect(await service.getToken({ scopes: ['a'], audience: 'https://orders.example.com' })).not.toBe(first);
    expect(endpoint.requests).toHaveLength(3);
  });

  it('refreshes a token that is about to expire', async () => {
    service.use(client, { methodKnown: true });
    endpoint.expiresIn = 1; // refresh at 90% of one second
    const first = await service.getToken();
    await new Promise((resolve) => setTimeout(resolve, 950));
    expect(await service.getToken()).not.toBe(first);
    endpoint.expiresIn = undefined; // no expires_in and an opaque token: not cached at all
    await service.getToken({ scopes: ['opaque'] });
    await service.getToken({ scopes: ['opaque'] });
    expect(endpoint.requests).toHaveLength(4);
  });

  it('sends one request for many concurrent callers (single flight), and none after', async () => {
    service.use(client, { methodKnown: true });
    endpoint.delayMs = 100;
    const tokens = await Promise.all(Array.from({ length: 25 }, () => service.getToken({ scopes: ['orders:read'] })));
    expect(new Set(tokens).size).toBe(1);
    expect(endpoint.requests).toHaveLength(1);
    await service.getToken({ scopes: ['orders:read'] });
    expect(endpoint.requests).toHaveLength(1);
  });

  it('shares a failure with every concurrent caller, counts it, and does not cache it', async () => {
    service.use({ ...client, clientSecret: 'wrong' }, { methodKnown: true });
    endpoint.delayMs = 50;
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => service.getToken()));
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof TokenRequestError && r.reason.oauthError === 'invalid_client')).toBe(true);
    expect(endpoint.requests).toHaveLength(1);
    expect(await failures()).toBe(1);
    const error = (results[0] as PromiseRejectedResult).reason as TokenRequestError;
    expect(error.message).toBe('client_credentials token request for client "api" failed: the token endpoint answered HTTP 401 (invalid_client)');
    expect(error.message).not.toContain('wrong');
    expect(status.snapshot()).toMatchObject({ credentialsValid: false, lastError: expect.stringContaining('re-run auto-provisioning') });
    await expect(service.getToken()).rejects.toThrow(TokenRequestError);
    expect(endpoint.requests).toHaveLength(2);
    expect(await failures()).toBe(2);
  });

  it('re-reads rotated credentials once after invalid_client', async () => {
    let reads = 0;
    service.use({ ...client, clientSecret: 'old' }, { methodKnown: true, reload: async () => (reads++, { ...client, clientSecret: 'right' }) });
    expect(await service.getToken()).toMatch(/^token-/);
    expect(reads).toBe(1);
    expect(endpoint.requests.map((r) => r.params.get('client_secret'))).toEqual(['old', 'right']);
    expect(status.snapshot().credentialsValid).toBe(true);
  });

  it('tries the rotation\'s other secret once after invalid_client (a new secret still propagating, or the old one in its grace window)', async () => {
    // The store already holds the new secret, but the provider still only knows the previous one (Auth0 propagation).
    endpoint.secret = 'previous';
    service.use({ ...client, clientSecret: 'new', otherSecret: 'previous' }, { methodKnown: true, reload: async () => ({ ...client, clientSecret: 'new', otherSecret: 'previous' }) });
    expect(await service.getToken()).toMatch(/^token-/);
    expect(endpoint.requests.map((r) => r.params.get('client_secret'))).toEqual(['new', 'previous']);
    expect(status.snapshot().credentialsValid).toBe(true);
  });

  it('gives up after the other secret is refused too, and says so in health', async () => {
    endpoint.secret = 'neither';
    service.use({ ...client, clientSecret: 'new', otherSecret: 'previous' }, { methodKnown: true });
    await expect(service.getToken()).rejects.toThrow(TokenRequestError);
    expect(endpoint.requests.map((r) => r.params.get('client_secret'))).toEqual(['new', 'previous']);
    expect(status.snapshot().credentialsValid).toBe(false);
  });

  it('authenticates with client_secret_basic, form-encoding id and secret', async () => {
    endpoint.method = 'client_secret_basic';
    endpoint.secret = 'se:cr et/+';
    service.use({ clientId: 'api', clientSecret: 'se:cr et/+', tokenEndpointAuthMethod: 'client_secret_basic' }, { methodKnown: true });
    await service.getToken();
    expect(endpoint.requests[0]!.authorization).toBe(`Basic ${Buffer.from('api:se%3Acr%20et%2F%2B').toString('base64')}`);
    expect(endpoint.requests[0]!.params.has('client_secret')).toBe(false);
  });

  it('probe: records the verdict and time; finds the accepted method when none was configured', async () => {
    endpoint.method = 'client_secret_post';
    service.use({ ...client, tokenEndpointAuthMethod: 'client_secret_basic' }, { methodKnown: false });
    const result = await service.probe(['orders:read']);
    expect(result).toMatchObject({ clientId: 'api', valid: true, at: expect.any(Date) });
    expect(endpoint.requests.map((r) => (r.authorization ? 'basic' : 'post'))).toEqual(['basic', 'post']);
    expect(service.lastProbe()).toBe(result);
    expect(status.snapshot()).toMatchObject({ credentialsValid: true, lastCredentialValidation: result.at.toISOString() });
    await service.getToken();
    expect(endpoint.requests.at(-1)!.authorization).toBeUndefined(); // post from now on
  });

  it('probe: invalid_client and invalid_scope mark the credentials invalid; a known method is not second-guessed', async () => {
    service.use({ ...client, clientSecret: 'wrong' }, { methodKnown: true });
    expect(await service.probe()).toMatchObject({ valid: false, oauthError: 'invalid_client' });
    expect(endpoint.requests).toHaveLength(1);
    service.use(client, { methodKnown: true });
    expect(await service.probe(['forbidden'])).toMatchObject({ valid: false, oauthError: 'invalid_scope' });
    expect(status.snapshot()).toMatchObject({ credentialsValid: false, lastError: 'client "api": invalid_scope: credentials are wrong or scopes mismatch; re-run auto-provisioning (`nestjs-identity client provision`) or rotate with the CLI (`nestjs-identity client rotate`)' });
  });

  it('probe: an unreachable endpoint says nothing about the credentials', async () => {
    const metadata = { tokenUrl: 'http://127.0.0.1:1/oauth/token' } as IdentityMetadata;
    const policy = outboundPolicyFor(resolveIdentityOptions({ url: 'http://127.0.0.1:1', audience: 'x' }));
    const unreachable = new ClientCredentialsService({ get: () => metadata, policy: () => policy } as unknown as IdentityMetadataService, status, new IdentityMetrics(status, registry));
    unreachable.use(client, { methodKnown: true });
    const result = await unreachable.probe();
    expect(result).toMatchObject({ valid: false, oauthError: undefined, reason: expect.stringContaining('network error') });
    expect(status.snapshot().credentialsValid).toBeUndefined();
  });
});
