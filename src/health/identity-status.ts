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

  /** Tokens can be vouched for now: metadata and keys exist and are within their serving windows. */
  canServe(now = Date.now()): boolean {
    return within(this.metadata, now) && within(this.jwks, now);
  }

  state(now = Date.now()): IdentityHealthState {
    if (!this.canServe(now)) return 'down';
    if (stale(this.metadata, now) || stale(this.jwks, now) || this.metadataFailing || this.jwksFailing || this.credentialsValid === false) return 'degraded';
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
    };
  }
}
