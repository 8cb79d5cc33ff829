import { HttpException } from '@nestjs/common';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startKeycloakFake, type KeycloakFake } from '../../../../test/support/providers/keycloak-fake.js';
import { LOOPBACK_POLICY } from '../../../../test/support/service-account-provider.contract.js';
import { IdentityConfigurationError } from '../../../errors/identity-configuration.error.js';
import { judgeRotation } from '../../rotation-check.js';
import { tokenEndpointProbe } from '../../secret-probe.js';
import type { ServiceAccountRecord } from '../../service-account-provider.js';
import { KeycloakServiceAccountProvider, type KeycloakServiceAccountProviderOptions } from './index.js';

const BASE = { baseUrl: 'https://keycloak.example.com', realm: 'services', credentials: { clientId: 'admin', clientSecret: 's3cr3t-admin' } };

function configError(options: unknown): IdentityConfigurationError {
  try {
    new KeycloakServiceAccountProvider(options as KeycloakServiceAccountProviderOptions);
  } catch (error) {
    if (error instanceof IdentityConfigurationError) return error;
    throw error;
  }
  throw new Error('expected an IdentityConfigurationError');
}

async function httpError(run: () => Promise<unknown>): Promise<HttpException> {
  try {
    await run();
  } catch (error) {
    if (error instanceof HttpException) return error;
    throw error;
  }
  throw new Error('expected an HttpException');
}

describe('KeycloakServiceAccountProvider options', () => {
  it('accepts client credentials and password credentials', () => {
    expect(new KeycloakServiceAccountProvider(BASE).kind).toBe('keycloak');
    expect(() => new KeycloakServiceAccountProvider({ ...BASE, credentials: { username: 'admin', password: 'pw' } })).not.toThrow();
    expect(() => new KeycloakServiceAccountProvider({ ...BASE, baseUrl: 'http://127.0.0.1:8080/auth/' })).not.toThrow();
    expect(() => new KeycloakServiceAccountProvider({ ...BASE, baseUrl: 'http://keycloak:8080', allowInsecureHttp: true })).not.toThrow();
  });

  it.each([
    [{ ...BASE, baseUrl: undefined }, 'keycloak.baseUrl', /https:\/\/keycloak\.example\.com/],
    [{ ...BASE, baseUrl: 'not a url' }, 'keycloak.baseUrl', /not a URL/],
    [{ ...BASE, baseUrl: 'http://keycloak.internal' }, 'keycloak.baseUrl', /allowInsecureHttp/],
    [{ ...BASE, baseUrl: 'https://kc.example.com/admin/realms/x' }, 'keycloak.baseUrl', /without \/admin/],
    [{ ...BASE, baseUrl: 'https://user:pw@kc.example.com' }, 'keycloak.baseUrl', /credentials/],
    [{ ...BASE, realm: '' }, 'keycloak.realm', /realm name/],
    [{ ...BASE, realm: 'a/b' }, 'keycloak.realm', /no slashes/],
    [{ ...BASE, credentials: undefined }, 'keycloak.credentials', /clientId, clientSecret/],
    [{ ...BASE, credentials: { clientId: 'admin' } }, 'keycloak.credentials.clientSecret', /Credentials/],
    [{ ...BASE, credentials: { clientId: 'admin', clientSecret: 'x', username: 'u', password: 'p' } }, 'keycloak.credentials', /mixes both kinds/],
    [{ ...BASE, credentials: { username: 'admin' } }, 'keycloak.credentials.password', /password/],
    [{ ...BASE, credentials: { clientId: 'admin', clientSecret: 'x', scope: 'y' } }, 'keycloak.credentials.scope', /not a known option/],
    [{ ...BASE, timeoutMs: 0 }, 'keycloak.timeoutMs', /between 100 and 300000/],
    [{ ...BASE, audience: ' https://api' }, 'keycloak.audience', /audience/],
    [{ ...BASE, scopeAssignment: 'always' }, 'keycloak.scopeAssignment', /"default" or "optional"/],
    [{ ...BASE, secretRotation: { invalidatePrevious: 'yes' } }, 'keycloak.secretRotation.invalidatePrevious', /true or false/],
    [{ ...BASE, secretRotaton: {} }, 'keycloak.secretRotaton', /not a known option/],
  ])('refuses %j naming the option and the fix', (options, option, fix) => {
    const error = configError(options);
    expect(error.option).toBe(option);
    expect(error.message).toMatch(fix);
    expect(error.message).not.toContain('s3cr3t-admin');
  });
});

describe('KeycloakServiceAccountProvider without the SDK', () => {
  it('loads the SDK lazily and, when it is missing, says how to install it', async () => {
    let loads = 0;
    const missing = Object.assign(new Error("Cannot find package '@keycloak/keycloak-admin-client'"), { code: 'ERR_MODULE_NOT_FOUND' });
    const provider = new KeycloakServiceAccountProvider(BASE, async () => {
      loads++;
      throw missing;
    });
    expect(loads).toBe(0);
    const error = await provider.create({ name: 'orders', scopes: [] }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(IdentityConfigurationError);
    expect((error as Error).message).toContain('npm install @keycloak/keycloak-admin-client');
    // Tried again on the next call (it may have been installed since).
    await expect(provider.checkPermissions()).rejects.toBeInstanceOf(IdentityConfigurationError);
    expect(loads).toBe(2);
  });
});

describe('KeycloakServiceAccountProvider against the Keycloak fake', () => {
  let keycloak: KeycloakFake;
  const probe = (record: ServiceAccountRecord) => tokenEndpointProbe(keycloak.tokenUrl, { clientId: record.clientId, tokenEndpointAuthMethod: record.tokenEndpointAuthMethod }, LOOPBACK_POLICY);
  const provider = (options: Partial<KeycloakServiceAccountProviderOptions> = {}) =>
    new KeycloakServiceAccountProvider({ baseUrl: keycloak.baseUrl, realm: keycloak.realm, credentials: keycloak.adminClient, timeoutMs: 1_000, ...options });

  beforeAll(async () => {
    keycloak = await startKeycloakFake({ clientScopes: ['orders:read', 'orders:write'], rotationPolicy: { rotatedExpirationSeconds: 3600 } });
  });
  afterAll(() => keycloak.close());
  afterEach(() => {
    keycloak.fault(undefined);
    keycloak.setAdminRoles(['manage-clients', 'view-clients', 'query-clients']);
  });

  it('creates a confidential service-account client with the scopes, the audience mapper and the managed mark', async () => {
    const { record, clientSecret } = await provider().create({ name: 'Orders worker', scopes: ['orders:read', 'orders:write'], audience: 'https://api.example.com' });
    expect(record).toMatchObject({ name: 'Orders worker', scopes: ['orders:read', 'orders:write'], audience: 'https://api.example.com', tokenEndpointAuthMethod: 'client_secret_basic' });
    expect(record.clientId).toMatch(/^orders-worker-[0-9a-f]{8}$/);
    const stored = keycloak.client(record.clientId)!;
    expect(record.providerId).toBe(stored.id);
    expect(stored).toMatchObject({ publicClient: false, serviceAccountsEnabled: true, standardFlowEnabled: false, directAccessGrantsEnabled: false, clientAuthenticatorType: 'client-secret' });
    expect(stored.attributes['nestjs-identity.managed']).toBe('true');
    expect(stored.mappers).toEqual([expect.objectContaining({ protocolMapper: 'oidc-audience-mapper', config: expect.objectContaining({ 'included.custom.audience': 'https://api.example.com', 'access.token.claim': 'true' }) })]);
    expect(await probe(record)(clientSecret)).toBe('accepted');
    const got = await provider().get({ ...record, providerId: undefined });
    expect(got).toMatchObject({ clientId: record.clientId, providerId: stored.id, scopes: ['orders:read', 'orders:write'], audience: 'https://api.example.com' });
  });

  it('uses the audience option when the account names none, and optional scopes when asked', async () => {
    const { record } = await provider({ audience: 'https://default.example.com', scopeAssignment: 'optional' }).create({ name: 'reports', scopes: ['orders:read', 'profile'] });
    expect(record.audience).toBe('https://default.example.com');
    const stored = keycloak.client(record.clientId)!;
    // "profile" is one of the realm's default client scopes: moved to the optional list.
    expect(keycloak.requests).toContain(`DELETE /admin/realms/${keycloak.realm}/clients/${stored.id}/default-client-scopes/${stored.optionalScopes.at(-1)}`);
    expect((await provider().get(record))?.scopes).toEqual(['orders:read', 'profile']);
  });

  it('refuses a scope the realm does not have with a 400 naming it, creating nothing', async () => {
    const before = keycloak.requests.filter((line) => line === `POST /admin/realms/${keycloak.realm}/clients`).length;
    const error = await httpError(() => provider().create({ name: 'bad-scope', scopes: ['orders:read', 'orders:delete'] }));
    expect(error.getStatus()).toBe(400);
    expect(error.message).toContain('"orders:delete" is not a client scope of Keycloak realm');
    expect(keycloak.requests.filter((line) => line === `POST /admin/realms/${keycloak.realm}/clients`).length).toBe(before);
  });

  it('rotation under the realm policy reports the rotated secret expiry as the grace window', async () => {
    const { record, clientSecret } = await provider().create({ name: 'grace', scopes: ['orders:read'] });
    const rotated = await provider().rotate(record);
    expect(rotated.via).toBe('Keycloak regenerate-secret');
    expect(rotated.previousSecret).toBe(clientSecret);
    const until = rotated.previousSecretValidUntil!.getTime();
    expect(until).toBeGreaterThan(Date.now() + 3500_000);
    expect(until).toBeLessThanOrEqual(Date.now() + 3601_000);
    expect(await probe(record)(clientSecret)).toBe('accepted');
    expect((await judgeRotation(rotated, probe(record))).previousSecret).toBe('valid-until');
  });

  it('invalidatePrevious (per call or as an option) ends the previous secret now and reports no grace', async () => {
    for (const [adapter, options] of [
      [provider(), { invalidatePrevious: true }],
      [provider({ secretRotation: { invalidatePrevious: true } }), undefined],
    ] as const) {
      const { record, clientSecret } = await adapter.create({ name: 'no-grace', scopes: ['orders:read'] });
      const rotated = await adapter.rotate(record, options);
      expect(rotated.previousSecretValidUntil).toBeUndefined();
      expect(rotated.previousSecret).toBe(clientSecret);
      expect(keycloak.requests).toContain(`DELETE /admin/realms/${keycloak.realm}/clients/${record.providerId}/client-secret/rotated`);
      expect(await probe(record)(clientSecret)).toBe('refused');
      expect(await probe(record)(rotated.clientSecret)).toBe('accepted');
      expect((await judgeRotation(rotated, probe(record))).previousSecret).toBe('refused');
    }
  });

  it('lists only the clients it manages, and delete is idempotent', async () => {
    const { record } = await provider().create({ name: 'listed', scopes: ['orders:read'] });
    const listed = await provider().list();
    expect(listed.map((entry) => entry.clientId)).toContain(record.clientId);
    expect(listed.map((entry) => entry.clientId)).not.toContain(keycloak.adminClient.clientId);
    expect(listed.find((entry) => entry.clientId === record.clientId)).toMatchObject({ name: 'listed', scopes: ['orders:read'], createdAt: record.createdAt });
    await provider().delete({ ...record, providerId: undefined });
    expect(await provider().get(record)).toBeUndefined();
    await provider().delete(record);
    await expect(provider().rotate(record)).rejects.toMatchObject({ status: 404 });
  });

  it('checkPermissions names the realm-management roles the admin client lacks', async () => {
    expect(await provider().checkPermissions()).toEqual([]);
    keycloak.setAdminRoles(['view-clients']);
    expect((await provider().checkPermissions()).map((problem) => problem.permission)).toEqual(['manage-clients']);
    keycloak.setAdminRoles([]);
    expect((await provider().checkPermissions()).map((problem) => problem.permission)).toEqual(['manage-clients', 'view-clients', 'query-clients']);
    keycloak.setAdminRoles(['realm-admin']);
    expect(await provider().checkPermissions()).toEqual([]);
  });

  it('a 403 names manage-clients as the permission to grant', async () => {
    const adapter = provider();
    const { record } = await adapter.create({ name: 'forbidden', scopes: [] });
    keycloak.setAdminRoles(['view-clients']);
    const error = await httpError(() => adapter.rotate(record));
    expect(error.getStatus()).toBe(502);
    expect(error.message).toContain('grant them "manage-clients"');
  });

  it('signs in again once on a 401, then reports the credentials', async () => {
    const adapter = provider();
    const { record } = await adapter.create({ name: 'relogin', scopes: [] });
    const logins = () => keycloak.requests.filter((line) => line.endsWith('/protocol/openid-connect/token')).length;
    const before = logins();
    keycloak.fault('unauthorized');
    const error = await httpError(() => adapter.rotate(record));
    expect(error.getStatus()).toBe(502);
    expect(error.message).toMatch(/credentials/);
    expect(logins()).toBe(before + 1);
  });

  it('wrong admin credentials or realm: 502 naming the option, never the secret', async () => {
    const wrong = provider({ credentials: { clientId: keycloak.adminClient.clientId, clientSecret: 'not-the-secret' } });
    const error = await httpError(() => wrong.list());
    expect(error.getStatus()).toBe(502);
    expect(error.message).toMatch(/credentials option/);
    expect(JSON.stringify(error.getResponse())).not.toContain('not-the-secret');
    const noRealm = provider({ credentials: { ...keycloak.adminClient, realm: 'nowhere' } });
    const missing = await httpError(() => noRealm.list());
    expect(missing.getStatus()).toBe(502);
    expect(missing.message).toMatch(/no realm "nowhere".*realm/);
  });

  it('an unreachable Keycloak is a 502 that says so', async () => {
    const closed = await startKeycloakFake();
    await closed.close();
    const error = await httpError(() => new KeycloakServiceAccountProvider({ baseUrl: closed.baseUrl, realm: 'services', credentials: { clientId: 'a', clientSecret: 'b' } }).list());
    expect(error.getStatus()).toBe(502);
    expect(error.message).toMatch(/could not be reached/);
  });

  it('an admin user of the master realm (password grant through admin-cli) works too', async () => {
    const adapter = provider({ credentials: { ...keycloak.adminUser } });
    const { record } = await adapter.create({ name: 'by-admin-user', scopes: ['orders:read'] });
    expect(await adapter.get(record)).toMatchObject({ clientId: record.clientId });
    expect(await adapter.checkPermissions()).toEqual([]);
  });
});

describe('KeycloakServiceAccountProvider without the console whoami', () => {
  let keycloak: KeycloakFake;
  beforeAll(async () => {
    keycloak = await startKeycloakFake({ whoami: false, adminClient: { roles: ['query-clients'] } });
  });
  afterAll(() => keycloak.close());

  it('judges from the access Keycloak reports on a listed client', async () => {
    const adapter = new KeycloakServiceAccountProvider({ baseUrl: keycloak.baseUrl, realm: keycloak.realm, credentials: keycloak.adminClient });
    expect((await adapter.checkPermissions()).map((problem) => problem.permission)).toEqual(['manage-clients', 'view-clients']);
    keycloak.setAdminRoles(['manage-clients']);
    expect(await adapter.checkPermissions()).toEqual([]);
  });
});
