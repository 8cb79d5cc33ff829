/**
 * `nestjs-identity/okta`: the ServiceAccountProvider for Okta's management API, through the vendor
 * SDK `@okta/okta-sdk-nodejs` v8 (an optional peer dependency, loaded on first use:
 * `npm install @okta/okta-sdk-nodejs`). See docs/providers/okta.md.
 */
export { OKTA_MANAGED_BY, OktaServiceAccountProvider } from './okta-service-account.provider.js';
export type { OktaSdkLoader, OktaServiceAccountProviderDependencies } from './okta-service-account.provider.js';
export type { OktaApiTokenCredentials, OktaPrivateKeyCredentials, OktaServiceAccountProviderOptions } from './okta-options.js';
