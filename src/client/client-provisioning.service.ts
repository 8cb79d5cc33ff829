import { ConflictException, Inject, Injectable, Logger, Optional, type OnApplicationShutdown } from '@nestjs/common';
import { judgeRotation, type RotationOutcome } from '../admin/rotation-check.js';
import { tokenEndpointProbe } from '../admin/secret-probe.js';
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
   * account's (501 kept, 502 old still accepted) and used at once. Crash-safe in steps: mark the
   * record, rotate at the provider, write the new secret as pending, judge, then promote it (the
   * previous one stays sealed beside it while the provider's grace window lasts). A boot that finds
   * the mark finishes or undoes the rotation (recoverInterruptedRotation). Never returns a secret.
   */
  async rotate(actor: string, options: RotateServiceAccountOptions = {}): Promise<ApiClientRotation> {
    const records = this.records('to rotate the stored client');
    return this.store!.withLock(
      PROVISION_LOCK_NAME,
      async () => {
        const stored = await records.read(API_CLIENT_KEY);
        if (!stored) {
          throw new ConflictException('no provisioned client is stored, so there is nothing to rotate here; credentials passed as client.clientId/clientSecret are rotated in the provider\'s console');
        }
        const base: StoredApiClient = withoutRotation(stored);
        let kept: StoredApiClient = base;
        try {
          await records.write(API_CLIENT_KEY, { ...base, rotationStartedAt: new Date().toISOString() });
          const rotated = await this.provider.rotate(base, options);
          // The provider may have rotated the registration access token too: keep it whatever happens next.
          kept = { ...base, registrationAccessToken: rotated.record.registrationAccessToken ?? base.registrationAccessToken, registrationClientUri: rotated.record.registrationClientUri ?? base.registrationClientUri };
          await records.write(API_CLIENT_KEY, { ...kept, rotationStartedAt: new Date().toISOString(), pendingClientSecret: rotated.clientSecret });
          const outcome = await judgeRotation({ ...rotated, previousSecret: rotated.previousSecret ?? base.clientSecret }, this.secretProbe(base), this.provider.kind && this.provider.kind !== 'rfc7592' ? `the ${this.provider.kind} provider` : 'the provider');
          const client: StoredApiClient = {
            ...rotated.record,
            clientId: base.clientId,
            clientSecret: rotated.clientSecret,
            rotatedAt: rotated.record.rotatedAt ?? new Date().toISOString(),
            ...(outcome.previousSecretValidUntil ? { previousClientSecret: base.clientSecret, previousSecretValidUntil: outcome.previousSecretValidUntil } : {}),
          };
          await records.write(API_CLIENT_KEY, withoutPending(client));
          this.install(client);
          const unconfirmed = outcome.previousSecret === 'unconfirmed';
          await this.audit.record({ action: 'client.rotate', actor, outcome: unconfirmed ? 'unconfirmed' : 'success', target: client.clientId, ...(unconfirmed ? { detail: `the previous secret may still work: ${outcome.reason}` } : {}) });
          return { clientId: client.clientId, rotatedAt: client.rotatedAt!, ...outcome };
        } catch (error) {
          // The stored secret stays the one in force; only a rotated management handle is kept.
          await records.write(API_CLIENT_KEY, kept).catch(() => undefined);
          await this.audit.record({ action: 'client.rotate', actor, outcome: 'failure', target: stored.clientId, detail: safeDetail(error) });
          throw error;
        }
      },
      PROVISION_LOCK,
    );
  }

  /**
   * A record still marked by a rotation that never finished (the process died in it): keep the
   * secret the provider accepts. The pending secret, if the provider took it, is promoted (the old
   * one kept as previous); otherwise the current one stays. When neither is accepted, the provider
   * holds a secret we never stored (the crash fell between its answer and our first write): the
   * credential check turns red with what to do.
   */
  private async recoverInterruptedRotation(stored: StoredApiClient): Promise<StoredApiClient> {
    if (!stored.rotationStartedAt || this.metadata.current() === undefined) return stored;
    const records = this.records('to open the stored client');
    return this.store!.withLock(
      PROVISION_LOCK_NAME,
      async () => {
        const fresh = (await records.read(API_CLIENT_KEY)) ?? stored;
        if (!fresh.rotationStartedAt) return fresh;
        const probe = this.secretProbe(fresh);
        const pending = fresh.pendingClientSecret;
        let recovered: StoredApiClient | undefined;
        if (pending && (await probe(pending)) === 'accepted') {
          recovered = { ...withoutRotation(fresh), clientSecret: pending, rotatedAt: fresh.rotationStartedAt, previousClientSecret: fresh.clientSecret, previousSecretValidUntil: new Date(Date.now() + INTERRUPTED_PREVIOUS_GRACE_MS).toISOString() };
          this.logger.warn(`Client "${fresh.clientId}": finished a rotation interrupted at ${fresh.rotationStartedAt} (the provider had issued the new secret)`);
        } else if ((await probe(fresh.clientSecret)) !== 'refused') {
          recovered = withoutRotation(fresh);
          this.logger.warn(`Client "${fresh.clientId}": a rotation interrupted at ${fresh.rotationStartedAt} had not changed the secret; kept it`);
        }
        if (!recovered) {
          const reason = `client "${fresh.clientId}": a rotation interrupted at ${fresh.rotationStartedAt} left a secret the provider refuses; reset the client's secret in the provider's console and store it with \`nestjs-identity client provision --replace\`, or register a new one`;
          this.status.recordCredentialValidation(false, reason);
          this.logger.error(reason);
          return fresh;
        }
        await records.write(API_CLIENT_KEY, recovered);
        await this.audit.record({ action: 'client.rotate.recover', actor: 'system', outcome: 'success', target: fresh.clientId });
        return recovered;
      },
      PROVISION_LOCK,
    );
  }

  private secretProbe(client: StoredApiClient) {
    return tokenEndpointProbe(this.metadata.current()?.tokenUrl, { clientId: client.clientId, tokenEndpointAuthMethod: client.tokenEndpointAuthMethod, audience: client.audience }, this.metadata.policy());
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

/** After a recovered interruption the old secret may still be within a grace window we cannot know: try it for a day. */
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
