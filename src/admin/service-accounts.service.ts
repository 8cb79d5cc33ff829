import { ConflictException, HttpException, Inject, Injectable, NotFoundException, Optional, ServiceUnavailableException } from '@nestjs/common';
import { setupErrorsAsHttp } from './setup-errors.js';
import { IdentityAudit } from '../audit/identity-audit.service.js';
import { safeDetail } from '../audit/safe-detail.js';
import { IDENTITY_CREDENTIAL_STORE, type CredentialStore } from '../client/credential-store.js';
import { CredentialLockTimeoutError } from '../client/memory-credential-store.js';
import type { SecretBox } from '../client/secret-box.js';
import { IDENTITY_SECRET_BOX, requireSecretBox } from '../client/secret-box.provider.js';
import { IdentityConfigurationError } from '../errors/identity-configuration.error.js';
import { IdentityMetadataService } from '../metadata/identity-metadata.service.js';
import { RevocationService } from '../revocation/revocation.service.js';
import { TokenAuthenticator } from '../tokens/token-authenticator.service.js';
import { ProviderRequestError } from './provider-request.error.js';
import { judgeRotation, providerLabel, rotationConfirmed, type RotationOutcome } from './rotation-check.js';
import { secretProbeFor } from './secret-probe.js';
import { isClientId, parseRotateRequest, parseServiceAccountInput, parseServiceAccountRef } from './service-account-input.js';
import { IDENTITY_SERVICE_ACCOUNT_PROVIDER, type ServiceAccountProvider, type ServiceAccountRecord } from './service-account-provider.js';
import { ServiceAccountRecords } from './service-account-records.js';

/** A managed service account as callers see it: no registration handle or token. */
export type ServiceAccountView = Omit<ServiceAccountRecord, 'registrationClientUri' | 'registrationAccessToken'>;

/** Create and rotate answers: the secret, shown this once and never stored. */
export interface IssuedServiceAccountView extends ServiceAccountView {
  clientSecret: string;
}

/** A rotate answer: the new secret plus what became of the old one (see RotationOutcome). */
export interface RotatedServiceAccountView extends IssuedServiceAccountView, RotationOutcome {
  /** Whether tokens issued to the account before the rotation were revoked. */
  tokensRevoked: boolean;
}

export interface ServiceAccountDetails extends ServiceAccountView {
  /** What the provider says: `present`, `missing` (deleted there), or `unknown` (it cannot tell: no RFC 7592). */
  atProvider: 'present' | 'missing' | 'unknown';
}

const LOCK = { ttlMs: 60_000, waitMs: 30_000 };
const CREATE_LOCK = 'service-accounts:create';


/** The RFC 7592 handle the provider rotated during an operation, when it did: it must be kept whatever the outcome. */
function managementHandle(before: ServiceAccountRecord, after: ServiceAccountRecord): Pick<ServiceAccountRecord, 'registrationAccessToken' | 'registrationClientUri'> | undefined {
  if (after.registrationAccessToken === before.registrationAccessToken && after.registrationClientUri === before.registrationClientUri) return undefined;
  return { registrationAccessToken: after.registrationAccessToken, registrationClientUri: after.registrationClientUri };
}

function view(record: ServiceAccountRecord): ServiceAccountView {
  const { clientId, name, scopes, audience, createdAt, rotatedAt, tokenEndpointAuthMethod } = record;
  return { clientId, name, scopes, audience, createdAt, rotatedAt, tokenEndpointAuthMethod };
}

/**
 * Service accounts this API manages: the one code path behind the admin routes and the CLI.
 * Locks per account (rotations of one account run one at a time, across replicas sharing the
 * store), records every create/rotate/delete in the audit log, and drops cached verifications of
 * an account after its secret changes or it is deleted.
 */
@Injectable()
export class ServiceAccountsService {
  constructor(
    private readonly metadata: IdentityMetadataService,
    private readonly audit: IdentityAudit,
    private readonly authenticator: TokenAuthenticator,
    @Inject(IDENTITY_SERVICE_ACCOUNT_PROVIDER) private readonly provider: ServiceAccountProvider,
    private readonly revocations: RevocationService,
    @Optional() @Inject(IDENTITY_CREDENTIAL_STORE) private readonly store?: CredentialStore,
    @Optional() @Inject(IDENTITY_SECRET_BOX) private readonly box?: SecretBox,
  ) {}

  /** Registers an account at the provider; the answer holds its secret, once. 400/409/501/502 on failure. */
  create(body: unknown, actor: string): Promise<IssuedServiceAccountView> {
    return this.audited('service-account.create', actor, undefined, async () => {
      const input = parseServiceAccountInput(body, this.metadata.current()?.supportedScopes);
      const records = this.records();
      return this.locked(CREATE_LOCK, async () => {
        if ((await records.list()).some((record) => record.name === input.name)) {
          throw new ConflictException(`a service account named "${input.name}" already exists; rotate it, or pick another name`);
        }
        const issued = await this.provider.create(input);
        try {
          if (!isClientId(issued.record.clientId)) throw new ProviderRequestError('Client registration', 'the provider returned a client id that cannot be stored safely');
          await records.write(issued.record);
        } catch (error) {
          // An account whose secret nobody will ever see must not stay at the provider.
          await this.provider.delete(issued.record).catch(() => undefined);
          throw error instanceof ProviderRequestError ? error : new ProviderRequestError('Client registration', 'the new account could not be stored here, so it was deleted at the provider again; try again');
        }
        return { ...view(issued.record), clientSecret: issued.clientSecret };
      });
    });
  }

  /**
   * A new secret for the account (id or name), judged honestly: 501 when the provider kept the old
   * secret (nothing changed); otherwise the new secret with what became of the old one
   * (`refused`, `valid-until`, or, never as a success, `still-accepted` / `unconfirmed`). On failure the stored record keeps its secret and rotation time; only a
   * management handle the provider rotated on the way is kept (else the account would become
   * unmanageable). Body: `{ revokeTokens?, invalidatePrevious? }`, or none.
   */
  rotate(ref: string, actor: string, body?: unknown): Promise<RotatedServiceAccountView> {
    return this.audited('service-account.rotate', actor, ref, async () => {
      const request = parseRotateRequest(body);
      const records = this.records();
      const clientId = (await this.find(ref)).clientId;
      return this.locked(`service-account:${clientId}`, async () => {
        // Re-read under the lock: a rotation that held it before us changed the registration access token.
        const record = (await records.read(clientId)) ?? this.notFound(clientId);
        // `iat` has whole seconds: tokens from the rotation's own second pass, so that a client
        // fetching a token with its new secret at once is not refused.
        const before = new Date(Math.floor(Date.now() / 1000) * 1000);
        const rotated = await this.provider.rotate(record, { invalidatePrevious: request.invalidatePrevious });
        const handle = managementHandle(record, rotated.record);
        if (handle) await records.write({ ...record, ...handle });
        const outcome = await judgeRotation(rotated, secretProbeFor(this.provider, this.metadata, record), providerLabel(this.provider));
        // The provider holds the new secret now: a failed write here must not keep it from the caller.
        await records.write({ ...rotated.record, clientId, rotatedAt: rotated.record.rotatedAt ?? new Date().toISOString() }).catch((error: unknown) =>
          this.audit.record({ action: 'service-account.rotate.store', actor, outcome: 'failure', target: clientId, detail: safeDetail(error) }),
        );
        this.authenticator.forgetClient(clientId);
        const tokensRevoked = request.revokeTokens ? await this.revokeTokensOf(clientId, before, actor) : false;
        return { ...view(rotated.record), clientId, clientSecret: rotated.clientSecret, ...outcome, tokensRevoked };
      });
    });
  }

  /** The stored record plus whether the provider still has the account. */
  async get(ref: string): Promise<ServiceAccountDetails> {
    return setupErrorsAsHttp(async () => {
      const record = await this.find(ref);
      let atProvider: ServiceAccountDetails['atProvider'];
      try {
        atProvider = (await this.provider.get(record)) ? 'present' : 'missing';
      } catch (error) {
        if (!(error instanceof HttpException) || error.getStatus() !== 501) throw error;
        atProvider = 'unknown';
      }
      return { ...view(record), atProvider };
    });
  }

  list(): Promise<ServiceAccountView[]> {
    return setupErrorsAsHttp(async () => {
      const records = await this.records().list();
      return records.map(view).sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name));
    });
  }

  /** Deletes the account at the provider, then its record. 501 (record kept) when the provider cannot. */
  delete(ref: string, actor: string): Promise<void> {
    return this.audited('service-account.delete', actor, ref, async () => {
      const records = this.records();
      const clientId = (await this.find(ref)).clientId;
      await this.locked(`service-account:${clientId}`, async () => {
        const record = (await records.read(clientId)) ?? this.notFound(clientId);
        await this.provider.delete(record);
        await records.delete(clientId);
        this.authenticator.forgetClient(clientId);
        // No new token can be issued to a deleted account: everything issued until now goes.
        await this.revokeTokensOf(clientId, new Date(), actor);
      });
    });
  }

  /** By client id, else by (unique) name: `rotate --client-id orders-worker` works either way. */
  private async find(ref: string): Promise<ServiceAccountRecord> {
    const checked = parseServiceAccountRef(ref);
    const records = this.records();
    const byId = isClientId(checked) ? await records.read(checked) : undefined;
    if (byId) return byId;
    return (await records.list()).find((record) => record.name === checked) ?? this.notFound(checked);
  }

  /**
   * Revokes the account's tokens issued before `before`; false when revocation is off or failed.
   * A failure (list full, Redis away) never undoes the operation it follows: the new secret must
   * still reach the caller. It is logged and audited, and the answer says `tokensRevoked: false`.
   */
  private async revokeTokensOf(clientId: string, before: Date, actor: string): Promise<boolean> {
    if (!this.revocations.enabled) return false;
    try {
      await this.revocations.revoke({ clientId, before, reason: 'service account rotated or deleted' }, actor);
      return true;
    } catch (error) {
      await this.audit.record({ action: 'service-account.revoke-tokens', actor, outcome: 'failure', target: clientId, detail: safeDetail(error) });
      return false;
    }
  }

  private notFound(ref: string): never {
    throw new NotFoundException(`no service account "${ref}" is managed by this API`);
  }

  private records(): ServiceAccountRecords {
    if (!this.store) throw new IdentityConfigurationError('store', 'is required to manage service accounts (e.g. { type: "file", path: ".identity/credentials.json" })');
    return new ServiceAccountRecords(this.store, requireSecretBox(this.box, 'to manage service accounts'));
  }

  private async locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await this.store!.withLock(name, fn, LOCK);
    } catch (error) {
      if (error instanceof CredentialLockTimeoutError) throw new ServiceUnavailableException(`another operation on ${name} is still running; try again shortly`);
      throw error;
    }
  }

  /** Runs an operation and records its outcome. The target is named only once it passed validation. */
  private async audited<T extends { clientId: string } | void>(action: string, actor: string, ref: string | undefined, run: () => Promise<T>): Promise<T> {
    const target = (): string | undefined => (ref !== undefined && isClientId(ref) ? ref : undefined);
    try {
      const result = await setupErrorsAsHttp(run);
      const outcome = result && 'previousSecret' in result ? (result as RotationOutcome) : undefined;
      const unconfirmed = outcome !== undefined && !rotationConfirmed(outcome);
      await this.audit.record({
        action,
        actor,
        outcome: unconfirmed ? 'unconfirmed' : 'success',
        target: result?.clientId ?? target(),
        ...(unconfirmed ? { detail: `the previous secret may still work: ${outcome!.reason}` } : {}),
      });
      return result;
    } catch (error) {
      await this.audit.record({ action, actor, outcome: 'failure', target: target(), detail: safeDetail(error) });
      throw error;
    }
  }
}
