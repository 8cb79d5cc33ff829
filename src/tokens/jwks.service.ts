import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { JwksClient } from 'jwks-rsa';
import { IdentityUnavailableError } from '../errors/identity-unavailable.error.js';
import { InvalidTokenError } from '../errors/invalid-token.error.js';
import { IdentityStatus } from '../health/identity-status.js';
import { InjectIdentityOptions } from '../identity-options.token.js';
import type { JwtAlgorithm, ResolvedIdentityOptions } from '../identity-options.js';
import { backoffDelay, IdentityMetadataService, REFRESH_AT, refreshTimer } from '../metadata/identity-metadata.service.js';
import { HeldPersistence } from '../metadata/held-persistence.js';
import { LAST_GOOD_JWKS_KEY, parseLastGoodJwks, serializeLastGoodJwks } from '../metadata/last-good-metadata.js';
import { safeFetch } from '../metadata/safe-fetch.js';
import { IdentityMetrics, type JwksRefreshTrigger } from '../metrics/identity.metrics.js';
import { keyFitsAlgorithm, toVerificationKeys, usableJwks, type VerificationKey } from './jwks-keys.js';
import { UnknownKidThrottle } from './unknown-kid-throttle.js';

type Jwk = Record<string, unknown>;

/**
 * Parses JWKs into KeyObjects with jwks-rsa (RSA, EC and OKP, skipping what does not parse), keeping the keys that can verify one of the allowed algorithms: an Ed25519
 * key is of no use to an API that does not accept EdDSA, and is not counted as one of its keys.
 */
async function verificationKeys(jwksUri: string, algorithms: readonly JwtAlgorithm[], load: () => Promise<Jwk[]>): Promise<VerificationKey[]> {
  const client = new JwksClient({ jwksUri, cache: false, fetcher: async () => ({ keys: await load() }) });
  const keys = toVerificationKeys(await client.getSigningKeys());
  return keys.filter((key) => algorithms.some((alg) => keyFitsAlgorithm(key, alg)));
}

/**
 * The provider's signing keys as parsed KeyObjects by kid. jwks-rsa turns JWKs into keys; our
 * safe fetch brings them (timeouts, byte cap, URL policy). Keys are refetched in the background
 * before they expire (cacheTtl, like the metadata), retried with backoff while the provider is
 * down, served stale for at most maxStale, and refetched on an unknown kid: at once after a quiet
 * spell, with a doubling wait (capped by jwksCooldown) while kids keep being unknown.
 */
@Injectable()
export class JwksService implements OnModuleDestroy {
  private readonly logger = new Logger('IdentityJwks');
  private byKid = new Map<string, VerificationKey>();
  private all: VerificationKey[] = [];
  /** When the keys in use were fetched (the persisted copy keeps its original time). */
  private fetchedAt?: Date;
  private failures = 0;
  private inFlight?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private warmed = false;
  private destroyed = false;
  private readonly listeners = new Set<(removedKids: string[]) => void>();
  private readonly unknownKids: UnknownKidThrottle;
  /** Writes of the last good key set, held back while the module boots (see holdPersistence). */
  private readonly persistence = new HeldPersistence();

  constructor(
    @InjectIdentityOptions() private readonly options: ResolvedIdentityOptions,
    private readonly metadata: IdentityMetadataService,
    private readonly status: IdentityStatus,
    private readonly metrics: IdentityMetrics,
  ) {
    this.unknownKids = new UnknownKidThrottle(options.jwksCooldownMs);
    // A new jwksUrl means a new key set; metadata coming back after an outage means the keys may
    // come back too; a forced metadata refresh() refetches the keys as well.
    metadata.onChange((next, previous, change) => {
      if (!this.warmed) return; // warm() fetches at boot
      if (change.forced) void this.refresh('forced').catch(() => undefined);
      else if (previous?.jwksUrl !== next.jwksUrl || this.failures > 0 || this.all.length === 0) void this.refresh('scheduled').catch(() => undefined);
    });
  }

  /** Boot: fetch the keys; when the provider is down, fall back to the persisted copy if allowed. */
  async warm(): Promise<void> {
    try {
      await this.refresh('boot');
    } catch (error) {
      if (!(await this.restorePersisted()) && this.options.require && this.metadata.current()) throw error;
    }
    this.warmed = true;
    this.schedule();
  }

  /**
   * The key for a token header. An unknown kid refetches the JWKS at once after a quiet spell (a
   * key just published passes on its first try); a run of kids that stay unknown backs off (see
   * UnknownKidThrottle). Requests carrying known kids never wait for any of it.
   */
  getKey(kid: string | undefined, alg: JwtAlgorithm): VerificationKey | Promise<VerificationKey> {
    // Keys past their serving window (or no keys at all) vouch for nothing: the provider's fault, 503.
    if (!this.status.canServe()) throw new IdentityUnavailableError();
    const found = this.find(kid, alg);
    if (found) return found;
    // A refetch already under way answers this kid too, at no extra cost.
    if (this.inFlight) return this.lookUp(kid, alg, false);
    if (!this.unknownKids.allows(kid)) throw new InvalidTokenError('unknown_key');
    this.unknownKids.started();
    return this.lookUp(kid, alg, true);
  }

  /**
   * Waits for the fetch under way (or starts one) and looks the kid up again. `own`: the fetch was
   * started for this request, or after it arrived, so it would have seen a key published before:
   * a kid it did not find is remembered as missing. A fetch this request joined may predate the
   * key (a scheduled fetch, one a made-up kid started): a kid it did not find starts one refetch
   * of its own when the throttle allows, and is refused otherwise but not remembered as missing.
   */
  private lookUp(kid: string | undefined, alg: JwtAlgorithm, own: boolean): Promise<VerificationKey> {
    return this.refresh('unknown_kid').then(
      () => {
        const key = this.find(kid, alg);
        if (key) {
          this.unknownKids.found();
          return key;
        }
        if (own) {
          this.unknownKids.missed(kid);
          throw new InvalidTokenError('unknown_key');
        }
        // A fetch under way now started after this request arrived: its answer is final.
        if (this.inFlight) return this.lookUp(kid, alg, true);
        if (!this.unknownKids.allows(kid)) throw new InvalidTokenError('unknown_key');
        this.unknownKids.started();
        return this.lookUp(kid, alg, true);
      },
      () => {
        // The provider is unreachable: that is not the caller's fault.
        throw this.all.length === 0 ? new IdentityUnavailableError() : new InvalidTokenError('unknown_key');
      },
    );
  }

  /**
   * Keep the fetched key set in memory instead of writing it to the store, until
   * releasePersistence(): IdentityBootstrap holds it for the length of the boot, so that a refused
   * boot leaves the store's copy untouched.
   */
  holdPersistence(): void {
    this.persistence.hold();
  }

  /** Writes the key set kept since holdPersistence(), if any; later ones are written at once. Never rejects. */
  releasePersistence(): Promise<void> {
    return this.persistence.release();
  }

  keyCount(): number {
    return this.all.length;
  }

  /** Called with the kids that left the key set, so cached verifications made with them are dropped. */
  onKeysRemoved(listener: (removedKids: string[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Fetches the key set now; concurrent callers share one request. */
  refresh(trigger: JwksRefreshTrigger): Promise<void> {
    this.inFlight ??= this.fetchKeys(trigger).finally(() => {
      this.inFlight = undefined;
      this.schedule();
    });
    return this.inFlight;
  }

  onModuleDestroy(): void {
    this.destroyed = true;
    clearTimeout(this.timer);
  }

  private find(kid: string | undefined, alg: JwtAlgorithm): VerificationKey | undefined {
    if (kid !== undefined) {
      const key = this.byKid.get(kid);
      return key && keyFitsAlgorithm(key, alg) ? key : undefined;
    }
    // No kid: acceptable only when exactly one key could have made this signature.
    const fitting = this.all.filter((key) => keyFitsAlgorithm(key, alg));
    return fitting.length === 1 ? fitting[0] : undefined;
  }

  private async fetchKeys(trigger: JwksRefreshTrigger): Promise<void> {
    const fetchedAt = new Date();
    let jwksUrl: string | undefined;
    try {
      jwksUrl = this.metadata.get().jwksUrl;
      const policy = this.metadata.policy();
      let rawKeys: Jwk[] = [];
      const keys = await verificationKeys(jwksUrl, this.options.algorithms, async () => {
        const response = await safeFetch(jwksUrl!, {}, policy, 'JWKS');
        if (response.status !== 200) throw new Error(`JWKS request to ${jwksUrl} answered HTTP ${response.status}`);
        return (rawKeys = usableJwks(response.json<{ keys?: unknown }>().keys));
      });
      if (keys.length === 0) {
        const allowed = this.options.algorithms.join(', ');
        throw new Error(`the JWKS has no signing key for the allowed algorithms (${allowed}); if the provider signs with another one, add it to the "algorithms" option`);
      }
      this.install(keys, fetchedAt);
      this.failures = 0;
      this.metrics.jwksRefresh(trigger, 'success');
      this.persist(serializeLastGoodJwks({ fetchedAt, jwksUrl, keys: rawKeys }));
    } catch (error) {
      this.failures += 1;
      this.metrics.jwksRefresh(trigger, 'error');
      const reason = jwksUrl ? `JWKS refresh from ${jwksUrl} failed: ${safeReason(error)}` : 'JWKS not fetched: Identity metadata is unavailable';
      this.status.recordJwksFailure(reason);
      this.logger.warn(reason);
      throw error;
    }
  }

  private install(keys: VerificationKey[], fetchedAt: Date): void {
    const previous = this.byKid;
    this.all = keys;
    this.byKid = new Map(keys.filter((k) => k.kid !== undefined).map((k) => [k.kid!, k]));
    this.fetchedAt = fetchedAt;
    this.status.recordJwksSync(keys.length, this.metadata.servingWindow(fetchedAt));
    const removed = [...previous.keys()].filter((kid) => !this.byKid.has(kid));
    if (removed.length > 0) for (const listener of this.listeners) listener(removed);
  }

  /** Next refresh: at 80% of the keys' lifetime, or sooner with backoff and jitter while failing. */
  private schedule(): void {
    if (!this.warmed || this.destroyed) return;
    clearTimeout(this.timer);
    const ttlMs = this.metadata.cacheTtlSeconds() * 1000;
    const delay =
      this.failures > 0 || !this.fetchedAt ? backoffDelay(this.failures, ttlMs) : this.fetchedAt.getTime() + ttlMs * REFRESH_AT - Date.now();
    this.timer = refreshTimer(() => void this.refresh('scheduled').catch(() => undefined), delay);
  }

  /** Best effort: a store failure never fails the refresh. Held back during the boot (holdPersistence). */
  private persist(serialized: string): void {
    const store = this.metadata.lastGoodStore;
    if (!store) return;
    void this.persistence.write(() =>
      store.set(LAST_GOOD_JWKS_KEY, serialized).catch((error: unknown) => {
        this.logger.warn(`Could not persist the JWKS: ${safeReason(error)}`);
      }),
    );
  }

  /** Serves the persisted key set after a failed boot fetch: same jwksUrl as the metadata in use, within the same maxStale bound. */
  private async restorePersisted(): Promise<boolean> {
    const store = this.metadata.lastGoodStore;
    const metadata = this.metadata.current();
    if (!store || !metadata || this.options.requireFreshMetadata) return false;
    try {
      const text = await store.get(LAST_GOOD_JWKS_KEY);
      if (!text) return false;
      const persisted = parseLastGoodJwks(text);
      if (persisted.jwksUrl !== metadata.jwksUrl) return false;
      if (Date.now() > this.metadata.servingWindow(persisted.fetchedAt).servesUntil.getTime()) {
        this.logger.warn('Persisted JWKS is older than maxStale allows; not serving it');
        return false;
      }
      const keys = await verificationKeys(persisted.jwksUrl, this.options.algorithms, async () => usableJwks(persisted.keys));
      if (keys.length === 0) return false;
      this.install(keys, persisted.fetchedAt);
      this.status.recordJwksFailure(`JWKS: serving the persisted copy from ${persisted.fetchedAt.toISOString()} while the provider is unreachable`);
      this.logger.warn(`Serving the persisted JWKS from ${persisted.fetchedAt.toISOString()} while the Identity provider is unreachable`);
      return true;
    } catch (error) {
      this.logger.warn(`Persisted JWKS unusable (${safeReason(error)})`);
      return false;
    }
  }
}

function safeReason(error: unknown): string {
  return error instanceof Error ? error.message.slice(0, 300) : 'unknown error';
}
