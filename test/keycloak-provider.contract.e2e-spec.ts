import { KeycloakServiceAccountProvider } from '../src/admin/providers/keycloak/index.js';
import { describeServiceAccountProviderContract, type ProviderFixture } from './support/service-account-provider.contract.js';
import { startKeycloakFake, type KeycloakFakeOptions } from './support/providers/keycloak-fake.js';

/**
 * The Keycloak adapter under the ServiceAccountProvider contract, against a fake built from
 * Keycloak's documented Admin REST API (CI cannot reach a real Keycloak): a realm without a
 * client-secret rotation policy (the old secret dies at once: "refused") and one whose
 * secret-rotation executor keeps it for an hour ("valid-until").
 */
async function keycloakFixture(fake: KeycloakFakeOptions, rotate: ProviderFixture['expect']['rotate']): Promise<ProviderFixture> {
  const keycloak = await startKeycloakFake({ clientScopes: ['orders:read', 'orders:write'], ...fake });
  const provider = new KeycloakServiceAccountProvider({
    baseUrl: keycloak.baseUrl,
    realm: keycloak.realm,
    credentials: keycloak.adminClient,
    timeoutMs: 1_000,
  });
  return {
    provider,
    tokenUrl: keycloak.tokenUrl,
    // Put in tokens by the oidc-audience-mapper; Keycloak ignores `audience` on client_credentials requests.
    audience: 'https://api.example.com',
    scopes: ['orders:read'],
    expect: { rotate, list: true, manage: true },
    fault: (kind) => keycloak.fault(kind),
    close: () => keycloak.close(),
  };
}

describeServiceAccountProviderContract('Keycloak (fake), realm without a secret rotation policy', () => keycloakFixture({}, 'refused'));
describeServiceAccountProviderContract('Keycloak (fake), realm with a secret rotation policy', () => keycloakFixture({ rotationPolicy: { rotatedExpirationSeconds: 3600 } }, 'valid-until'));
