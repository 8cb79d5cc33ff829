import { ConfigurableModuleBuilder, type DynamicModule } from '@nestjs/common';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import { ApiClientController } from './admin/api-client.controller.js';
import { ServiceAccountsController } from './admin/service-accounts.controller.js';
import { IdentityHealthController } from './health/identity-health.controller.js';
import { IdentityMetricsController } from './metrics/identity-metrics.controller.js';
import { RevocationsController } from './revocation/revocations.controller.js';
import type { IdentityModuleOptions } from './identity-options.js';

/**
 * Which controllers the module registers. Controllers must be known when the module is defined,
 * before an async useFactory has run: forRoot reads `admin.enabled`, `health.expose` from its
 * options; forRootAsync takes `routes` beside useFactory.
 */
export interface IdentityRoutes {
  /** `/admin/identity/service-accounts` and `/admin/identity/revocations` (still off at runtime unless `admin.enabled`). */
  admin?: boolean;
  /** `GET /health` with the identity section, for apps without their own Terminus controller. */
  health?: boolean;
  /** `GET /metrics` (Prometheus), for apps that do not register PrometheusModule themselves. */
  metrics?: boolean;
}

interface Extras {
  isGlobal?: boolean;
  routes?: IdentityRoutes;
}

function addRoutes(definition: DynamicModule, extras: Extras & Partial<IdentityModuleOptions>): DynamicModule {
  const routes: IdentityRoutes = {
    admin: extras.routes?.admin ?? extras.admin?.enabled ?? false,
    health: extras.routes?.health ?? extras.health?.expose ?? false,
    metrics: extras.routes?.metrics ?? false,
  };
  return {
    ...definition,
    global: extras.isGlobal,
    imports: [...(definition.imports ?? []), ...(routes.metrics ? [PrometheusModule.register({ defaultMetrics: { enabled: false }, controller: IdentityMetricsController })] : [])],
    controllers: [...(routes.health ? [IdentityHealthController] : []), ...(routes.admin ? [ServiceAccountsController, ApiClientController, RevocationsController] : [])],
  };
}

export const {
  ConfigurableModuleClass: IdentityConfigurableModule,
  MODULE_OPTIONS_TOKEN: IDENTITY_MODULE_OPTIONS,
  OPTIONS_TYPE: IDENTITY_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: IDENTITY_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<IdentityModuleOptions>({ moduleName: 'Identity' })
  .setClassMethodName('forRoot')
  .setExtras<Extras>({ isGlobal: true, routes: undefined }, addRoutes)
  .build();

// Also importable from here; files that this one imports (controllers) must use identity-options.token.js.
export { IDENTITY_OPTIONS, InjectIdentityOptions } from './identity-options.token.js';
