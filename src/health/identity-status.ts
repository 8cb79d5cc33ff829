import { Injectable } from '@nestjs/common';
import type { MetadataSource } from '../metadata/identity-metadata.js';

export type IdentityHealthState = 'up' | 'degraded' | 'down';

/** When a cached copy (metadata or JWKS) was fetched, until when it is fresh, and until when it may still be served. */
export interface ServingWindow {
  readonly fetchedAt: Date;
  readonly freshUntil: Date;
  readonly servesUntil: Date;
}

export interface IdentityStatusSnapshot {
  status: IdentityHealthState;
  lastMetadataRefresh?: string;
  lastJwksSync?: string;
  lastCredentialValidation?: string;
  credentialsValid?: boolean;
  metadataSource?: MetadataSource;
  metadataVersion?: number;
  /** Seconds since the metadata copy in use was fetched. */
  cacheAgeSeconds?: number;
  /** When tokens stop being accepted (ISO), if the provider stays unreachable: the earlier end of the metadata and JWKS windows. */
  servesUntil?: string;
  jwksKeys?: number;
  /** The last failure, in safe words (never a document's content, a token or a secret). */
  lastError?: string;
  /** Token revocation: present once the revocation list has started. */
  revocations?: RevocationStatusSnapshot;
  /** The service-account adapter's own admin credentials, once checked at boot. */
  serviceAccountProvider?: { kind: string; permissions: 'ok' | 'missing' | 'unchecked'; problem?: string };
}

/** Where revocations come from: Redis (every replica), the credential store (one replica), or this process only. */
export type RevocationSyncKind = 'redis' | 'store' | 'memory';

export interface RevocationStatusSnapshot {
  sync: RevocationSyncKind;
  /** `loading`: not loaded yet (tokens are refused with 503); `synced`; `degraded`: known revocations apply, new ones may be missed. */
  state: 'loading' | 'synced' | 'degraded';
  entries: number;
  /** When the whole list was last loaded (ISO). */
  lastSync?: string;
  /** Why the sync is degraded or still loading, in safe words. */
  error?: string;
}

const within = (window: ServingWindow | undefined, now: number): boolean => window !== undefined && now <= window.servesUntil.getTime();
const stale = (window: ServingWindow | undefined, now: number): boolean => window !== undefined && now > window.freshUntil.getTime();

/**
 * The one place the module's state lives. Services record what happened; the health indicator
 * and the gauges only read it.
 */
@Injectable()
export class IdentityStatus {
  private metadata?: ServingWindow & { source: MetadataSource; version: number };
  private metadataFailing = false;
  private jwks?: ServingWindow;
  private jwksKeys?: number;
  private jwksFailing = false;
  private lastCredentialValidation?: Date;
  private credentialsValid?: boolean;
  private lastError?: string;
  private revocations?: { sync: RevocationSyncKind; entries: number; lastSync?: Date; problem?: string };
  private adminProvider?: IdentityStatusSnapshot['serviceAccountProvider'];
  /** False from the start of a revocation sync until its first full load: tokens cannot be vouched for meanwhile. */
  private revocationsLoaded = true;

  recordMetadata(copy: ServingWindow & { source: MetadataSource; version: number }): void {
    this.metadata = copy;
    this.metadataFailing = false;
  }

  recordMetadataFailure(reason: string): void {
    this.metadataFailing = true;
    this.lastError = reason;
  }

  /** A key set was installed. Without a window it never goes stale (tests, inline keys). */
  recordJwksSync(keys: number, window?: ServingWindow): void {
    const fetchedAt = window?.fetchedAt ?? new Date();
    const forever = new Date(8.64e15);
    this.jwks = window ?? { fetchedAt, freshUntil: forever, servesUntil: forever };
    this.jwksKeys = keys;
    this.jwksFailing = false;
  }

  recordJwksFailure(reason: string): void {
    this.jwksFailing = true;
    this.lastError = reason;
  }

  recordCredentialValidation(valid: boolean, reason?: string, at = new Date()): void {
    this.lastCredentialValidation = at;
    this.credentialsValid = valid;
    if (!valid && reason) this.lastError = reason;
  }

  /**
   * What the service-account adapter's permission check found at boot. Missing permissions make
   * health `degraded` (service accounts cannot be managed) without touching token verification.
   */
  recordServiceAccountProviderCheck(kind: string, permissions: 'ok' | 'missing' | 'unchecked', problem?: string): void {
    this.adminProvider = { kind, permissions, ...(problem ? { problem } : {}) };
    if (problem && permissions === 'missing') this.lastError = problem;
  }

  /** A revocation sync starts: until its first full load, no token is accepted (a revoked one could pass). */
  recordRevocationSyncStarting(sync: RevocationSyncKind): void {
    this.revocations = { sync, entries: 0 };
    this.revocationsLoaded = false;
  }

  /** The whole revocation list was loaded (at boot, or after a reconnection): in sync again. */
  recordRevocationSync(entries: number, at = new Date()): void {
    this.revocations = { sync: this.revocations?.sync ?? 'memory', entries, lastSync: at };
    this.revocationsLoaded = true;
  }

  /** How many revocations apply now (after each change). */
  recordRevocationEntries(entries: number): void {
    if (this.revocations) this.revocations.entries = entries;
  }

  /** The sync is interrupted (Redis unreachable, a load failed): known revocations keep applying; degraded until the next full load. */
  recordRevocationSyncFailure(reason: string): void {
    if (this.revocations) this.revocations.problem = reason;
    this.lastError = reason;
  }

  /** Tokens can be vouched for now: metadata and keys exist and are within their serving windows, and revocations are loaded. */
  canServe(now = Date.now()): boolean {
    return this.revocationsLoaded && within(this.metadata, now) && within(this.jwks, now);
  }

  state(now = Date.now()): IdentityHealthState {
    if (!this.canServe(now)) return 'down';
    if (stale(this.metadata, now) || stale(this.jwks, now) || this.metadataFailing || this.jwksFailing || this.credentialsValid === false) return 'degraded';
    if (this.revocations?.problem !== undefined || this.adminProvider?.permissions === 'missing') return 'degraded';
    return 'up';
  }

  /** 0 = down, 1 = degraded, 2 = up (the `identity_status` gauge). */
  stateValue(now = Date.now()): number {
    return { down: 0, degraded: 1, up: 2 }[this.state(now)];
  }

  metadataAgeSeconds(now = Date.now()): number | undefined {
    return this.metadata ? Math.max(0, (now - this.metadata.fetchedAt.getTime()) / 1000) : undefined;
  }

  snapshot(now = Date.now()): IdentityStatusSnapshot {
    const age = this.metadataAgeSeconds(now);
    const ends = [this.metadata, this.jwks].filter((w) => w !== undefined).map((w) => w.servesUntil.getTime());
    return {
      status: this.state(now),
      lastMetadataRefresh: this.metadata?.fetchedAt.toISOString(),
      lastJwksSync: this.jwks?.fetchedAt.toISOString(),
      lastCredentialValidation: this.lastCredentialValidation?.toISOString(),
      credentialsValid: this.credentialsValid,
      metadataSource: this.metadata?.source,
      metadataVersion: this.metadata?.version,
      cacheAgeSeconds: age === undefined ? undefined : Math.round(age),
      servesUntil: ends.length > 0 ? new Date(Math.min(...ends)).toISOString() : undefined,
      jwksKeys: this.jwksKeys,
      lastError: this.lastError,
      revocations: this.revocationSnapshot(),
      serviceAccountProvider: this.adminProvider,
    };
  }

  private revocationSnapshot(): RevocationStatusSnapshot | undefined {
    const r = this.revocations;
    if (r === undefined) return undefined;
    const state = !this.revocationsLoaded ? 'loading' : r.problem !== undefined ? 'degraded' : 'synced';
    return { sync: r.sync, state, entries: r.entries, lastSync: r.lastSync?.toISOString(), error: r.problem };
  }
}
