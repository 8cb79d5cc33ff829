import { generateKeyPairSync } from 'node:crypto';
import { OktaServiceAccountProvider } from '../src/admin/providers/okta/index.js';
import { startOktaFake } from './support/providers/okta-fake.js';
import { describeServiceAccountProviderContract } from './support/service-account-provider.contract.js';

// The Okta adapter, through the real @okta/okta-sdk-nodejs, against a local fake of Okta's
// documented management API and custom authorization server (test/support/providers/okta-fake.ts).
// Rotation adds a new secret and deactivates + deletes the old one: confirmed at the token endpoint.
describeServiceAccountProviderContract('Okta adapter (fake Okta org, SSWS API token)', async () => {
  const okta = await startOktaFake({ scopes: ['orders:read'] });
  const provider = new OktaServiceAccountProvider({
    orgUrl: okta.orgUrl,
    credentials: { token: okta.apiToken },
    authorizationServerId: okta.authorizationServerId,
    // Short, so that the "timeout → 504" case does not wait 10 s for the hanging fake.
    timeoutMs: 1_500,
    testing: { disableHttpsCheck: true },
  });
  return {
    provider,
    tokenUrl: provider.tokenUrl,
    scopes: ['orders:read'],
    expect: { rotate: 'refused', list: true, manage: true },
    fault: (kind) => okta.fault(kind),
    close: () => okta.close(),
  };
});

describeServiceAccountProviderContract('Okta adapter (fake Okta org, OAuth 2.0 service app with private_key_jwt)', async () => {
  const okta = await startOktaFake({ scopes: ['orders:read'] });
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  okta.addAdminClient({ clientId: '0oaAdminServiceApp01', publicJwk: { ...publicKey.export({ format: 'jwk' }), alg: 'RS256', kid: 'admin-key' }, grantedScopes: ['okta.apps.read', 'okta.apps.manage'] });
  const provider = new OktaServiceAccountProvider({
    orgUrl: okta.orgUrl,
    credentials: { clientId: '0oaAdminServiceApp01', privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), keyId: 'admin-key' },
    timeoutMs: 1_500,
    testing: { disableHttpsCheck: true },
  });
  return {
    provider,
    tokenUrl: provider.tokenUrl,
    scopes: ['orders:read'],
    expect: { rotate: 'refused', list: true, manage: true },
    fault: (kind) => okta.fault(kind),
    close: () => okta.close(),
  };
});
