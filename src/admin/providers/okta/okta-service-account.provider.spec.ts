import { generateKeyPairSync } from 'node:crypto';
import { HttpException } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOktaFake, type OktaFake } from '../../../../test/support/providers/okta-fake.js';
import { LOOPBACK_POLICY } from '../../../../test/support/service-account-provider.contract.js';
import { IdentityConfigurationError } from '../../../errors/identity-configuration.error.js';
import { judgeRotation } from '../../rotation-check.js';
import { tokenEndpointProbe } from '../../secret-probe.js';
import type { ServiceAccountRecord } from '../../service-account-provider.js';
import { OktaServiceAccountProvider, type OktaServiceAccountProviderOptions } from './index.js';
import { oktaFailure, oktaRetryAfterSeconds } from './okta-failure.js';

const BASE: OktaServiceAccountProviderOptions = { orgUrl: 'https://dev-123456.okta.com', credentials: { token: '00abcDEF_ghi-jkl' } };
const PEM = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();

function configError(options: unknown): IdentityConfigurationError {
  try {
    new OktaServiceAccountProvider(options as OktaServiceAccountProviderOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(IdentityConfigurationError);
    return error as IdentityConfigurationError;
  }
  throw new Error('expected an IdentityConfigurationError');
}

async function failure(run: () => Promise<unknown>): Promise<HttpException> {
  try {
    await run();
  } catch (error) {
    if (error instanceof HttpException) return error;
    throw error;
  }
  throw new Error('expected the operation to fail');
}

describe('OktaServiceAccountProvider options', () => {
  it('accepts an API token or a service app, and derives the token endpoint of the authorization server', () => {
    expect(new OktaServiceAccountProvider(BASE).tokenUrl).toBe('https://dev-123456.okta.com/oauth2/default/v1/token');
    const provider = new OktaServiceAccountProvider({ orgUrl: 'https://acme.okta.com/', credentials: { clientId: '0oa1abcd2EFGH3ijk4l5', privateKey: PEM }, authorizationServerId: 'aus1a2b3c4D5e6F7g8h9' });
    expect(provider.kind).toBe('okta');
    expect(provider.tokenUrl).toBe('https://acme.okta.com/oauth2/aus1a2b3c4D5e6F7g8h9/v1/token');
  });

  it.each([
    [{ ...BASE, orgUrl: undefined }, 'orgUrl', /https:\/\/dev-123456\.okta\.com/],
    [{ ...BASE, orgUrl: 'not a url' }, 'orgUrl', /not a URL/],
    [{ ...BASE, orgUrl: 'http://dev-123456.okta.com' }, 'orgUrl', /must use https.*testing\.disableHttpsCheck/],
    [{ ...BASE, orgUrl: 'https://dev-123456.okta.com/oauth2/default' }, 'orgUrl', /without a path.*authorizationServerId/],
    [{ ...BASE, orgUrl: 'https://dev-123456-admin.okta.com' }, 'orgUrl', /drop "-admin"/],
    [{ ...BASE, credentials: undefined }, 'credentials', /\{ token \}.*\{ clientId, privateKey/],
    [{ ...BASE, credentials: { token: 'x', clientId: 'y', privateKey: PEM } }, 'credentials', /not both/],
    [{ ...BASE, credentials: { token: '' } }, 'credentials.token', /non-empty/],
    [{ ...BASE, credentials: { token: 'SSWS 00abc' } }, 'credentials.token', /without the "SSWS " prefix/],
    [{ ...BASE, credentials: { clientId: '0oa1', privateKey: 'secret-ish' } }, 'credentials.privateKey', /PEM .* or as a private JWK/],
    [{ ...BASE, credentials: { clientId: 'has space', privateKey: PEM } }, 'credentials.clientId', /client ID/],
    [{ ...BASE, credentials: { clientId: '0oa1', privateKey: { kty: 'RSA', n: 'x', e: 'AQAB' } } }, 'credentials.privateKey', /private JWK/],
    [{ ...BASE, authorizationServerId: 'https://dev-123456.okta.com/oauth2/default' }, 'authorizationServerId', /not its issuer URL/],
    [{ ...BASE, timeoutMs: 0 }, 'timeoutMs', /between 1 and/],
    [{ ...BASE, timeoutMs: 1.5 }, 'timeoutMs', /whole number/],
    [{ ...BASE, testing: { disableHttpsCheck: 'yes' } }, 'testing', /disableHttpsCheck\?: boolean/],
  ])('refuses %o, naming %s and the fix', (options, option, fix) => {
    const error = configError(options);
    expect(error.option).toBe(`OktaServiceAccountProvider.${option}`);
    expect(error.message).toMatch(fix);
  });

  it('never repeats a credential in its messages', () => {
    const error = configError({ ...BASE, credentials: { token: 'SSWS 00topsecretvalue' } });
    expect(error.message).not.toContain('00topsecretvalue');
  });

  it('allows http only with testing.disableHttpsCheck', () => {
    expect(new OktaServiceAccountProvider({ ...BASE, orgUrl: 'http://127.0.0.1:8080', testing: { disableHttpsCheck: true } }).tokenUrl).toBe('http://127.0.0.1:8080/oauth2/default/v1/token');
  });
});

describe('OktaServiceAccountProvider without the SDK', () => {
  it('says how to install it when the module is missing', async () => {
    const missing = Object.assign(new Error("Cannot find package '@okta/okta-sdk-nodejs'"), { code: 'ERR_MODULE_NOT_FOUND' });
    const provider = new OktaServiceAccountProvider(BASE, { loadSdk: () => Promise.reject(missing) });
    const error = await provider.create({ name: 'x', scopes: [] }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(IdentityConfigurationError);
    expect((error as Error).message).toMatch(/npm install @okta\/okta-sdk-nodejs/);
    await expect(provider.checkPermissions()).rejects.toThrow(/npm install @okta\/okta-sdk-nodejs/);
  });

  it('refuses a module that is not the v8 SDK', async () => {
    const provider = new OktaServiceAccountProvider(BASE, { loadSdk: () => Promise.resolve({ default: {} }) });
    await expect(provider.list()).rejects.toThrow(/no Client\/DefaultRequestExecutor export.*npm install @okta\/okta-sdk-nodejs@\^8/);
  });

  it('does not load it before the first call', () => {
    let loaded = false;
    new OktaServiceAccountProvider(BASE, {
      loadSdk: () => {
        loaded = true;
        return import('@okta/okta-sdk-nodejs');
      },
    });
    expect(loaded).toBe(false);
  });
});

describe('OktaServiceAccountProvider against the Okta fake', () => {
  let okta: OktaFake;
  let provider: OktaServiceAccountProvider;
  const probe = (record: ServiceAccountRecord) => tokenEndpointProbe(provider.tokenUrl, { clientId: record.clientId, tokenEndpointAuthMethod: record.tokenEndpointAuthMethod }, LOOPBACK_POLICY);
  const options = (fake: OktaFake, credentials: OktaServiceAccountProviderOptions['credentials']): OktaServiceAccountProviderOptions => ({
    orgUrl: fake.orgUrl,
    credentials,
    timeoutMs: 2_000,
    testing: { disableHttpsCheck: true },
  });

  beforeAll(async () => {
    okta = await startOktaFake({ scopes: ['orders:read'] });
    provider = new OktaServiceAccountProvider(options(okta, { token: okta.apiToken }));
  });
  afterAll(() => okta.close());

  it('creates a marked service app whose client id is the app id', async () => {
    const { record, clientSecret } = await provider.create({ name: 'orders-worker', scopes: ['orders:read'] });
    expect(record).toMatchObject({ name: 'orders-worker', scopes: ['orders:read'], providerId: record.clientId, tokenEndpointAuthMethod: 'client_secret_basic' });
    expect(await probe(record)(clientSecret)).toBe('accepted');
    expect((await provider.list()).map((listed) => listed.clientId)).toContain(record.clientId);
  });

  it('lists only the apps it manages', async () => {
    // An app someone made in the console: no profile marker.
    const response = await fetch(`${okta.orgUrl}/api/v1/apps`, {
      method: 'POST',
      headers: { authorization: `SSWS ${okta.apiToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'oidc_client', label: 'hand-made', signOnMode: 'OPENID_CONNECT', settings: { oauthClient: { application_type: 'service', grant_types: ['client_credentials'] } } }),
    });
    const handMade = (await response.json()) as { id: string };
    expect((await provider.list()).map((listed) => listed.clientId)).not.toContain(handMade.id);
  });

  it('rotates: the previous secret is reported, deactivated and deleted; one secret remains', async () => {
    const issued = await provider.create({ name: 'rotating', scopes: ['orders:read'] });
    const rotated = await provider.rotate(issued.record);
    expect(rotated.previousSecret).toBe(issued.clientSecret);
    expect(rotated.via).toBe('Okta client secret rotation');
    expect(rotated.previousSecretValidUntil).toBeUndefined();
    expect(okta.secrets(issued.record.clientId).map((secret) => secret.client_secret)).toEqual([rotated.clientSecret]);
    expect(await judgeRotation(rotated, probe(issued.record))).toEqual({ previousSecret: 'refused' });
  });

  it('handles the two-secret limit: an inactive leftover is deleted first', async () => {
    const issued = await provider.create({ name: 'two-secrets-inactive', scopes: ['orders:read'] });
    okta.addSecret(issued.record.clientId, 'INACTIVE');
    const rotated = await provider.rotate(issued.record);
    expect(rotated.previousSecret).toBe(issued.clientSecret);
    expect(okta.secrets(issued.record.clientId)).toEqual([expect.objectContaining({ status: 'ACTIVE', client_secret: rotated.clientSecret })]);
    expect(await probe(rotated.record)(rotated.clientSecret)).toBe('accepted');
  });

  it('refuses to rotate with two active secrets (either may be the one in use): 409 naming them, nothing changed', async () => {
    const issued = await provider.create({ name: 'two-secrets-active', scopes: ['orders:read'] });
    const added = okta.addSecret(issued.record.clientId, 'ACTIVE');
    const before = okta.secrets(issued.record.clientId);
    const error = await failure(() => provider.rotate(issued.record));
    expect(error.getStatus()).toBe(409);
    expect(error.message).toMatch(/two active client secrets/);
    for (const secret of before) expect(JSON.stringify(error.getResponse())).toContain(secret.id);
    expect(JSON.stringify(error.getResponse())).not.toContain(added);
    expect(okta.secrets(issued.record.clientId)).toEqual(before);
    expect(await probe(issued.record)(issued.clientSecret)).toBe('accepted');
    expect(await probe(issued.record)(added)).toBe('accepted');
  });

  it('withdraws the new secret when the previous one cannot be deactivated, so nothing changed', async () => {
    const issued = await provider.create({ name: 'stuck-previous', scopes: ['orders:read'] });
    const [previous] = okta.secrets(issued.record.clientId);
    okta.failNext({ method: 'POST', path: new RegExp(`/credentials/secrets/${previous!.id}/lifecycle/deactivate$`), status: 500, times: 2 });
    const error = await failure(() => provider.rotate(issued.record));
    expect(error.getStatus()).toBe(502);
    expect(okta.secrets(issued.record.clientId)).toEqual([expect.objectContaining({ id: previous!.id, status: 'ACTIVE' })]);
    expect(await probe(issued.record)(issued.clientSecret)).toBe('accepted');
  });

  it('retries the deactivation once', async () => {
    const issued = await provider.create({ name: 'flaky-previous', scopes: ['orders:read'] });
    okta.failNext({ method: 'POST', path: /\/lifecycle\/deactivate$/, status: 500, times: 1 });
    const rotated = await provider.rotate(issued.record);
    expect(await judgeRotation(rotated, probe(issued.record))).toEqual({ previousSecret: 'refused' });
  });

  it('says which secret to remove when neither the previous can be deactivated nor the new withdrawn', async () => {
    const issued = await provider.create({ name: 'stuck-both', scopes: ['orders:read'] });
    okta.failNext({ method: 'POST', path: /\/credentials\/secrets\/[^/]+\/lifecycle\/deactivate$/, status: 500, times: 3 });
    const error = await failure(() => provider.rotate(issued.record));
    expect(error.getStatus()).toBe(502);
    const secrets = okta.secrets(issued.record.clientId);
    expect(secrets).toHaveLength(2);
    const added = secrets.find((secret) => secret.client_secret !== issued.clientSecret)!;
    expect(error.message).toMatch(/two active secrets/);
    expect(error.message).toContain(added.id);
    expect(error.message).not.toContain(added.client_secret);
    expect(error.message).not.toContain(issued.clientSecret);
    expect(await probe(issued.record)(issued.clientSecret)).toBe('accepted');
  });

  it('maps a 429 to 503 with the seconds until x-rate-limit-reset', async () => {
    const issued = await provider.create({ name: 'rate-limited', scopes: ['orders:read'] });
    okta.failNext({ method: 'GET', path: /\/credentials\/secrets$/, status: 429 });
    const error = await failure(() => provider.rotate(issued.record));
    expect(error.getStatus()).toBe(503);
    const seconds = Number((error as unknown as { headers(): Record<string, string> }).headers()['Retry-After']);
    expect(seconds).toBeGreaterThanOrEqual(40);
    expect(seconds).toBeLessThanOrEqual(43);
    expect(oktaRetryAfterSeconds({ 'x-rate-limit-reset': '1000060', date: new Date(1_000_000_000).toUTCString() })).toBe(60);
  });

  it('get answers undefined and delete succeeds for an app that is gone', async () => {
    const issued = await provider.create({ name: 'gone', scopes: ['orders:read'] });
    await provider.delete(issued.record);
    expect(okta.has(issued.record.clientId)).toBe(false);
    expect(await provider.get(issued.record)).toBeUndefined();
    await provider.delete(issued.record);
    expect((await failure(() => provider.rotate(issued.record))).getStatus()).toBe(404);
  });

  it('never puts the API token in an error message', async () => {
    const wrong = new OktaServiceAccountProvider(options(okta, { token: '00wrongTokenValue123' }));
    const error = await failure(() => wrong.list());
    expect(error.getStatus()).toBe(502);
    expect(error.message).toMatch(/credentials/);
    expect(JSON.stringify(error.getResponse())).not.toContain('00wrongTokenValue123');
  });

  describe('checkPermissions', () => {
    function serviceApp(clientId: string, grantedScopes: string[]): OktaServiceAccountProvider {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      okta.addAdminClient({ clientId, publicJwk: { ...publicKey.export({ format: 'jwk' }), alg: 'RS256' }, grantedScopes });
      return new OktaServiceAccountProvider(options(okta, { clientId, privateKey: privateKey.export({ format: 'jwk' }) as Record<string, unknown> }));
    }

    it('reports nothing for an API token of an Application Administrator', async () => {
      expect(await provider.checkPermissions()).toEqual([]);
    });

    it('names the admin role an API token lacks', async () => {
      const fake = await startOktaFake({ apiTokens: { '00noRoleToken': 'none' } });
      try {
        const problems = await new OktaServiceAccountProvider(options(fake, { token: '00noRoleToken' })).checkPermissions();
        expect(problems).toEqual([{ permission: 'Application Administrator', neededFor: expect.stringMatching(/every operation/) }]);
      } finally {
        await fake.close();
      }
    });

    it('reports nothing for a service app granted both scopes', async () => {
      expect(await serviceApp('0oaAllScopes', ['okta.apps.read', 'okta.apps.manage']).checkPermissions()).toEqual([]);
      expect(okta.requests.some((request) => request.method === 'POST' && request.path === '/oauth2/v1/token')).toBe(true);
    });

    it('names the scope a service app was not granted, and what it is needed for', async () => {
      const problems = await serviceApp('0oaReadOnly', ['okta.apps.read']).checkPermissions();
      expect(problems).toEqual([{ permission: 'okta.apps.manage', neededFor: expect.stringMatching(/creating service accounts, rotating/) }]);
    });

    it('names both scopes when neither was granted', async () => {
      const problems = await serviceApp('0oaNoScopes', []).checkPermissions();
      expect(problems.map((problem) => problem.permission)).toEqual(['okta.apps.read', 'okta.apps.manage']);
    });

    it('a service app Okta does not know gets a 502 naming the credentials', async () => {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const unknown = new OktaServiceAccountProvider(options(okta, { clientId: '0oaUnknownApp', privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() }));
      const error = await failure(() => unknown.list());
      expect(error.getStatus()).toBe(502);
      expect(error.message).toMatch(/credentials/);
      await expect(unknown.checkPermissions()).rejects.toThrow(/credentials/);
    });

    it('a service app without the manage scope gets a 502 naming it on rotate', async () => {
      const issued = await provider.create({ name: 'scoped', scopes: ['orders:read'] });
      const error = await failure(() => serviceApp('0oaReadOnly2', ['okta.apps.read']).rotate(issued.record));
      expect(error.getStatus()).toBe(502);
      expect(error.message).toMatch(/grant them "okta\.apps\.read and okta\.apps\.manage"/);
    });
  });
});

describe('oktaFailure', () => {
  const context = { permission: 'okta.apps.manage', target: '0oa1', oauth: true };

  it('names the scope of an insufficient_scope challenge, else the admin role the service app needs', () => {
    const challenge = 'Bearer authorization_uri="https://x/oauth2/v1/authorize", realm="IdP", scope="okta.apps.read", error="insufficient_scope"';
    const scoped = oktaFailure('Reading', { status: 403, errorCode: 'E0000006', headers: { 'www-authenticate': challenge } }, context);
    expect(scoped.message).toMatch(/grant them "okta\.apps\.read"/);
    const role = oktaFailure('Reading', { status: 403, errorCode: 'E0000006', headers: {} }, context);
    expect(role.message).toMatch(/grant them "Application Administrator \(admin role assigned to the service app\)"/);
    const token = oktaFailure('Reading', { status: 403, headers: {} }, { ...context, permission: 'Application Administrator', oauth: false });
    expect(token.message).toMatch(/grant them "Application Administrator"/);
  });

  it('maps 404 to 404, a request timeout to 504, and keeps only Okta\'s error code', () => {
    expect(oktaFailure('Reading', { status: 404, errorCode: 'E0000007' }, context).getStatus()).toBe(404);
    expect(oktaFailure('Reading', Object.assign(new Error('network timeout at: https://x'), { name: 'FetchError', type: 'request-timeout' }), context).getStatus()).toBe(504);
    const other = oktaFailure('Reading', { status: 500, errorCode: 'E0000009', errorSummary: 'free text with a secret-looking value' }, context);
    expect(other.getStatus()).toBe(502);
    expect(other.message).toContain('E0000009');
    expect(other.message).not.toContain('secret-looking');
  });
});
