// Public API of `nestjs-identity/testing`: a development Identity provider for tests and local runs.
export {
  DEFAULT_DEVELOPMENT_AUDIENCE,
  DEFAULT_DEVELOPMENT_SCOPES,
  DEFAULT_DEVELOPMENT_USER,
  DEFAULT_SERVICE_ACCOUNT_CLIENT_ID,
  DEVELOPMENT_IDENTITY_ROUTES,
  DevelopmentIdentityProvider,
  WEB_APP_CLIENT_ID,
} from './development-identity-provider.js';
export type {
  AccessTokenTyp,
  DevelopmentClientInput,
  DevelopmentIdentityProviderOptions,
  DevelopmentIdentityProviderStats,
  DevelopmentUser,
  MintTokenOptions,
  RegisteredDevelopmentClient,
  ServiceAccountTokenOptions,
  TokenEndpointAuthMethod,
  UserTokenOptions,
} from './development-identity-provider.types.js';
export type { DevelopmentKeyAlg, DevelopmentSigningKey } from './keys.js';
