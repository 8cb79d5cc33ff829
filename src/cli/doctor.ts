import type { INestApplicationContext } from '@nestjs/common';
import { describePermissionProblems } from '../admin/provider-permission-check.js';
import { IDENTITY_SERVICE_ACCOUNT_PROVIDER, type ServiceAccountProvider } from '../admin/service-account-provider.js';
import { ServiceAccountsService } from '../admin/service-accounts.service.js';
import { safeDetail } from '../audit/safe-detail.js';
import { INVALID_CLIENT_FIX } from '../client/client-credentials.error.js';
import { ClientCredentialsService } from '../client/client-credentials.service.js';
import { ClientProvisioningService } from '../client/client-provisioning.service.js';
import { IdentityConfigurationError } from '../errors/identity-configuration.error.js';
import { IdentityStatus } from '../health/identity-status.js';
import type { IdentityModuleOptions } from '../identity-options.js';
import { IdentityMetadataService } from '../metadata/identity-metadata.service.js';
import { JwksService } from '../tokens/jwks.service.js';
import { metadataProblem, withIdentity } from './cli-context.js';

type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface DoctorCheck {
  check: string;
  status: CheckStatus;
  detail: string;
}

/**
 * Boots the module the way the API would and reports each step in the words of the design
 * document's troubleshooting table. Configuration errors are thrown (exit 2); everything else
 * is a check.
 */
export async function runDoctor(options: IdentityModuleOptions, verbose: boolean): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  try {
    await withIdentity(options, verbose, async (app) => {
      checks.push(...providerChecks(app, await metadataProblem(app)), credentialCheck(app), await storeCheck(app, options), await adminProviderCheck(app));
    });
  } catch (error) {
    if (error instanceof IdentityConfigurationError) throw error;
    checks.push({ check: 'boot', status: 'fail', detail: safeDetail(error) });
  }
  return checks;
}

function providerChecks(app: INestApplicationContext, problem: string | undefined): DoctorCheck[] {
  const metadata = app.get(IdentityMetadataService).current();
  const lastError = app.get(IdentityStatus).snapshot().lastError;
  if (!metadata) {
    return [
      { check: 'metadata', status: 'fail', detail: problem ?? 'Identity metadata unavailable' },
      { check: 'jwks', status: 'skip', detail: 'needs metadata' },
    ];
  }
  const keys = app.get(JwksService).keyCount();
  return [
    { check: 'metadata', status: 'ok', detail: `${metadata.source} metadata for issuer ${metadata.issuer}` },
    keys > 0
      ? { check: 'jwks', status: 'ok', detail: `${keys} signing key(s) from ${metadata.jwksUrl}` }
      : { check: 'jwks', status: 'fail', detail: `no signing keys from ${metadata.jwksUrl}${lastError ? ` (${lastError})` : ''}: tokens cannot be verified; check that the JWKS URL is reachable` },
    metadata.clientRegistration?.url
      ? { check: 'registration', status: 'ok', detail: `clients can be registered at ${metadata.clientRegistration.url} (auto-provisioning, service accounts)` }
      : { check: 'registration', status: 'warn', detail: 'the provider names no registration endpoint: auto-provisioning and `service-account create` are unavailable' },
  ];
}

function credentialCheck(app: INestApplicationContext): DoctorCheck {
  const client = app.get(ClientCredentialsService);
  const probe = client.lastProbe();
  const source = app.get(ClientProvisioningService).source;
  if (!client.clientId) {
    return { check: 'credentials', status: 'skip', detail: "no client credentials: set IDENTITY_CLIENT_ID and IDENTITY_CLIENT_SECRET, or run `nestjs-identity client provision`" };
  }
  if (!probe) return { check: 'credentials', status: 'warn', detail: `client "${client.clientId}" was not probed` };
  if (probe.valid) return { check: 'credentials', status: 'ok', detail: `client "${probe.clientId}" (from ${source}) obtained a client_credentials token` };
  if (probe.oauthError) return { check: 'credentials', status: 'fail', detail: `invalid_client during start: client "${probe.clientId}" refused (${probe.oauthError}): ${INVALID_CLIENT_FIX}` };
  return { check: 'credentials', status: 'fail', detail: `client "${probe.clientId}" could not be probed: ${probe.reason}` };
}

async function storeCheck(app: INestApplicationContext, options: IdentityModuleOptions): Promise<DoctorCheck> {
  if (!options.encryptionKey) return { check: 'store', status: 'warn', detail: 'IDENTITY_ENCRYPTION_KEY is not set: sealed credentials cannot be opened or written' };
  try {
    const accounts = await app.get(ServiceAccountsService).list();
    return { check: 'store', status: 'ok', detail: `${accounts.length} service account record(s) open with this key` };
  } catch (error) {
    return { check: 'store', status: 'fail', detail: safeDetail(error) };
  }
}

/** The service-account adapter: its own admin credentials (vendor adapters), or what rotation means with RFC 7592. */
async function adminProviderCheck(app: INestApplicationContext): Promise<DoctorCheck> {
  const provider = app.get<ServiceAccountProvider>(IDENTITY_SERVICE_ACCOUNT_PROVIDER);
  const kind = provider.kind ?? 'custom';
  if (!provider.checkPermissions) {
    const detail =
      kind === 'rfc7592'
        ? 'RFC 7591/7592 adapter: rotation succeeds only if the provider issues a new secret on update (stock oidc-provider and Keycloak keep it: 501); see the README\'s provider table'
        : `${kind} adapter: it has no permission check`;
    return { check: 'service-accounts', status: 'ok', detail };
  }
  try {
    const problems = await provider.checkPermissions();
    if (problems.length === 0) return { check: 'service-accounts', status: 'ok', detail: `${kind} adapter: its admin credentials hold every permission it needs` };
    return { check: 'service-accounts', status: 'fail', detail: describePermissionProblems(kind, problems) };
  } catch (error) {
    return { check: 'service-accounts', status: 'fail', detail: `could not check the ${kind} adapter's admin credentials: ${safeDetail(error)}` };
  }
}
