import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { safeDetail } from '../audit/safe-detail.js';
import { IdentityStatus } from '../health/identity-status.js';
import { InjectIdentityOptions } from '../identity-options.token.js';
import type { ResolvedIdentityOptions } from '../identity-options.js';
import { IDENTITY_SERVICE_ACCOUNT_PROVIDER, type ProviderPermissionProblem, type ServiceAccountProvider } from './service-account-provider.js';

/** One line per missing permission, in the vendor's words: what to grant and what fails without it. */
export function describePermissionProblems(kind: string, problems: readonly ProviderPermissionProblem[]): string {
  return `the ${kind} adapter's admin credentials lack ${problems.map((p) => `"${p.permission}" (needed for ${p.neededFor})`).join(', ')}; grant them to the adapter's admin client`;
}

/**
 * Checks the service-account adapter's own admin credentials once the app has booted (Keycloak,
 * Auth0 and Okta adapters implement `checkPermissions`). A missing permission is logged and shown
 * in health (`degraded`, `serviceAccountProvider`); it never fails the boot nor delays it, since
 * token verification does not depend on it. `doctor` runs the same check and prints it.
 */
@Injectable()
export class ProviderPermissionCheck implements OnApplicationBootstrap {
  private readonly logger = new Logger('IdentityServiceAccounts');

  constructor(
    @InjectIdentityOptions() private readonly options: ResolvedIdentityOptions,
    @Inject(IDENTITY_SERVICE_ACCOUNT_PROVIDER) private readonly provider: ServiceAccountProvider,
    private readonly status: IdentityStatus,
  ) {}

  onApplicationBootstrap(): void {
    // Only an adapter that can check, in an app that manages accounts (admin routes or auto-provisioning).
    if (!this.provider.checkPermissions || !(this.options.admin.enabled || this.options.autoProvision)) return;
    void this.run();
  }

  /** Runs the check and records it; resolves with a line for `doctor`, or undefined when all is well. */
  async run(): Promise<string | undefined> {
    const kind = this.provider.kind ?? 'service-account';
    if (!this.provider.checkPermissions) return undefined;
    try {
      const problems = await this.provider.checkPermissions();
      if (problems.length === 0) {
        this.status.recordServiceAccountProviderCheck(kind, 'ok');
        return undefined;
      }
      const line = describePermissionProblems(kind, problems);
      this.status.recordServiceAccountProviderCheck(kind, 'missing', line);
      this.logger.error(line);
      return line;
    } catch (error) {
      const line = `could not check the ${kind} adapter's admin credentials: ${safeDetail(error)}`;
      this.status.recordServiceAccountProviderCheck(kind, 'unchecked', line);
      this.logger.warn(line);
      return line;
    }
  }
}
