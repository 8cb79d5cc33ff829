/**
 * `nestjs-identity/keycloak`: the ServiceAccountProvider for Keycloak's Admin REST API, through
 * `@keycloak/keycloak-admin-client` (an optional peer dependency, loaded on first use).
 * See docs/providers/keycloak.md.
 */
export { KeycloakServiceAccountProvider, KEYCLOAK_MANAGED_ATTRIBUTE } from './keycloak-service-account.provider.js';
export type { KeycloakSdkLoader } from './keycloak-service-account.provider.js';
export type { KeycloakClientCredentials, KeycloakPasswordCredentials, KeycloakServiceAccountProviderOptions } from './keycloak-options.js';
