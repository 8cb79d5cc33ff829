import { HttpException, Inject, Injectable, Logger, NotFoundException, Optional, PayloadTooLargeException, ServiceUnavailableException, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { IdentityAudit } from '../audit/identity-audit.service.js';
import { safeDetail } from '../audit/safe-detail.js';
import { IDENTITY_CREDENTIAL_STORE, type CredentialStore } from '../client/credential-store.js';
import { IdentityConfigurationError } from '../errors/identity-configuration.error.js';
import { IdentityStatus } from '../health/identity-status.js';
import type { Identity } from '../identity/identity.js';
import { InjectIdentityOptions } from '../identity-options.token.js';
import type { ResolvedIdentityOptions } from '../identity-options.js';
import { IdentityMetrics } from '../metrics/identity.metrics.js';
import { describeRevocation, isRevocationId, parseRevokeInput, recordedActor, toRevocationView, type RevocationRecord, type RevocationView, type RevokeInput } from './revocation.js';
import { RevocationList } from './revocation-list.js';
import { type RevocationSync, type RevocationSyncTarget } from './revocation-sync.js';
import { within } from '../deadline.js';
import { createRevocationSync } from './revocation-sync.factory.js';

/** How long the boot waits for the first full load of the list. */
const BOOT_LOAD_TIMEOUT_MS = 10_000;
/** How often expired revocations are forgotten. */
const PRUNE_INTERVAL_MS = 60_000;

/** Told which cached verifications a change revokes: `matches(identity)`. */
export type RevokedListener = (matches: (identity: Identity) => boolean) => void;

/**
 * Token revocation: the one code path behind the admin routes, the CLI and the service-accounts
 * service. Validates, bounds, audits, shares each change through the sync (Redis, the store, or
 * none), and keeps the in-memory RevocationList that isRevoked() reads on every request.
 *
 * A fresh replica loads the whole list before it serves (boot waits; until then tokens get 503);
 * when the sync is interrupted the known revocations keep applying and health turns `degraded`.
 */
@Injectable()
export class RevocationService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('IdentityRevocation');
  private readonly revocations = new RevocationList();
  private readonly listeners = new Set<RevokedListener>();
  /** This replica in sync messages. */
  private readonly origin = randomUUID();
  private sync?: RevocationSync;
  private pruneTimer?: NodeJS.Timeout;
  private interrupted = false;

  constructor(
    @InjectIdentityOptions() private readonly options: ResolvedIdentityOptions,
    private readonly status: IdentityStatus,
    private readonly metrics: IdentityMetrics,
    private readonly audit: IdentityAudit,
    @Optional() @Inject(IDENTITY_CREDENTIAL_STORE) private readonly store?: CredentialStore,
  ) {}

  /** False with `revocation: { enabled: false }`: nothing is checked, and revoke() answers 404. */
  get enabled(): boolean {
    return this.options.revocation.enabled;
  }

  /** Whether a verified token is revoked. Synchronous, no I/O: the authenticator asks on every request, cache hits included. */
  isRevoked(identity: Identity): boolean {
    return this.revocations.isRevoked(identity);
  }

  /** Hear of every change that revokes tokens (a new revocation, a resync), to drop cached verifications. */
  onRevoked(listener: RevokedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async onModuleInit(): Promise<void> {
    if (!this.enabled) return;
    const sync = (this.sync = createRevocationSync(this.options, this.store, this.origin, (message) => this.logger.warn(message)));
    this.status.recordRevocationSyncStarting(sync.kind);
    try {
      await within(sync.start(this.target), BOOT_LOAD_TIMEOUT_MS, 'loading the revocation list');
    } catch (error) {
      const timedOut = error instanceof Error && error.message.includes('did not finish within');
      const reason = timedOut ? (error as Error).message : safeDetail(error);
      this.status.recordRevocationSyncFailure(`revocation list not loaded: ${reason}`);
      if (this.options.require) {
        await sync.close().catch(() => undefined);
        // The store's own error says best what is wrong with it (a corrupt file, a missing peer dependency).
        if (!timedOut) throw error;
        const option = sync.kind === 'redis' ? 'store.url' : 'store';
        throw new IdentityConfigurationError(option, `the revocation list could not be loaded (${reason}): a revoked token could pass. Make the store reachable, or set require: false to boot anyway (tokens are refused with 503 until the list loads)`);
      }
      this.logger.error(`The revocation list could not be loaded (${reason}): tokens are refused with 503 until it loads`);
    }
    this.pruneTimer = setInterval(() => this.prune(), PRUNE_INTERVAL_MS);
    this.pruneTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.pruneTimer);
    await this.sync?.close().catch(() => undefined);
  }

  /**
   * Revokes the tokens of a client, a subject, or one jti, issued before `before` (default now).
   * 400 naming the field, 404 when revocation is disabled, 413 beyond `revocation.maxEntries`,
   * 503 when the shared copy cannot be written (nothing applies then). Audited as `revocation.create`.
   */
  revoke(input: RevokeInput, actor: string): Promise<RevocationView> {
    return this.audited('revocation.create', actor, async () => {
      const parsed = parseRevokeInput(input);
      const sync = this.requireSync();
      if (this.revocations.size >= this.options.revocation.maxEntries) {
        throw new PayloadTooLargeException(
          `the revocation list is full (revocation.maxEntries = ${this.options.revocation.maxEntries}): remove entries no longer needed, or raise the option`,
        );
      }
      const createdAt = Date.now();
      const record: RevocationRecord = Object.freeze({
        id: randomUUID(),
        kind: parsed.kind,
        value: parsed.value,
        before: parsed.before ?? createdAt,
        createdAt,
        // Every token it can match has expired by then: issued before `before` ≤ createdAt, living at most maxTokenLifetimeSeconds (+ tolerance).
        expiresAt: createdAt + (this.options.revocation.maxTokenLifetimeSeconds + this.options.clockTolerance) * 1000,
        ...(parsed.reason === undefined ? {} : { reason: parsed.reason }),
        createdBy: recordedActor(actor),
      });
      await this.shared(() => sync.publish(record));
      this.apply(record);
      this.metrics.revocationCreated(record.kind);
      return { result: toRevocationView(record), target: record.id, detail: describeRevocation(record) };
    });
  }

  /** Every revocation in force, oldest first. Ids and times only: never a token. */
  async list(): Promise<RevocationView[]> {
    const now = Date.now();
    return this.revocations
      .all()
      .filter((record) => record.expiresAt > now)
      .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id))
      .map(toRevocationView);
  }

  /** Withdraws a revocation everywhere. 404 for an unknown id. Audited as `revocation.delete`. */
  remove(id: string, actor: string): Promise<void> {
    return this.audited('revocation.delete', actor, async () => {
      const sync = this.requireSync();
      const record = isRevocationId(id) ? this.revocations.get(id) : undefined;
      if (record === undefined) throw new NotFoundException(isRevocationId(id) ? `no revocation "${id}" is in force` : 'no such revocation');
      await this.shared(() => sync.withdraw(id));
      this.revocations.remove(id);
      this.status.recordRevocationEntries(this.revocations.size);
      return { result: undefined, target: id, detail: describeRevocation(record) };
    });
  }

  /** What the sync reports, applied to the list. */
  private readonly target: RevocationSyncTarget = {
    loaded: (records) => {
      const now = Date.now();
      this.revocations.replace(records.filter((record) => record.expiresAt > now));
      // Whatever was missed while away: one pass over the cache against the whole list.
      this.notify((identity) => this.revocations.isRevoked(identity));
      this.status.recordRevocationSync(this.revocations.size);
      if (this.interrupted) this.logger.log(`Revocation sync restored: ${this.revocations.size} revocation(s) loaded`);
      this.interrupted = false;
    },
    added: (record, publishedAt) => {
      if (record.expiresAt <= Date.now() || !this.apply(record)) return;
      if (publishedAt !== undefined) this.metrics.revocationSynced((Date.now() - publishedAt) / 1000);
    },
    removed: (id) => {
      if (this.revocations.remove(id)) this.status.recordRevocationEntries(this.revocations.size);
    },
    interrupted: (reason) => {
      if (!this.interrupted) this.logger.warn(`Revocation sync interrupted (${reason}): known revocations keep applying; new ones may be missed until it is restored`);
      this.interrupted = true;
      this.status.recordRevocationSyncFailure(reason);
    },
    ignored: (why) => {
      this.metrics.revocationMessageIgnored();
      this.logger.warn(`Ignored: ${why}`);
    },
    notice: (message) => this.logger.warn(message),
    current: () => this.revocations.all(),
  };

  /** Adds a record to the list and drops the cached verifications it revokes; false when it was there. */
  private apply(record: RevocationRecord): boolean {
    if (!this.revocations.add(record)) return false;
    this.notify((identity) => RevocationList.matches(record, identity));
    this.status.recordRevocationEntries(this.revocations.size);
    return true;
  }

  private notify(matches: (identity: Identity) => boolean): void {
    for (const listener of this.listeners) {
      try {
        listener(matches);
      } catch (error) {
        this.logger.error(`A revocation listener failed (${safeDetail(error)})`);
      }
    }
  }

  private prune(): void {
    const expired = this.revocations.prune();
    if (expired.length === 0) return;
    this.status.recordRevocationEntries(this.revocations.size);
    this.sync?.expired?.(expired.map((record) => record.id)).catch((error: unknown) => this.logger.warn(`Expired revocations could not be deleted from the store (${safeDetail(error)})`));
  }

  private requireSync(): RevocationSync {
    if (!this.enabled) throw new NotFoundException('token revocation is disabled (revocation.enabled: false)');
    if (this.sync === undefined) throw new ServiceUnavailableException('token revocation is not started yet');
    return this.sync;
  }

  /** A write to the shared copy; failures other than ours (a store error) become a 503 in safe words. */
  private async shared(write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (error) {
      if (error instanceof HttpException) throw error;
      throw new ServiceUnavailableException(`the revocation could not be stored (${safeDetail(error)}); nothing was changed`, { cause: error });
    }
  }

  /** Runs an operation and records its outcome (the target and what it revoked, once known). */
  private async audited<T>(action: string, actor: string, run: () => Promise<{ result: T; target: string; detail: string }>): Promise<T> {
    try {
      const { result, target, detail } = await run();
      await this.audit.record({ action, actor, outcome: 'success', target, detail });
      return result;
    } catch (error) {
      await this.audit.record({ action, actor, outcome: 'failure', detail: safeDetail(error) });
      throw error;
    }
  }
}
