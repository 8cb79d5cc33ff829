import { ConflictException, Inject, Injectable, Logger, Optional, ServiceUnavailableException, type OnApplicationShutdown } from '@nestjs/common';
import { judgeRotation, providerLabel, rotationConfirmed, type RotationOutcome } from '../admin/rotation-check.js';
import { secretProbeFor } from '../admin/secret-probe.js';
import { IDENTITY_SERVICE_ACCOUNT_PROVIDER, type RotateServiceAccountOptions, type ServiceAccountProvider } from '../admin/service-account-provider.js';
import { IdentityAudit } from '../audit/identity-audit.service.js';
import { safeDetail } from '../audit/safe-detail.js';
import { IdentityConfigurationError } from '../errors/identity-configuration.error.js';
import { InjectIdentityOptions } from '../identity-options.token.js';
import type { AutoProvisionOptions, ResolvedIdentityOptions, TokenEndpointAuthMethod } from '../identity-options.js';
import { IdentityMetadataService } from '../metadata/identity-metadata.service.js';
import { IdentityStatus } from '../health/identity-status.js';
import { API_CLIENT_KEY, apiClientRecords, otherSecretOf, type StoredApiClient } from './api-client-records.js';
import { ClientCredentialsService, type InstalledCredentials } from './client-credentials.service.js';
import { IdentityClientCredentialsError } from './client-credentials.error.js';
import { isCredentialStore } from './credential-store.factory.js';
import { IDENTITY_CREDENTIAL_STORE, type CredentialStore } from './credential-store.js';
import type { SecretBox } from './secret-box.js';
import { IDENTITY_SECRET_BOX, requireSecretBox } from './secret-box.provider.js';
import type { SealedRecords } from './sealed-records.js';

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
    private readonly status: IdentityStatus,
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
      this.install(await this.recoverInterruptedRotation(stored));
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

  /**
   * A new secret for the stored client through the ServiceAccountProvider, judged like a service
   * account's and used at once. Crash-safe in steps: mark the record, rotate at the provider, write
   * the new secret as pending, judge, then promote it (the previous one stays sealed beside it while
   * it may still work). A secret the provider issued is never dropped: if a later step fails the
   * record stays marked with it pending, and the next boot or rotation settles which one the
   * provider accepts (settleInterruptedRotation). 501 when the provider kept the secret. Never
   * returns a secret.
   */
  async rotate(actor: string, options: RotateServiceAccountOptions = {}): Promise<ApiClientRotation> {
    const records = this.records('to rotate the stored client');
    return this.store!.withLock(
      PROVISION_LOCK_NAME,
      async () => {
        let stored = await records.read(API_CLIENT_KEY);
        if (!stored) {
          throw new ConflictException('no provisioned client is stored, so there is nothing to rotate here; credentials passed as client.clientId/clientSecret are rotated in the provider\'s console');
        }
        // A rotation the CLI or another replica left half done is settled first: its pending secret may be the one in force.
        if (stored.rotationStartedAt) {
          const settled = await this.settleInterruptedRotation(stored);
          if (!settled) throw new ServiceUnavailableException('an interrupted rotation of the API client could not be settled (the token endpoint did not answer); try again shortly');
          stored = settled;
        }
        const base: StoredApiClient = withoutRotation(stored);
        let kept: StoredApiClient = base;
        let issued: string | undefined;
        try {
          await records.write(API_CLIENT_KEY, { ...base, rotationStartedAt: new Date().toISOString() });
          const rotated = await this.provider.rotate(base, options);
          // The provider may have rotated the registration access token too: keep it whatever happens next.
          kept = { ...base, registrationAccessToken: rotated.record.registrationAccessToken ?? base.registrationAccessToken, registrationClientUri: rotated.record.registrationClientUri ?? base.registrationClientUri };
          await records.write(API_CLIENT_KEY, { ...kept, rotationStartedAt: new Date().toISOString(), pendingClientSecret: rotated.clientSecret });
          if (rotated.clientSecret !== base.clientSecret) issued = rotated.clientSecret;
          const outcome = await judgeRotation({ ...rotated, previousSecret: rotated.previousSecret ?? base.clientSecret }, secretProbeFor(this.provider, this.metadata, base), providerLabel(this.provider));
          // The old secret stays beside the new one while it may work: a grace window, or a provider that still accepts it.
          const previousUntil = outcome.previousSecretValidUntil ?? (outcome.previousSecret === 'refused' ? undefined : new Date(Date.now() + INTERRUPTED_PREVIOUS_GRACE_MS).toISOString());
          const client: StoredApiClient = {
            ...rotated.record,
            clientId: base.clientId,
            clientSecret: rotated.clientSecret,
            rotatedAt: rotated.record.rotatedAt ?? new Date().toISOString(),
            ...(previousUntil ? { previousClientSecret: base.clientSecret, previousSecretValidUntil: previousUntil } : {}),
          };
          this.install(client);
          await records.write(API_CLIENT_KEY, withoutPending(client));
          const confirmed = rotationConfirmed(outcome);
          await this.audit.record({ action: 'client.rotate', actor, outcome: confirmed ? 'success' : 'unconfirmed', target: client.clientId, ...(confirmed ? {} : { detail: `the previous secret may still work: ${outcome.reason}` }) });
          return { clientId: client.clientId, rotatedAt: client.rotatedAt!, ...outcome };
        } catch (error) {
          if (issued === undefined) {
            // Nothing new at the provider: the stored secret stays the one in force (with a rotated management handle).
            await records.write(API_CLIENT_KEY, kept).catch(() => undefined);
          } else {
            // The provider issued a secret: it stays pending beside the old one, used as the fallback, until settled.
            this.install({ ...kept, rotationStartedAt: new Date().toISOString(), pendingClientSecret: issued });
            await records.write(API_CLIENT_KEY, { ...kept, rotationStartedAt: new Date().toISOString(), pendingClientSecret: issued }).catch(() => undefined);
          }
          await this.audit.record({ action: 'client.rotate', actor, outcome: 'failure', target: stored.clientId, detail: safeDetail(error) });
          throw error;
        }
      },
      PROVISION_LOCK,
    );
  }

  /** At boot: settles a rotation the process died in, under the lock (see settleInterruptedRotation). */
  private async recoverInterruptedRotation(stored: StoredApiClient): Promise<StoredApiClient> {
    if (!stored.rotationStartedAt || this.metadata.current() === undefined) return stored;
    const records = this.records('to open the stored client');
    return this.store!.withLock(
      PROVISION_LOCK_NAME,
      async () => {
        const fresh = (await records.read(API_CLIENT_KEY)) ?? stored;
        if (!fresh.rotationStartedAt) return fresh;
        // Unsettled (the token endpoint did not answer): keep the record as it is; the pending secret is the fallback.
        return (await this.settleInterruptedRotation(fresh)) ?? fresh;
      },
      PROVISION_LOCK,
    );
  }

  /**
   * A record still marked by a rotation that never finished: keep the secret the provider accepts.
   * - the pending secret is accepted: promoted (the old one kept as previous for a day);
   * - it is refused (or there is none) and the old one is accepted: the old one stays;
   * - both refused: the provider holds a secret we never stored (a crash between its answer and our
   *   first write); the credential check turns red with what to do, and the record is left as is;
   * - the endpoint cannot tell: undefined, nothing is dropped (settled at the next boot or rotation).
   * Call it under the provisioning lock.
   */
  private async settleInterruptedRotation(fresh: StoredApiClient): Promise<StoredApiClient | undefined> {
    const records = this.records('to open the stored client');
    const probe = secretProbeFor(this.provider, this.metadata, fresh);
    const pending = fresh.pendingClientSecret;
    const pendingResult = pending ? await probe(pending) : 'refused';
    let settled: StoredApiClient | undefined;
    if (pending && pendingResult === 'accepted') {
      settled = { ...withoutRotation(fresh), clientSecret: pending, rotatedAt: fresh.rotationStartedAt, previousClientSecret: fresh.clientSecret, previousSecretValidUntil: new Date(Date.now() + INTERRUPTED_PREVIOUS_GRACE_MS).toISOString() };
      this.logger.warn(`Client "${fresh.clientId}": finished a rotation interrupted at ${fresh.rotationStartedAt} (the provider had issued the new secret)`);
    } else {
      const oldResult = await probe(fresh.clientSecret);
      if (pendingResult === 'unknown' || oldResult === 'unknown') {
        this.logger.warn(`Client "${fresh.clientId}": a rotation interrupted at ${fresh.rotationStartedAt} could not be settled (the token endpoint did not answer); both secrets are kept`);
        return undefined;
      }
      if (oldResult === 'accepted') {
        settled = withoutRotation(fresh);
        this.logger.warn(`Client "${fresh.clientId}": a rotation interrupted at ${fresh.rotationStartedAt} had not changed the secret; kept it`);
      }
    }
    if (!settled) {
      const reason = `client "${fresh.clientId}": a rotation interrupted at ${fresh.rotationStartedAt} left a secret the provider refuses; reset the client's secret in the provider's console and store it with \`nestjs-identity client provision --replace\`, or register a new one`;
      this.status.recordCredentialValidation(false, reason);
      this.logger.error(reason);
      return fresh;
    }
    await records.write(API_CLIENT_KEY, settled);
    await this.audit.record({ action: 'client.rotate.recover', actor: 'system', outcome: 'success', target: fresh.clientId });
    return settled;
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
      // Another replica (or the CLI) may have rotated: the store is the truth, re-read on invalid_client.
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
function toCredentials(client: StoredApiClient): InstalledCredentials {
  return { clientId: client.clientId, clientSecret: client.clientSecret, tokenEndpointAuthMethod: client.tokenEndpointAuthMethod as TokenEndpointAuthMethod, otherSecret: otherSecretOf(client) };
}

/** What a rotation of the API's own client answers: never the secret (it stays sealed in the store). */
export interface ApiClientRotation extends RotationOutcome {
  clientId: string;
  rotatedAt: string;
}

/** An old secret that may still work (a settled interruption, a provider still accepting it) is kept as the fallback for a day. */
const INTERRUPTED_PREVIOUS_GRACE_MS = 24 * 3600_000;

function withoutPending(client: StoredApiClient): StoredApiClient {
  const { rotationStartedAt: _started, pendingClientSecret: _pending, ...rest } = client;
  return rest;
}

/** The record with no rotation in progress and no previous secret (a new rotation replaces both). */
function withoutRotation(client: StoredApiClient): StoredApiClient {
  const { previousClientSecret: _previous, previousSecretValidUntil: _until, ...rest } = withoutPending(client);
  return rest;
}
