import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, register, type Registry } from 'prom-client';
import { IdentityStatus } from '../health/identity-status.js';

/** Every metric name the module registers: dashboards and alert rules are checked against this list. */
export const IDENTITY_METRIC_NAMES = [
  'identity_metadata_fetch_total',
  'identity_metadata_fetch_duration_ms',
  'identity_jwks_refresh_total',
  'identity_token_exchange_failures_total',
  'identity_token_verifications_total',
  'identity_token_verification_duration_seconds',
  'identity_verified_token_cache_hits_total',
  'identity_verified_token_cache_misses_total',
  'identity_metadata_age_seconds',
  'identity_status',
] as const;

export type JwksRefreshTrigger = 'boot' | 'scheduled' | 'unknown_kid';
export type VerificationResult = 'accepted' | 'rejected' | 'unavailable';

/** Reuses a metric already in the registry (several apps in one process share the default registry). */
function once<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

/**
 * Counts what the services report. Registered in prom-client's default registry, which is what
 * `@willsoto/nestjs-prometheus` serves at /metrics. Gauges read IdentityStatus at scrape time.
 */
@Injectable()
export class IdentityMetrics {
  private readonly metadataFetches: Counter<'status'>;
  private readonly metadataDuration: Histogram;
  private readonly jwksRefreshes: Counter<'trigger'>;
  private readonly exchangeFailures: Counter;
  private readonly verifications: Counter<'result' | 'reason'>;
  private readonly verificationDuration: Histogram<'result'>;
  private readonly cacheHits: Counter;
  private readonly cacheMisses: Counter;

  constructor(status: IdentityStatus, registry: Registry = register) {
    const registers = [registry];
    this.metadataFetches = once(registry, 'identity_metadata_fetch_total', () => new Counter({ name: 'identity_metadata_fetch_total', help: 'Identity metadata fetches by outcome', labelNames: ['status'], registers }));
    this.metadataDuration = once(registry, 'identity_metadata_fetch_duration_ms', () => new Histogram({ name: 'identity_metadata_fetch_duration_ms', help: 'Identity metadata fetch duration in milliseconds', buckets: [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000], registers }));
    this.jwksRefreshes = once(registry, 'identity_jwks_refresh_total', () => new Counter({ name: 'identity_jwks_refresh_total', help: 'JWKS fetches by trigger', labelNames: ['trigger'], registers }));
    this.exchangeFailures = once(registry, 'identity_token_exchange_failures_total', () => new Counter({ name: 'identity_token_exchange_failures_total', help: 'Failed client_credentials token requests', registers }));
    this.verifications = once(registry, 'identity_token_verifications_total', () => new Counter({ name: 'identity_token_verifications_total', help: 'Bearer token verifications by result and reason', labelNames: ['result', 'reason'], registers }));
    this.verificationDuration = once(registry, 'identity_token_verification_duration_seconds', () => new Histogram({ name: 'identity_token_verification_duration_seconds', help: 'Time to verify a bearer token (cache misses)', labelNames: ['result'], buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1], registers }));
    this.cacheHits = once(registry, 'identity_verified_token_cache_hits_total', () => new Counter({ name: 'identity_verified_token_cache_hits_total', help: 'Verified-token cache hits', registers }));
    this.cacheMisses = once(registry, 'identity_verified_token_cache_misses_total', () => new Counter({ name: 'identity_verified_token_cache_misses_total', help: 'Verified-token cache misses', registers }));
    // Gauges are read at scrape time from the status of the most recently booted module.
    const age = once(registry, 'identity_metadata_age_seconds', () => new Gauge({ name: 'identity_metadata_age_seconds', help: 'Age of the Identity metadata copy in use', registers }));
    const state = once(registry, 'identity_status', () => new Gauge({ name: 'identity_status', help: 'Identity integration status: 0 down, 1 degraded, 2 up', registers }));
    (age as unknown as { collect: () => void }).collect = function (this: Gauge) {
      const value = status.metadataAgeSeconds();
      if (value !== undefined) this.set(value);
    };
    (state as unknown as { collect: () => void }).collect = function (this: Gauge) {
      this.set(status.stateValue());
    };
  }

  metadataFetch(outcome: 'success' | 'error', durationMs: number): void {
    this.metadataFetches.inc({ status: outcome });
    this.metadataDuration.observe(durationMs);
  }

  jwksRefresh(trigger: JwksRefreshTrigger): void {
    this.jwksRefreshes.inc({ trigger });
  }

  tokenExchangeFailure(): void {
    this.exchangeFailures.inc();
  }

  verification(result: VerificationResult, reason: string, seconds?: number): void {
    this.verifications.inc({ result, reason });
    if (seconds !== undefined) this.verificationDuration.observe({ result }, seconds);
  }

  cacheHit(): void {
    this.cacheHits.inc();
  }

  cacheMiss(): void {
    this.cacheMisses.inc();
  }
}
