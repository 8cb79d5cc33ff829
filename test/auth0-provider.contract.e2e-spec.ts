import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpException } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judgeRotation } from '../src/admin/rotation-check.js';
import { Auth0ServiceAccountProvider } from '../src/admin/providers/auth0/index.js';
import { AUTH0_ADAPTER_SCOPES, startAuth0Fake, type Auth0Fake } from './support/providers/auth0-fake.js';
import { describeServiceAccountProviderContract } from './support/service-account-provider.contract.js';

function providerFor(fake: Auth0Fake, timeoutMs = 1_000): Auth0ServiceAccountProvider {
  return new Auth0ServiceAccountProvider({ domain: fake.domain, credentials: fake.management, audience: fake.audience, timeoutMs, baseUrl: fake.url });
}

/** One client_credentials request, as Auth0 documents it (audience required). */
async function tokenRequest(fake: Auth0Fake, clientId: string, clientSecret: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(fake.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret, audience: fake.audience }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describeServiceAccountProviderContract('Auth0 (fake Management API v2)', async () => {
  const fake = await startAuth0Fake({ propagationMs: 1_500 });
  return {
    provider: providerFor(fake),
    tokenUrl: fake.tokenUrl,
    audience: fake.audience,
    scopes: ['orders:read'],
    expect: { rotate: 'valid-until', manage: true, list: true },
    fault: (fault) => fake.fault(fault),
    close: () => fake.close(),
  };
});

describe('Auth0 adapter against the fake', () => {
  let fake: Auth0Fake;
  let provider: Auth0ServiceAccountProvider;
  beforeAll(async () => {
    fake = await startAuth0Fake({ propagationMs: 800 });
    provider = providerFor(fake);
  });
  afterAll(() => fake.close());

  it('rotation: the old secret works during the propagation window and is refused after it; the new one works at once', async () => {
    const issued = await provider.create({ name: `auth0-propagation-${Date.now()}`, scopes: ['orders:read'] });
    const before = Date.now();
    const rotated = await provider.rotate(issued.record);
    expect(rotated.via).toBe('Auth0 rotate-secret');
    expect(rotated.previousSecret).toBe(issued.clientSecret);
    // Reported window: now + propagationSeconds (30 s by default, Auth0's documented delay).
    expect(rotated.previousSecretValidUntil!.getTime()).toBeGreaterThanOrEqual(before + 30_000);
    expect((await judgeRotation(rotated, async () => 'unknown')).previousSecret).toBe('valid-until');

    expect((await tokenRequest(fake, issued.record.clientId, rotated.clientSecret)).status).toBe(200);
    expect((await tokenRequest(fake, issued.record.clientId, issued.clientSecret)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, fake.propagationMs + 200));
    const old = await tokenRequest(fake, issued.record.clientId, issued.clientSecret);
    expect(old.status).toBe(401);
    expect(old.body).toEqual({ error: 'access_denied', error_description: 'Unauthorized' });
    expect((await tokenRequest(fake, issued.record.clientId, rotated.clientSecret)).status).toBe(200);
  });

  it('create: an M2M application with the marker, client_credentials only, and a grant with the scopes; get and list read the scopes back', async () => {
    const issued = await provider.create({ name: `auth0-shape-${Date.now()}`, scopes: ['orders:read', 'orders:write'] });
    expect(issued.record).toMatchObject({ scopes: ['orders:read', 'orders:write'], audience: fake.audience, tokenEndpointAuthMethod: 'client_secret_post' });
    expect(Date.parse(issued.record.createdAt)).not.toBeNaN();
    const token = await tokenRequest(fake, issued.record.clientId, issued.clientSecret);
    expect(token.body.scope).toBe('orders:read orders:write');
    expect((await provider.get(issued.record))?.scopes).toEqual(['orders:read', 'orders:write']);
    const listed = (await provider.list()).find((record) => record.clientId === issued.record.clientId);
    expect(listed).toMatchObject({ name: issued.record.name, scopes: ['orders:read', 'orders:write'], audience: fake.audience });
    // The management application itself has no marker and is not listed.
    expect((await provider.list()).map((record) => record.clientId)).not.toContain(fake.management.clientId);
  });

  it('create: a scope the API does not define fails and leaves no application behind', async () => {
    const before = (await provider.list()).length;
    const error = await provider.create({ name: `auth0-bad-scope-${Date.now()}`, scopes: ['not:defined'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpException);
    expect((error as HttpException).getStatus()).toBe(502);
    expect((await provider.list()).length).toBe(before);
  });

  it('checkPermissions: all granted → no problem', async () => {
    expect(await provider.checkPermissions()).toEqual([]);
  });

  it('no secret or token in error messages', async () => {
    const record = (await provider.create({ name: `auth0-safe-${Date.now()}`, scopes: [] })).record;
    for (const fault of ['unauthorized', 'forbidden', 'rate-limited'] as const) {
      fake.fault(fault);
      const error = (await provider.rotate(record).catch((e: unknown) => e)) as HttpException;
      fake.fault(undefined);
      const text = JSON.stringify(error.getResponse()) + error.message;
      expect(text).not.toContain(fake.management.clientSecret);
      expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]+\./);
    }
  });
});

describe('Auth0 adapter with a management application lacking update:client_keys', () => {
  let fake: Auth0Fake;
  beforeAll(async () => {
    fake = await startAuth0Fake({ managementScopes: AUTH0_ADAPTER_SCOPES.filter((scope) => scope !== 'update:client_keys') });
  });
  afterAll(() => fake.close());

  it('checkPermissions names it, and rotate answers 502 saying to grant it', async () => {
    const provider = providerFor(fake);
    expect(await provider.checkPermissions()).toEqual([{ permission: 'update:client_keys', neededFor: expect.stringMatching(/rotat/) }]);
    const issued = await provider.create({ name: `auth0-no-keys-${Date.now()}`, scopes: ['orders:read'] });
    const error = (await provider.rotate(issued.record).catch((e: unknown) => e)) as HttpException;
    expect(error.getStatus()).toBe(502);
    expect(error.message).toContain('grant them "update:client_keys"');
  });

  it('wrong management credentials → 502 naming the credentials option', async () => {
    const provider = new Auth0ServiceAccountProvider({ domain: fake.domain, credentials: { clientId: fake.management.clientId, clientSecret: 'wrong' }, audience: fake.audience, baseUrl: fake.url });
    const error = (await provider.list().catch((e: unknown) => e)) as HttpException;
    expect(error.getStatus()).toBe(502);
    expect(error.message).toMatch(/credentials/);
  });
});

describe('Auth0 adapter deadlines', () => {
  it('a token endpoint that never answers → 504 within timeoutMs (not the SDK\'s fixed 10 s)', async () => {
    const server = createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const provider = new Auth0ServiceAccountProvider({
        domain: 'hanging.auth0.test',
        credentials: { clientId: 'mgmt', clientSecret: 'secret' },
        audience: 'https://orders.example.test',
        timeoutMs: 300,
        baseUrl: `http://127.0.0.1:${port}`,
      });
      const started = Date.now();
      const error = (await provider.list().catch((e: unknown) => e)) as HttpException;
      expect(error.getStatus()).toBe(504);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
