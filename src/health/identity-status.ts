import { Injectable } from '@nestjs/common';
import type { MetadataSource } from '../metadata/identity-metadata.js';

export type IdentityHealthState = 'up' | 'degraded' | 'down';

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
  /** When the copy in use stops being served (ISO), if the provider stays unreachable. */
  servesUntil?: string;
  jwksKeys?: number;
  /** The last failure, in safe words (never a document's content, a token or a secret). */
  lastError?: string;
}

/**
 * The one place the module's state lives. Services record what happened; the health indicator
 * and the gauges only read it.
 */
@Injectable()
export class IdentityStatus {
  private metadataFetchedAt?: Date;
  private metadataFreshUntil?: Date;
  private metadataServesUntil?: Date;
  private metadataSource?: MetadataSource;
  private metadataVersion?: number;
  private metadataFailing = false;
  private lastJwksSync?: Date;
  private jwksKeys?: number;
  private jwksFailing = false;
  private lastCredentialValidation?: Date;
  private credentialsValid?: boolean;
  private lastError?: string;

  recordMetadata(copy: { fetchedAt: Date; freshUntil: Date; servesUntil: Date; source: MetadataSource; version: number }): void {
    this.metadataFetchedAt = copy.fetchedAt;
    this.metadataFreshUntil = copy.freshUntil;
    this.metadataServesUntil = copy.servesUntil;
    this.metadataSource = copy.source;
    this.metadataVersion = copy.version;
    this.metadataFailing = false;
  }

  recordMetadataFailure(reason: string): void {
    this.metadataFailing = true;
    this.lastError = reason;
  }

  recordJwksSync(keys: number, at = new Date()): void {
    this.lastJwksSync = at;
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

  /** Metadata can be relied on now: a copy exists and is within its serving window. */
  canServe(now = Date.now()): boolean {
    return this.metadataServesUntil !== undefined && now <= this.metadataServesUntil.getTime();
  }

  state(now = Date.now()): IdentityHealthState {
    if (!this.canServe(now) || this.lastJwksSync === undefined) return 'down';
    const stale = this.metadataFreshUntil !== undefined && now > this.metadataFreshUntil.getTime();
    if (stale || this.metadataFailing || this.jwksFailing || this.credentialsValid === false) return 'degraded';
    return 'up';
  }

  /** 0 = down, 1 = degraded, 2 = up (the `identity_status` gauge). */
  stateValue(now = Date.now()): number {
    return { down: 0, degraded: 1, up: 2 }[this.state(now)];
  }

  metadataAgeSeconds(now = Date.now()): number | undefined {
    return this.metadataFetchedAt ? Math.max(0, (now - this.metadataFetchedAt.getTime()) / 1000) : undefined;
  }

  snapshot(now = Date.now()): IdentityStatusSnapshot {
    const age = this.metadataAgeSeconds(now);
    return {
      status: this.state(now),
      lastMetadataRefresh: this.metadataFetchedAt?.toISOString(),
      lastJwksSync: this.lastJwksSync?.toISOString(),
      lastCredentialValidation: this.lastCredentialValidation?.toISOString(),
      credentialsValid: this.credentialsValid,
      metadataSource: this.metadataSource,
      metadataVersion: this.metadataVersion,
      cacheAgeSeconds: age === undefined ? undefined : Math.round(age),
      servesUntil: this.metadataServesUntil?.toISOString(),
      jwksKeys: this.jwksKeys,
      lastError: this.lastError,
    };
  }
}
