import { Inject, Injectable, Logger, Optional, type OnModuleDestroy } from '@nestjs/common';
import { IDENTITY_CREDENTIAL_STORE, type CredentialStore } from '../client/credential-store.js';
import { IdentityMetadataUnavailableError } from '../errors/identity-metadata-unavailable.error.js';
import { IdentityUnavailableError } from '../errors/identity-unavailable.error.js';
import { IdentityStatus, type ServingWindow } from '../health/identity-status.js';
import { InjectIdentityOptions } from '../identity-options.token.js';
import type { ResolvedIdentityOptions } from '../identity-options.js';
import { IdentityMetrics } from '../metrics/identity.metrics.js';
import type { IdentityMetadata, MetadataSource } from './identity-metadata.js';
import { HeldPersistence } from './held-persistence.js';
import { IDENTITY_LAST_GOOD_STORE, LAST_GOOD_METADATA_KEY, parseLastGood, serializeLastGood } from './last-good-metadata.js';
import { metadataFromDocument, metadataFromInput, MetadataValidationError, WELL_KNOWN_PATHS, wellKnownUrl } from './metadata-document.js';
import { OutboundRequestError, outboundPolicyFor, safeFetch, type OutboundPolicy } from './safe-fetch.js';
import { applySignedMetadata } from './signed-metadata.js';

/** Why listeners are told about a copy. */
export interface MetadataChange {
  /** A caller asked for this copy (refresh()), rather than the boot load, the background schedule or a restore. */
  readonly forced: boolean;
}
export type MetadataChangeListener = (metadata: IdentityMetadata, previous: IdentityMetadata | undefined, change: MetadataChange) => void;

type FetchedSource = Exclude<MetadataSource, 'inline'>;

/** Tried in this order: the s3db document first, then the standards documents. */
const FETCH_ORDER: readonly FetchedSource[] = ['s3db', 'oidc-discovery', 'rfc8414'];
const INLINE = 'inline metadata option';
const DEFAULT_TTL_SECONDS = 3600;
/** Refresh when this share of the TTL has passed, so requests never wait for a fetch. */
export const REFRESH_AT = 0.8;
const MIN_REFRESH_MS = 250;
const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 5 * 60_000;
/** setTimeout's ceiling (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Delay before retry number `failures` (1, 2, ...): exponential backoff with equal jitter,
 * capped at 5 minutes and at one cache lifetime (no point waiting longer than a copy lives).
 */
export function backoffDelay(failures: number, ttlMs: number): number {
  const ceiling = Math.min(RETRY_MAX_MS, Math.max(MIN_REFRESH_MS, ttlMs), RETRY_BASE_MS * 2 ** Math.min(Math.max(failures, 1) - 1, 20));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** Starts an unref'd timer, its delay clamped between the refresh floor and setTimeout's ceiling. */
export function refreshTimer(callback: () => void, delayMs: number): NodeJS.Timeout {
  const timer = setTimeout(callback, Math.min(Math.max(delayMs, MIN_REFRESH_MS), MAX_TIMER_MS));
  timer.unref();
  return timer;
}

/** A fetch error worth trying the next document for; the others (network, timeout, policy) would fail the same way on the same host. */
function worthFallingBack(error: unknown): boolean {
  return !(error instanceof OutboundRequestError) || error.kind === 'http_status' || error.kind === 'invalid_json' || error.kind === 'too_large';
}

/** A failure in safe words: our own messages are safe; anything else is named by its class only. */
function safeReason(error: unknown): string {
  if (error instanceof OutboundRequestError) return error.reason;
  if (error instanceof IdentityMetadataUnavailableError) return error.reason;
  if (error instanceof MetadataValidationError) return error.message;
  return `unexpected ${error instanceof Error ? error.name : 'error'}`;
}

/**
 * Where the provider is and what it can do: loads the metadata at boot (inline, s3db document or
 * discovery fallback), serves it synchronously, refreshes it in the background before it
 * expires, and keeps serving a last good copy for `maxStale` while the provider is down.
 */
@Injectable()
export class IdentityMetadataService implements OnModuleDestroy {
  private readonly logger = new Logger('IdentityMetadata');
  private readonly outbound: OutboundPolicy;
  private readonly listeners = new Set<MetadataChangeListener>();
  /** Where the last good metadata (and the JWKS service's keys) persist: the credential store, else the fallback file. */
  readonly lastGoodStore?: CredentialStore;
  private copy?: IdentityMetadata;
  private servesUntil = 0;
  private inFlight?: Promise<IdentityMetadata>;
  /** Whether someone called refresh() since the in-flight attempt started: listeners hear it as forced. */
  private forcedPending = false;
  private timer?: NodeJS.Timeout;
  private failures = 0;
  private destroyed = false;
  /** The document that worked last: tried first next time, so a standards provider is not asked for s3db's every hour. */
  private preferred?: FetchedSource;
  /** Writes of the last good copy, held back while the module boots (see holdPersistence). */
  private readonly persistence = new HeldPersistence();

  constructor(
    @InjectIdentityOptions() private readonly options: ResolvedIdentityOptions,
    private readonly status: IdentityStatus,
    private readonly metrics: IdentityMetrics,
    @Optional() @Inject(IDENTITY_CREDENTIAL_STORE) credentialStore?: CredentialStore,
    @Optional() @Inject(IDENTITY_LAST_GOOD_STORE) fallbackStore?: CredentialStore,
  ) {
    this.outbound = outboundPolicyFor(options);
    this.lastGoodStore = credentialStore ?? fallbackStore;
  }

  /**
   * Boot. On failure: a persisted last good copy within its window is served (degraded);
   * otherwise `require` throws IdentityMetadataUnavailableError, or the module starts without
   * metadata (down) and keeps retrying in the background.
   */
  async load(): Promise<void> {
    try {
      await this.fetchShared();
    } catch (error) {
      const failure = error as IdentityMetadataUnavailableError;
      if (await this.useLastGood(failure.reason)) return;
      if (this.options.require) {
        this.clearTimer();
        throw failure;
      }
      this.logger.warn('Starting without Identity metadata; retrying in the background');
    }
  }

  /** The copy in use. Throws IdentityUnavailableError (503) when there is none or it is past its serving window. */
  get(): IdentityMetadata {
    if (!this.copy || Date.now() > this.servesUntil) throw new IdentityUnavailableError();
    return this.copy;
  }

  /** The copy held, even past its serving window; undefined before the first success. */
  current(): IdentityMetadata | undefined {
    return this.copy;
  }

  /** When the copy in use was fetched (or resolved, for inline metadata). */
  lastRefresh(): Date | undefined {
    return this.copy?.fetchedAt;
  }

  /**
   * Forced refresh: fetches now, then listeners hear `forced` (the JWKS is refetched and the
   * verified-token cache dropped, as an operator expects after an incident at the provider).
   * Concurrent callers share one in-flight fetch. Throws IdentityMetadataUnavailableError; the old copy stays.
   */
  refresh(): Promise<IdentityMetadata> {
    this.forcedPending = true;
    return this.fetchShared();
  }

  /** One fetch at a time, whoever asks (boot, schedule, refresh()). */
  private fetchShared(): Promise<IdentityMetadata> {
    this.inFlight ??= this.attempt().finally(() => {
      this.inFlight = undefined;
      this.forcedPending = false;
    });
    return this.inFlight;
  }

  /**
   * Keep the last good copy in memory instead of writing it to the store, until
   * releasePersistence(). IdentityBootstrap holds it for the length of the boot: a boot refused
   * at any step (a wrong encryptionKey, a failed probe...) leaves the store's copy untouched.
   */
  holdPersistence(): void {
    this.persistence.hold();
  }

  /** Writes the copy kept since holdPersistence(), if any; later copies are written at once. Never rejects. */
  releasePersistence(): Promise<void> {
    return this.persistence.release();
  }

  /** Called after every successful load or refresh (e.g. to follow a new jwksUrl). Returns an unsubscribe function. */
  onChange(listener: MetadataChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Seconds metadata and JWKS are cached: the option, else the document's own cacheTtl, else 3600. */
  cacheTtlSeconds(copy: IdentityMetadata | undefined = this.copy): number {
    return this.options.cacheTtl ?? copy?.cacheTtl ?? DEFAULT_TTL_SECONDS;
  }

  /**
   * The serving window of a copy fetched at fetchedAt (metadata or JWKS): fresh for cacheTtl, then
   * served stale for maxStale (default 3 x cacheTtl) while refreshes fail; no stale grace with
   * requireFreshMetadata.
   */
  servingWindow(fetchedAt: Date, ttlSeconds = this.cacheTtlSeconds()): ServingWindow {
    const maxStale = this.options.maxStale ?? 3 * ttlSeconds;
    const freshUntil = fetchedAt.getTime() + ttlSeconds * 1000;
    const servesUntil = this.options.requireFreshMetadata ? freshUntil : freshUntil + maxStale * 1000;
    return { fetchedAt, freshUntil: new Date(freshUntil), servesUntil: new Date(servesUntil) };
  }

  /** The outbound policy derived from the options, for every other safeFetch caller. */
  policy(): OutboundPolicy {
    return this.outbound;
  }

  onModuleDestroy(): void {
    this.destroyed = true;
    this.clearTimer();
  }

  private async attempt(): Promise<IdentityMetadata> {
    const inline = this.options.metadata !== undefined;
    const started = performance.now();
    try {
      // Every copy is validated against the configured issuer, so a refreshed document whose
      // issuer changed fails here and the previous copy stays in use.
      const next = inline ? await this.resolveInline() : await this.fetchFirstGood();
      if (!inline) this.metrics.metadataFetch('success', performance.now() - started);
      this.adopt(next);
      if (!inline) this.persist(next);
      return next;
    } catch (error) {
      if (!inline) this.metrics.metadataFetch('error', performance.now() - started);
      const failure =
        error instanceof IdentityMetadataUnavailableError ? error : new IdentityMetadataUnavailableError(inline ? [INLINE] : [], safeReason(error));
      this.status.recordMetadataFailure(`metadata: ${failure.reason}`);
      const delay = this.scheduleRetry();
      this.logger.warn(`Metadata ${this.copy ? 'refresh' : 'load'} failed (${failure.reason}); retrying in ${Math.round(delay / 1000)}s`);
      throw failure;
    }
  }

  private async resolveInline(): Promise<IdentityMetadata> {
    const option = this.options.metadata!;
    const input = typeof option === 'function' ? await option() : option;
    return metadataFromInput(input, { issuer: this.options.issuer, policy: this.outbound });
  }

  /** The s3db document, then OIDC discovery, then RFC 8414; the first valid one wins. */
  private async fetchFirstGood(): Promise<IdentityMetadata> {
    // resolveIdentityOptions guarantees url when there is no inline metadata.
    const base = this.options.url!;
    const order = this.preferred ? [this.preferred, ...FETCH_ORDER.filter((s) => s !== this.preferred)] : FETCH_ORDER;
    const tried: string[] = [];
    const reasons: string[] = [];
    for (const source of order) {
      const url = wellKnownUrl(base, source);
      tried.push(url);
      try {
        const metadata = await this.fetchDocument(source, url);
        this.preferred = source;
        return metadata;
      } catch (error) {
        reasons.push(`${WELL_KNOWN_PATHS[source]}: ${safeReason(error)}`);
        if (!worthFallingBack(error)) break;
      }
    }
    throw new IdentityMetadataUnavailableError(tried, reasons.join('; '));
  }

  private async fetchDocument(source: FetchedSource, url: string): Promise<IdentityMetadata> {
    const fetchedAt = new Date();
    const document = (await safeFetch(url, {}, this.outbound, 'metadata')).json();
    const { issuer, requireSignedMetadata } = this.options;
    const effective = await applySignedMetadata(source, document, { issuer, policy: this.outbound, required: requireSignedMetadata });
    return metadataFromDocument(source, effective.document, { issuer, policy: this.outbound, fetchedAt, documentUrl: url, signed: effective.signed });
  }

  /** Serves the persisted copy after a failed boot, when the options allow it and it is recent enough. */
  private async useLastGood(reason: string): Promise<boolean> {
    if (!this.lastGoodStore || this.options.requireFreshMetadata) return false;
    let copy: IdentityMetadata;
    try {
      const text = await this.lastGoodStore.get(LAST_GOOD_METADATA_KEY);
      if (!text) return false;
      copy = parseLastGood(text, { issuer: this.options.issuer, policy: this.outbound });
    } catch (error) {
      this.logger.warn(`Persisted metadata unusable (${safeReason(error)})`);
      return false;
    }
    if (this.options.requireSignedMetadata && !copy.signed) return false;
    if (Date.now() > this.window(copy).servesUntil.getTime()) {
      this.logger.warn('Persisted metadata is older than maxStale allows; not serving it');
      return false;
    }
    // Keep the retry timer that the failed attempt set: we want a fresh copy soon.
    this.adopt(copy, { keepSchedule: true });
    this.status.recordMetadataFailure(`metadata: serving the persisted copy from ${copy.fetchedAt.toISOString()}; ${reason}`);
    this.logger.warn(`Serving persisted metadata from ${copy.fetchedAt.toISOString()} while the provider is unreachable`);
    return true;
  }

  private window(copy: IdentityMetadata): ServingWindow {
    return this.servingWindow(copy.fetchedAt, this.cacheTtlSeconds(copy));
  }

  private adopt(next: IdentityMetadata, { keepSchedule = false } = {}): void {
    const previous = this.copy;
    const window = this.window(next);
    this.copy = next;
    this.servesUntil = window.servesUntil.getTime();
    this.status.recordMetadata({ ...window, source: next.source, version: next.version });
    if (!keepSchedule) {
      this.failures = 0;
      const fetchedAt = next.fetchedAt.getTime();
      this.schedule(fetchedAt + (window.freshUntil.getTime() - fetchedAt) * REFRESH_AT - Date.now());
      this.logger.log(`Metadata loaded (${next.source}${next.signed ? ', signed' : ''}) for ${next.issuer}`);
    }
    const change: MetadataChange = { forced: this.forcedPending && !keepSchedule };
    for (const listener of this.listeners) {
      try {
        listener(next, previous, change);
      } catch (error) {
        this.logger.warn(`A metadata change listener failed (${safeReason(error)})`);
      }
    }
  }

  /** Best effort: a store failure never fails the refresh. Held back during the boot (holdPersistence). */
  private persist(copy: IdentityMetadata): void {
    const store = this.lastGoodStore;
    if (!store) return;
    void this.persistence.write(() =>
      store.set(LAST_GOOD_METADATA_KEY, serializeLastGood(copy)).catch((error: unknown) => {
        this.logger.warn(`Could not persist the last good metadata (${safeReason(error)})`);
      }),
    );
  }

  /** Exponential backoff with jitter, bounded; returns the delay chosen. */
  private scheduleRetry(): number {
    this.failures += 1;
    const delay = backoffDelay(this.failures, this.cacheTtlSeconds() * 1000);
    this.schedule(delay);
    return delay;
  }

  private schedule(delayMs: number): void {
    if (this.destroyed) return;
    this.clearTimer();
    this.timer = refreshTimer(() => {
      this.timer = undefined;
      this.fetchShared().catch(() => undefined); // attempt() already recorded, logged and rescheduled
    }, delayMs);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
