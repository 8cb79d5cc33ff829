import { Inject, Injectable, Logger, Optional, type OnApplicationShutdown } from '@nestjs/common';
import { IDENTITY_SERVICE_ACCOUNT_PROVIDER, type ServiceAccountProvider } from '../admin/service-account-provider.js';
import { IdentityAudit } from '../audit/identity-audit.service.js';
import { safeDetail } from '../audit/safe-detail.js';
import { IdentityConfigurationError } from '../errors/identity-configuration.error.js';
import { InjectIdentityOptions } from '../identity-options.token.js';
import type { AutoProvisionOptions, ResolvedIdentityOptions, TokenEndpointAuthMethod } from '../identity-options.js';
import { IdentityMetadataService } from '../metadata/identity-metadata.service.js';
import { API_CLIENT_KEY, apiClientRecords, type StoredApiClient } from './api-client-records.js';
import { ClientCredentialsService } from './client-credentials.service.js';
import { IdentityClientCredentialsError } from './client-credentials.error.js';
import { isCredentialStore } from './credential-store.factory.js';
import { IDENTITY_CREDENTIAL_STORE, type CredentialStore } from './credential-store.js';
import type { SecretBox } from './secret-box.js';
import { IDENTITY_SECRET_BOX, requireSecretBox } from './secret-box.provider.js';
import type { SealedRecords } from './sealed-records.js';
import type { ClientCredentials } from './token-request.js';

/** Where the API's client came from at boot. */
export type ApiClientSource = 'options' | 'store' | 'provisioned' | 'none';

/** Registration is one HTTP call; replicas waiting for the lock wait for that and a store write. */
const PROVISION_LOCK = { ttlMs: 60_000, waitMs: 60_000 };
const PROVISION_LOCK_NAME = 'client:provision';

/**
 * The API's own confidential client at boot: credentials from options, else the stored
 * (auto-provisioned) client, else RFC 7591 auto-provisioning under a store-wide lock, so
 * replicas starting together register exactly one client. Then a `client_credentials` probe.
 */
@Injectable()
export class ClientProvisioningService implements OnApplicationShutdown {
  private readonly logger = new Logger('IdentityClient');
  private bootSource: ApiClientSource = 'none';

  constructor(
    @InjectIdentityOptions() private readonly options: ResolvedIdentityOptions,
    private readonly metadata: IdentityMetadataService,
    private readonly credentials: ClientCredentialsService,
    private readonly audit: IdentityAudit,
    @Inject(IDENTITY_SERVICE_ACCOUNT_PROVIDER) private readonly provider: ServiceAccountProvider,
    @Optional() @Inject(IDENTITY_CREDENTIAL_STORE) private readonly store?: CredentialStore,
    @Optional() @Inject(IDENTITY_SECRET_BOX) private readonly box?: SecretBox,
  ) {}

  /** Where the client in use came from. */
  get source(): ApiClientSource {
    return this.bootSource;
  }

  /**
   * Boot, after metadata and keys. Configuration and stored-data problems (missing key, tampered
   * or undecryptable record) always fail; a refused probe fails only with `require`.
   */
  async boot(): Promise<void> {
    const { autoProvision, admin } = this.options;
    if (autoProvision) requireSecretBox(this.box, 'for autoProvision');
    if (admin.enabled) requireSecretBox(this.box, 'for the admin routes');
    const configured = this.configuredCredentials();
    const stored = configured ? undefined : await this.readStored();
    const hasMetadata = this.metadata.current() !== undefined;
    if (configured) {
      this.credentials.use(configured, { methodKnown: this.options.client?.tokenEndpointAuthMethod !== undefined });
      this.bootSource = 'options';
    } else if (stored) {
      this.install(stored);
      this.bootSource = 'store';
    } else if (autoProvision && hasMetadata) {
      const provisioned = await this.provisionAtBoot(autoProvision);
      if (provisioned) this.bootSource = provisioned.created ? 'provisioned' : 'store';
    }
    if (!hasMetadata) {
      // Known credentials stay installed: token requests work once the metadata arrives.
      if (this.bootSource !== 'none' || autoProvision) this.logger.warn('No Identity metadata yet: the API client is neither probed nor provisioned');
      return;
    }
    if (this.bootSource === 'none') return;
    await this.verify();
  }

  /**
   * Registers the API's client (RFC 7591 through the ServiceAccountProvider) unless one is stored,
   * under the provisioning lock: of replicas starting together, one registers, the others read
   * its record. `replace` registers a new client even when one is stored (the CLI's re-run).
   */
  async provision(spec: AutoProvisionOptions, { replace = false, actor = 'system' } = {}): Promise<{ client: StoredApiClient; created: boolean }> {
    const records = this.records('to store the provisioned client');
    const result = await this.store!.withLock(
      PROVISION_LOCK_NAME,
      async () => {
        const existing = replace ? undefined : await records.read(API_CLIENT_KEY);
        if (existing) return { client: existing, created: false };
        const name = spec.name ?? `nestjs-identity API (${this.options.audiences[0]})`;
        try {
          const issued = await this.provider.create({ name, scopes: spec.scopes ?? [], audience: spec.audience });
          const client: StoredApiClient = { ...issued.record, clientSecret: issued.clientSecret };
          await records.write(API_CLIENT_KEY, client);
          await this.audit.record({ action: 'client.provision', actor, outcome: 'success', target: client.clientId });
          return { client, created: true };
        } catch (error) {
          await this.audit.record({ action: 'client.provision', actor, outcome: 'failure', detail: safeDetail(error) });
          throw error;
        }
      },
      PROVISION_LOCK,
    );
    this.install(result.client);
    return result;
  }

  /** A new secret for the stored client (RFC 7592 through the provider), used at once. */
  async rotate(actor: string): Promise<StoredApiClient> {
    const records = this.records('to rotate the stored client');
    return this.store!.withLock(
      PROVISION_LOCK_NAME,
      async () => {
        const stored = await records.read(API_CLIENT_KEY);
        if (!stored) {
          throw new IdentityConfigurationError('client', 'no provisioned client is stored, so there is nothing to rotate; credentials passed as client.clientId/clientSecret are rotated at the provider');
        }
        try {
          const issued = await this.provider.rotate(stored);
          const client: StoredApiClient = { ...issued.record, clientId: stored.clientId, clientSecret: issued.clientSecret };
          await records.write(API_CLIENT_KEY, client);
          await this.audit.record({ action: 'client.rotate', actor, outcome: 'success', target: client.clientId });
          this.install(client);
          return client;
        } catch (error) {
          await this.audit.record({ action: 'client.rotate', actor, outcome: 'failure', target: stored.clientId, detail: safeDetail(error) });
          throw error;
        }
      },
      PROVISION_LOCK,
    );
  }

  async onApplicationShutdown(): Promise<void> {
    // A store built from options is ours to close (a Redis connection); an instance passed in is its owner's.
    if (this.store && !isCredentialStore(this.options.store)) await this.store.close?.();
  }

  /** The probe: its verdict goes to IdentityStatus; `invalid_client` fails the boot under `require`. */
  private async verify(): Promise<void> {
    const scopes = this.options.autoProvision ? this.options.autoProvision.scopes : undefined;
    const result = await this.credentials.probe(scopes);
    if (result.valid) {
      this.logger.log(`Client "${result.clientId}" verified with a client_credentials request`);
    } else if (result.oauthError) {
      const error = new IdentityClientCredentialsError(result.clientId, result.oauthError);
      if (this.options.require) throw error;
      this.logger.error(error.message);
    } else {
      this.logger.warn(`Could not probe client "${result.clientId}": ${result.reason}`);
    }
  }

  private async provisionAtBoot(spec: AutoProvisionOptions): Promise<{ created: boolean } | undefined> {
    try {
      return await this.provision(spec);
    } catch (error) {
      if (this.options.require || error instanceof IdentityConfigurationError) throw error;
      this.logger.error(`Auto-provisioning failed: ${safeDetail(error)}; the API has no client`);
      return undefined;
    }
  }

  private configuredCredentials() {
    const { clientId, clientSecret, tokenEndpointAuthMethod } = this.options.client ?? {};
    if (!clientId || !clientSecret) return undefined;
    // Unknown method: try post first with upstream s3db (it reads only the body), basic first elsewhere (RFC 6749's default).
    const guess: TokenEndpointAuthMethod = this.metadata.current()?.source === 's3db' ? 'client_secret_post' : 'client_secret_basic';
    return { clientId, clientSecret, tokenEndpointAuthMethod: tokenEndpointAuthMethod ?? guess };
  }

  private async readStored(): Promise<StoredApiClient | undefined> {
    if (!this.store) return undefined;
    // An app without a key may share a store that holds no client: only then is a key needed.
    // With a key, one read answers both questions (read() gives undefined when there is none).
    if (!this.box && (await this.store.get(API_CLIENT_KEY)) === undefined) return undefined;
    return this.records('to open the stored client').read(API_CLIENT_KEY);
  }

  private install(client: StoredApiClient): void {
    const records = this.records('to open the stored client');
    this.credentials.use(toCredentials(client), {
      methodKnown: true,
      reload: async () => {
        const fresh = await records.read(API_CLIENT_KEY);
        return fresh && toCredentials(fresh);
      },
    });
  }

  private records(why: string): SealedRecords<StoredApiClient> {
    if (!this.store) throw new IdentityConfigurationError('store', `is required ${why}`);
    return apiClientRecords(this.store, requireSecretBox(this.box, why));
  }
}


/** The stored record's method was validated on read (client_secret_basic or client_secret_post). */
function toCredentials(client: StoredApiClient): ClientCredentials {
  return { clientId: client.clientId, clientSecret: client.clientSecret, tokenEndpointAuthMethod: client.tokenEndpointAuthMethod as TokenEndpointAuthMethod };
}
