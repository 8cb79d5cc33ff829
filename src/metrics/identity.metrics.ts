import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Counter, Gauge, Histogram, register, type Registry } from 'prom-client';
import { IdentityStatus } from '../health/identity-status.js';
import type { RevocationKind } from '../revocation/revocation.js';

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
  'identity_revocations_total',
  'identity_revocation_sync_seconds',
  'identity_revoked_tokens_refused_total',
  'identity_revocation_messages_ignored_total',
  'identity_dpop_proofs_total',
] as const;

export type JwksRefreshTrigger = 'boot' | 'scheduled' | 'unknown_kid' | 'forced';
export type VerificationResult = 'accepted' | 'rejected' | 'unavailable';
export type FetchOutcome = 'success' | 'error';

/** Reuses a metric already in the registry (several apps in one process share the default registry). */
function once<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

/** Statuses of the live modules per registry, newest last: the gauges read the newest one. */
const liveStatuses = new WeakMap<Registry, IdentityStatus[]>();

/** A gauge whose value is read from the newest live IdentityStatus at scrape time. */
function statusGauge(registry: Registry, name: string, help: string, read: (status: IdentityStatus) => number | undefined): void {
  once(registry, name, () => {
    const gauge: Gauge = new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const newest = liveStatuses.get(registry)?.at(-1);
        const value = newest && read(newest);
        if (value !== undefined) gauge.set(value);
      },
    });
    return gauge;
  });
}

/**
 * Counts what the services report. Registered in prom-client's default registry, which is what
 * `@willsoto/nestjs-prometheus` serves at /metrics. Gauges read IdentityStatus at scrape time.
 */
@Injectable()
export class IdentityMetrics implements OnModuleDestroy {
  private readonly metadataFetches: Counter<'status'>;
  private readonly metadataDuration: Histogram;
  private readonly jwksRefreshes: Counter<'trigger' | 'status'>;
  private readonly exchangeFailures: Counter;
  private readonly verifications: Counter<'result' | 'reason'>;
  private readonly verificationDuration: Histogram<'result'>;
  private readonly cacheHits: Counter;
  private readonly cacheMisses: Counter;
  private readonly revocations: Counter<'kind'>;
  private readonly revocationSync: Histogram;
  private readonly revokedRefused: Counter;
  private readonly revocationMessagesIgnored: Counter;
  private readonly dpopProofs: Counter<'result'>;
  private readonly dpopAcceptedPending: PendingIncrements;
  /** Per-request increments, kept as plain numbers until a scrape (see pendingIncrements). */
  private readonly hitsPending: PendingIncrements;
  private readonly acceptedFromCachePending: PendingIncrements;
  private readonly acceptedVerifiedPending: PendingIncrements;

  constructor(
    private readonly status: IdentityStatus,
    private readonly registry: Registry = register,
  ) {
    const registers = [registry];
    this.metadataFetches = once(registry, 'identity_metadata_fetch_total', () => new Counter({ name: 'identity_metadata_fetch_total', help: 'Identity metadata fetches by outcome', labelNames: ['status'], registers }));
    this.metadataDuration = once(registry, 'identity_metadata_fetch_duration_ms', () => new Histogram({ name: 'identity_metadata_fetch_duration_ms', help: 'Identity metadata fetch duration in milliseconds', buckets: [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000], registers }));
    this.jwksRefreshes = once(registry, 'identity_jwks_refresh_total', () => new Counter({ name: 'identity_jwks_refresh_total', help: 'JWKS fetches by trigger and outcome', labelNames: ['trigger', 'status'], registers }));
    this.exchangeFailures = once(registry, 'identity_token_exchange_failures_total', () => new Counter({ name: 'identity_token_exchange_failures_total', help: 'Failed client_credentials token requests', registers }));
    this.verifications = once(registry, 'identity_token_verifications_total', () => new Counter({ name: 'identity_token_verifications_total', help: 'Bearer token verifications by result and reason', labelNames: ['result', 'reason'], registers }));
    this.verificationDuration = once(registry, 'identity_token_verification_duration_seconds', () => new Histogram({ name: 'identity_token_verification_duration_seconds', help: 'Time to verify a bearer token (cache misses)', labelNames: ['result'], buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1], registers }));
    this.cacheHits = once(registry, 'identity_verified_token_cache_hits_total', () => new Counter({ name: 'identity_verified_token_cache_hits_total', help: 'Verified-token cache hits', registers }));
    this.cacheMisses = once(registry, 'identity_verified_token_cache_misses_total', () => new Counter({ name: 'identity_verified_token_cache_misses_total', help: 'Verified-token cache misses', registers }));
    this.revocations = once(registry, 'identity_revocations_total', () => new Counter({ name: 'identity_revocations_total', help: 'Revocations created on this replica, by kind (client, subject, jti)', labelNames: ['kind'], registers }));
    this.revocationSync = once(registry, 'identity_revocation_sync_seconds', () => new Histogram({ name: 'identity_revocation_sync_seconds', help: 'Seconds from a revocation being published to its being applied on a receiving replica', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers }));
    this.revokedRefused = once(registry, 'identity_revoked_tokens_refused_total', () => new Counter({ name: 'identity_revoked_tokens_refused_total', help: 'Requests refused because their token was revoked', registers }));
    this.revocationMessagesIgnored = once(registry, 'identity_revocation_messages_ignored_total', () => new Counter({ name: 'identity_revocation_messages_ignored_total', help: 'Revocation sync messages ignored because they were not well-formed', registers }));
    this.dpopProofs = once(registry, 'identity_dpop_proofs_total', () => new Counter({ name: 'identity_dpop_proofs_total', help: 'DPoP proofs checked, by result: accepted, or why they were refused (replay, htu, iat, use_dpop_nonce, unavailable, ...)', labelNames: ['result'], registers }));
    this.dpopAcceptedPending = pendingIncrements(this.dpopProofs, { result: 'accepted' });
    this.hitsPending = pendingIncrements(this.cacheHits, undefined);
    this.acceptedFromCachePending = pendingIncrements(this.verifications, { result: 'accepted', reason: 'cache' });
    this.acceptedVerifiedPending = pendingIncrements(this.verifications, { result: 'accepted', reason: 'verified' });
    // Gauges are read at scrape time from the status of the most recently booted live module.
    statusGauge(registry, 'identity_metadata_age_seconds', 'Age of the Identity metadata copy in use, in seconds', (s) => s.metadataAgeSeconds());
    statusGauge(registry, 'identity_status', 'Identity integration status: 0 down, 1 degraded, 2 up', (s) => s.stateValue());
    liveStatuses.set(registry, [...(liveStatuses.get(registry) ?? []), status]);
  }

  onModuleDestroy(): void {
    liveStatuses.set(this.registry, (liveStatuses.get(this.registry) ?? []).filter((s) => s !== this.status));
  }

  metadataFetch(outcome: 'success' | 'error', durationMs: number): void {
    this.metadataFetches.inc({ status: outcome });
    this.metadataDuration.observe(durationMs);
  }

  jwksRefresh(trigger: JwksRefreshTrigger, outcome: FetchOutcome): void {
    this.jwksRefreshes.inc({ trigger, status: outcome });
  }

  tokenExchangeFailure(): void {
    this.exchangeFailures.inc();
  }

  verification(result: VerificationResult, reason: string, seconds?: number): void {
    this.verifications.inc({ result, reason });
    if (seconds !== undefined) this.verificationDuration.observe({ result }, seconds);
  }

  /** A cache hit: the hits counter plus verification('accepted', 'cache'), without prom-client's per-call label work. */
  acceptedFromCache(): void {
    this.hitsPending.n++;
    this.acceptedFromCachePending.n++;
  }

  /** A full verification that succeeded: verification('accepted', 'verified', seconds). */
  acceptedVerified(seconds: number): void {
    this.acceptedVerifiedPending.n++;
    this.verificationDuration.observe({ result: 'accepted' }, seconds);
  }

  cacheMiss(): void {
    this.cacheMisses.inc();
  }

  revocationCreated(kind: RevocationKind): void {
    this.revocations.inc({ kind });
  }

  /** A revocation published by another replica was applied here, seconds after it was published. */
  revocationSynced(seconds: number): void {
    this.revocationSync.observe(Math.max(0, seconds));
  }

  /** A token refused because it was revoked: this counter plus verification('rejected', 'revoked'). */
  revokedTokenRefused(): void {
    this.revokedRefused.inc();
    this.verifications.inc({ result: 'rejected', reason: 'revoked' });
  }

  revocationMessageIgnored(): void {
    this.revocationMessagesIgnored.inc();
  }

  /** One DPoP proof checked: `accepted`, or the refusal reason (a fixed set: see InvalidDpopProofReason). */
  dpopProof(result: string): void {
    if (result === 'accepted') this.dpopAcceptedPending.n++;
    else this.dpopProofs.inc({ result });
  }
}

/** Increments of one counter and label set, not yet added to the counter. */
interface PendingIncrements {
  n: number;
}

const PENDING = Symbol('nestjs-identity.pending-increments');
type CounterWithPending = Counter<string> & {
  [PENDING]?: Map<string, { labels?: Partial<Record<string, string>>; pending: PendingIncrements }>;
  collect?: (this: Counter<string>) => unknown;
};

/**
 * A counter increment for one fixed label set that costs a number increment: prom-client hashes
 * and validates the labels on every inc() (children from .labels() too), which is more than a
 * verified-token cache hit costs. The counts are added to the counter whenever it is read
 * (collect(): every scrape, every get()), and dropped by reset(); several IdentityMetrics sharing
 * a registry share the pending counts of a counter.
 */
function pendingIncrements(counter: Counter<string>, labels: Partial<Record<string, string>> | undefined): PendingIncrements {
  const target = counter as CounterWithPending;
  let all = target[PENDING];
  if (all === undefined) {
    const entries = (all = new Map());
    target[PENDING] = entries;
    const flush = (): void => {
      for (const entry of entries.values()) {
        const n = entry.pending.n;
        if (n === 0) continue;
        entry.pending.n = 0;
        if (entry.labels === undefined) counter.inc(n);
        else counter.inc(entry.labels, n);
      }
    };
    const collect = target.collect;
    target.collect = function (this: Counter<string>) {
      flush();
      return collect?.call(this);
    };
    const reset = counter.reset;
    counter.reset = function (this: Counter<string>) {
      for (const entry of entries.values()) entry.pending.n = 0;
      reset.call(this);
    };
  }
  const key = labels === undefined ? '' : Object.keys(labels).sort().map((name) => `${name}=${labels[name]}`).join(',');
  let entry = all.get(key);
  if (entry === undefined) all.set(key, (entry = { labels, pending: { n: 0 } }));
  return entry.pending;
}
