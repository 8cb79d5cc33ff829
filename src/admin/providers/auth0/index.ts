/**
 * `nestjs-identity/auth0`: service accounts as Auth0 Machine-to-Machine applications, managed
 * through the Auth0 Management API with the `auth0` SDK (v7, an optional peer dependency:
 * `npm install auth0`). See docs/providers/auth0.md.
 */
export { Auth0ServiceAccountProvider, AUTH0_MANAGED_BY, type Auth0SdkLoader, type Auth0ServiceAccountProviderDependencies } from './auth0-service-account.provider.js';
export type { Auth0ClientCredentials, Auth0ServiceAccountProviderOptions, Auth0StaticToken } from './auth0-options.js';
