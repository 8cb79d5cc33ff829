import { Module, type Provider } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { register, Registry } from 'prom-client';
import { IdentityAppGuard } from './access/identity-app.guard.js';
import { IdentityGuard } from './access/identity.guard.js';
import { IdentityBootstrap } from './identity-bootstrap.service.js';
import { IDENTITY_MODULE_OPTIONS, IdentityConfigurableModule } from './identity.module-definition.js';
import { IDENTITY_OPTIONS } from './identity-options.token.js';
import { resolveIdentityOptions, type IdentityModuleOptions, type ResolvedIdentityOptions } from './identity-options.js';
import { IdentityStatus } from './health/identity-status.js';
import { IdentityHealthIndicator } from './health/identity.health.js';
import { IdentityMetadataService } from './metadata/identity-metadata.service.js';
import { lastGoodFileProvider } from './metadata/last-good-metadata.js';
import { IdentityMetrics } from './metrics/identity.metrics.js';
import { IdentityStrategy } from './tokens/identity.strategy.js';
import { JwksService } from './tokens/jwks.service.js';
import { TokenAuthenticator } from './tokens/token-authenticator.service.js';
import { IDENTITY_SERVICE_ACCOUNT_PROVIDER } from './admin/service-account-provider.js';
import { Rfc7592ServiceAccountProvider } from './admin/rfc7592-service-account.provider.js';
import { ProviderPermissionCheck } from './admin/provider-permission-check.js';
import { ServiceAccountsAdminGuard } from './admin/service-accounts-admin.guard.js';
import { ServiceAccountsService } from './admin/service-accounts.service.js';
import { auditSinkProvider, IdentityAudit } from './audit/identity-audit.service.js';
import { ClientCredentialsService } from './client/client-credentials.service.js';
import { ClientProvisioningService } from './client/client-provisioning.service.js';
import { credentialStoreProvider } from './client/credential-store.factory.js';
import { IDENTITY_CREDENTIAL_STORE } from './client/credential-store.js';
import { IDENTITY_SECRET_BOX, secretBoxProvider } from './client/secret-box.provider.js';
import { RevocationService } from './revocation/revocation.service.js';
import { DpopService } from './dpop/dpop.service.js';
import { IdentityChallengeFilter } from './resource-metadata/identity-challenge.filter.js';
import { ResourceMetadataService } from './resource-metadata/resource-metadata.service.js';

const providers: Provider[] = [
  {
    provide: IDENTITY_OPTIONS,
    useFactory: (raw: IdentityModuleOptions) => resolveIdentityOptions(raw),
    inject: [IDENTITY_MODULE_OPTIONS],
  },
  IdentityStatus,
  {
    provide: IdentityMetrics,
    // With metrics off, counters go to a private registry nobody scrapes.
    useFactory: (options: ResolvedIdentityOptions, status: IdentityStatus) => new IdentityMetrics(status, options.metrics ? register : new Registry()),
    inject: [IDENTITY_OPTIONS, IdentityStatus],
  },
  credentialStoreProvider,
  // Where the last good metadata and JWKS go when no credential store is configured.
  lastGoodFileProvider,
  secretBoxProvider,
  auditSinkProvider,
  IdentityAudit,
  IdentityMetadataService,
  JwksService,
  IdentityStrategy,
  RevocationService,
  DpopService,
  TokenAuthenticator,
  IdentityGuard,
  ResourceMetadataService,
  {
    provide: IDENTITY_SERVICE_ACCOUNT_PROVIDER,
    useFactory: (options: ResolvedIdentityOptions, metadata: IdentityMetadataService) => options.serviceAccountProvider ?? new Rfc7592ServiceAccountProvider(metadata, options),
    inject: [IDENTITY_OPTIONS, IdentityMetadataService],
  },
  ClientCredentialsService,
  ClientProvisioningService,
  ServiceAccountsService,
  ServiceAccountsAdminGuard,
  ProviderPermissionCheck,
  IdentityBootstrap,
  IdentityHealthIndicator,
  { provide: APP_GUARD, useClass: IdentityAppGuard },
  // IdentityExceptionFilter, answering with the resource's whole challenge (resource_metadata, DPoP).
  { provide: APP_FILTER, useClass: IdentityChallengeFilter },
];

/**
 * `IdentityModule.forRoot(options)` / `IdentityModule.forRootAsync({ imports, inject, useFactory })`.
 * Global by default (`isGlobal: false` to opt out), so any controller can use the decorators.
 */
@Module({
  imports: [TerminusModule],
  providers,
  exports: [
    IDENTITY_OPTIONS,
    IdentityStatus,
    IdentityMetrics,
    IdentityMetadataService,
    JwksService,
    IdentityStrategy,
    TokenAuthenticator,
    IdentityGuard,
    IdentityHealthIndicator,
    IDENTITY_CREDENTIAL_STORE,
    IDENTITY_SECRET_BOX,
    IDENTITY_SERVICE_ACCOUNT_PROVIDER,
    IdentityAudit,
    ClientCredentialsService,
    ClientProvisioningService,
    ServiceAccountsService,
    RevocationService,
    DpopService,
    ResourceMetadataService,
  ],
})
export class IdentityModule extends IdentityConfigurableModule {}
