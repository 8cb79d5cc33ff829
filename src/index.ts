// The public API of nestjs-identity, and nothing else.
export { IdentityModule } from './identity.module.js';
export { IDENTITY_MODULE_OPTIONS, type IdentityRoutes } from './identity.module-definition.js';
export { IDENTITY_OPTIONS, InjectIdentityOptions } from './identity-options.token.js';
export {
  SUPPORTED_ALGORITHMS,
  type AutoProvisionOptions,
  type CredentialStoreOption,
  type IdentityClientOptions,
  type IdentityModuleOptions,
  type JwtAlgorithm,
  type ResolvedIdentityOptions,
  type TokenEndpointAuthMethod,
} from './identity-options.js';

// Who is calling
export { Identity, type IdentityUser, type ServiceAccount } from './identity/identity.js';
export type { ClaimReader, ClaimsMapping, ClaimsPresetName, IdentityKind } from './identity/claims-mapping.js';
export { CLAIMS_PRESETS, compileClaims, s3dbKind, type ClaimsReader } from './identity/claims-presets.js';
export type { JwtClaims } from './identity/jwt-claims.js';

// What they may do
export { Authenticated } from './access/authenticated.decorator.js';
export { RequireScope } from './access/require-scope.decorator.js';
export { RequireRole } from './access/require-role.decorator.js';
export { Public } from './access/public.decorator.js';
export { CurrentIdentity } from './access/current-identity.decorator.js';
export { IdentityGuard } from './access/identity.guard.js';
export { IdentityAppGuard } from './access/identity-app.guard.js';
export { IdentityExceptionFilter } from './access/identity-exception.filter.js';
export type { RouteRequirement } from './access/route-requirements.js';

// Every kind of Nest app: GraphQL, WebSockets, microservices (the packages load only when used)
export { IdentityWsAdapter, IDENTITY_REFRESH_EVENT, IDENTITY_REFRESHED_EVENT, IDENTITY_ERROR_EVENT, type IdentityWsAdapterOptions } from './access/contexts/identity-ws.adapter.js';
export {
  identitySubscriptions,
  identityMercuriusSubscription,
  type IdentitySubscriptionsOptions,
  type IdentityGraphqlWsHooks,
  type IdentityMercuriusHooks,
  type GraphqlWsConnection,
} from './access/contexts/identity-subscriptions.js';
export { authorizationDispatchHook, type DispatchedPacket } from './access/contexts/authorization-dispatch-hook.js';
export type { IdentityErrorBody } from './access/contexts/identity-error-body.js';

// Tokens and metadata
export { TokenAuthenticator, type RouteContext } from './tokens/token-authenticator.service.js';
export { IdentityStrategy, IDENTITY_STRATEGY } from './tokens/identity.strategy.js';
export { JwksService } from './tokens/jwks.service.js';
export { IdentityMetadataService } from './metadata/identity-metadata.service.js';
export type { IdentityMetadata, IdentityMetadataInput, MetadataSource } from './metadata/identity-metadata.js';
export { MetadataValidationError } from './metadata/metadata-document.js';
export { OutboundRequestError, type OutboundErrorKind } from './metadata/safe-fetch.js';

// Errors
export * from './errors/index.js';

// RFC 9728 protected-resource metadata (MCP servers) and DPoP (RFC 9449)
export { ResourceMetadataService, type ProtectedResourceMetadata } from './resource-metadata/resource-metadata.service.js';
export { canonicalResourceUri, type ResourceMetadataOptions, type ResolvedResourceMetadataOptions } from './resource-metadata/resource-metadata-options.js';
export { IdentityChallengeFilter } from './resource-metadata/identity-challenge.filter.js';
export { RequireDpop } from './dpop/require-dpop.decorator.js';
export { DpopService } from './dpop/dpop.service.js';
export { DPOP_ALGORITHMS, type DpopAlgorithm, type DpopMode, type DpopNonceOptions, type DpopOptions, type DpopReplayStoreOption, type ResolvedDpopOptions } from './dpop/dpop-options.js';
export type { DpopReplayStore } from './dpop/dpop-replay-store.js';
export { MemoryDpopReplayStore } from './dpop/memory-dpop-replay-store.js';
export { RedisDpopReplayStore, DpopReplayStoreUnavailableError } from './dpop/redis-dpop-replay-store.js';

// Health and metrics
export { IdentityStatus, type IdentityHealthState, type IdentityStatusSnapshot } from './health/identity-status.js';
export { IdentityHealthIndicator } from './health/identity.health.js';
export { IdentityMetrics, IDENTITY_METRIC_NAMES } from './metrics/identity.metrics.js';

// The API's own client, credentials and the store
export { ClientCredentialsService, type ClientProbeResult } from './client/client-credentials.service.js';
export { ClientProvisioningService, type ApiClientRotation, type ApiClientSource } from './client/client-provisioning.service.js';
export { IdentityClientCredentialsError, INVALID_CLIENT_FIX } from './client/client-credentials.error.js';
export { TokenRequestError, type ClientCredentials, type TokenRequest } from './client/token-request.js';
export { IDENTITY_CREDENTIAL_STORE, type CredentialStore } from './client/credential-store.js';
export { createCredentialStore, DEFAULT_CREDENTIAL_STORE_PATH } from './client/credential-store.factory.js';
export { FileCredentialStore, CredentialStoreCorruptError } from './client/file-credential-store.js';
export { RedisCredentialStore, type RedisCredentialStoreOptions } from './client/redis-credential-store.js';
export { MemoryCredentialStore, CredentialLockTimeoutError } from './client/memory-credential-store.js';
export { SecretBox, SecretBoxError } from './client/secret-box.js';
export { IDENTITY_SECRET_BOX } from './client/secret-box.provider.js';
export { StoredRecordError } from './client/sealed-records.js';

// Service accounts
export {
  IDENTITY_SERVICE_ACCOUNT_PROVIDER,
  type CreateServiceAccountInput,
  type IssuedServiceAccount,
  type ProviderPermissionProblem,
  type RotatedServiceAccount,
  type RotateServiceAccountOptions,
  type ServiceAccountProvider,
  type ServiceAccountRecord,
} from './admin/service-account-provider.js';
export { Rfc7592ServiceAccountProvider } from './admin/rfc7592-service-account.provider.js';
export { ProviderRequestError } from './admin/provider-request.error.js';
export { providerFailure, retryAfterSeconds, ProviderAccountMissingError, ProviderRateLimitedError, ProviderTimeoutError, type ProviderFailure } from './admin/provider-failure.js';
export { judgeRotation, type RotationOutcome, type SecretProbe, type SecretProbeResult } from './admin/rotation-check.js';
export { tokenEndpointProbe, type SecretProbeTarget } from './admin/secret-probe.js';
export { ServiceAccountInputError, type ServiceAccountInput, type RotateRequest } from './admin/service-account-input.js';
export {
  ServiceAccountsService,
  type IssuedServiceAccountView,
  type RotatedServiceAccountView,
  type ServiceAccountDetails,
  type ServiceAccountView,
} from './admin/service-accounts.service.js';
export { ServiceAccountsController } from './admin/service-accounts.controller.js';
export { ApiClientController } from './admin/api-client.controller.js';
export { ServiceAccountsAdminGuard } from './admin/service-accounts-admin.guard.js';

// Revocation
export { RevocationService, type RevokedListener } from './revocation/revocation.service.js';
export { RevocationsController } from './revocation/revocations.controller.js';
export { RevocationInputError, type RevocationKind, type RevocationView, type RevokeInput } from './revocation/revocation.js';
export { RevocationSyncUnavailableError } from './revocation/revocation-sync.js';
export type { RevocationOptions } from './identity-options.js';
export type { RevocationStatusSnapshot, RevocationSyncKind } from './health/identity-status.js';

// Audit
export { IDENTITY_AUDIT_SINK, type AuditEvent, type AuditSink } from './audit/audit-sink.js';
export { hasSafeMessage, type SafeMessage } from './errors/safe-message.js';
export { JsonLinesAuditSink } from './audit/json-lines-audit-sink.js';
export { IdentityAudit } from './audit/identity-audit.service.js';
