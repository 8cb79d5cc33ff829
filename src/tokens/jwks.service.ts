import { Inject, Injectable, Logger, Optional, type OnModuleDestroy } from '@nestjs/common';
import { JwksClient } from 'jwks-rsa';
import { IdentityUnavailableError } from '../errors/identity-unavailable.error.js';
import { InvalidTokenError } from '../errors/invalid-token.error.js';
import { IdentityStatus } from '../health/identity-status.js';
import { InjectIdentityOptions } from '../identity.module-definition.js';
import type { JwtAlgorithm, ResolvedIdentityOptions } from '../identity-options.js';
import { IDENTITY_CREDENTIAL_STORE, type CredentialStore } from '../client/credential-store.js';
import { IdentityMetadataService } from '../metadata/identity-metadata.service.js';
import { safeFetch } from '../metadata/safe-fetch.js';
import { IdentityMetrics, type JwksRefreshTrigger } from '../metrics/identity.metrics.js';
import { keyFitsAlgorithm, toVerificationKeys, usableJwks, type VerificationKey } from './jwks-keys.js';

const PERSISTED_JWKS = 'jwks:last-good';

/**
 * The provider's signing keys as parsed KeyObjects by kid. jwks-rsa turns JWKs into keys; our
 * safe fetch brings them (timeouts, byte cap, URL policy). Keys are refetched on schedule, and on
 * an unknown kid at most once per cooldown however many requests carry it.
 */
@Injectable()
export class JwksService implements OnModuleDestroy {
  private readonly logger = new Logger('IdentityJwks');
  private byKid = new Map<string, VerificationKey>();
  private all: VerificationKey[] = [];
  private lastAttempt = 0;
  private lastSuccess = 0;
  private inFlight?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private readonly listeners = new Set<(removedKids: string[]) => void>();

  constructor(
    @InjectIdentityOptions() private readonly options: ResolvedIdentityOptions,
    private readonly metadata: IdentityMetadataService,
    private readonly status: IdentityStatus,
    private readonly metrics: IdentityMetrics,
    @Optional() @Inject(IDENTITY_CREDENTIAL_STORE) private readonly store?: CredentialStore,
  ) {
    // A new jwksUrl (or a forced metadata refresh) means the key set may have changed.
    metadata.onChange((next, previous) => {
      if (previous && previous.jwksUrl !== next.jwksUrl) void this.refresh('scheduled').catch(() => undefined);
    });
  }

  /** Boot: fetch the keys; when the provider is down, fall back to the persisted copy if allowed. */
  async warm(): Promise<void> {
    try {
      await this.refresh('boot');
    } catch (error) {
      if (!(await this.restorePersisted())) {
        if (this.options.require && this.metadata.current()) throw error;
      }
    }
    this.schedule();
  }

  /** The key for a token header; refetches on an unknown kid at most once per cooldown. */
  getKey(kid: string | undefined, alg: JwtAlgorithm): VerificationKey | Promise<VerificationKey> {
    const found = this.find(kid, alg);
    if (found) return found;
    if (Date.now() - this.lastAttempt < this.options.jwksCooldownMs && !this.inFlight) {
      throw new InvalidTokenError('unknown_key');
    }
    return this.refresh('unknown_kid').then(
      () => {
        const key = this.find(kid, alg);
        if (!key) throw new InvalidTokenError('unknown_key');
        return key;
      },
      () => {
        // The provider is unreachable: that is not the caller's fault.
        throw this.all.length === 0 ? new IdentityUnavailableError() : new InvalidTokenError('unknown_key');
      },
    );
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
    });
    return this.inFlight;
  }

  onModuleDestroy(): void {
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
    this.lastAttempt = Date.now();
    this.metrics.jwksRefresh(trigger);
    let metadata;
    try {
      metadata = this.metadata.get();
    } catch (error) {
      this.status.recordJwksFailure('JWKS not fetched: Identity metadata is unavailable');
      throw error;
    }
    const policy = this.metadata.policy();
    let rawKeys: Record<string, unknown>[] = [];
    const client = new JwksClient({
      jwksUri: metadata.jwksUrl,
      cache: false,
      fetcher: async (uri: string) => {
        const response = await safeFetch(uri, {}, policy, 'JWKS');
        if (response.status !== 200) throw new Error(`JWKS request to ${uri} answered HTTP ${response.status}`);
        rawKeys = usableJwks(response.json<{ keys?: unknown }>().keys);
        return { keys: rawKeys };
      },
    });
    try {
      const keys = toVerificationKeys(await client.getSigningKeys());
      if (keys.length === 0) throw new Error('the JWKS has no usable signing keys');
      this.install(keys);
      this.status.recordJwksSync(keys.length);
      await this.persist(rawKeys);
    } catch (error) {
      const reason = `JWKS refresh from ${metadata.jwksUrl} failed: ${safeReason(error)}`;
      this.status.recordJwksFailure(reason);
      this.logger.warn(reason);
      throw error;
    }
  }

  private install(keys: VerificationKey[]): void {
    const previous = this.byKid;
    this.all = keys;
    this.byKid = new Map(keys.filter((k) => k.kid !== undefined).map((k) => [k.kid!, k]));
    this.lastSuccess = Date.now();
    const removed = [...previous.keys()].filter((kid) => !this.byKid.has(kid));
    if (removed.length > 0) for (const listener of this.listeners) listener(removed);
  }

  private schedule(): void {
    clearTimeout(this.timer);
    const ttlSeconds = this.options.cacheTtl ?? this.metadata.current()?.cacheTtl ?? 3600;
    const sinceSuccess = this.lastSuccess ? Date.now() - this.lastSuccess : Infinity;
    // Refresh a little before the copy expires; retry sooner while failing.
    const delay = sinceSuccess === Infinity ? Math.min(30_000, ttlSeconds * 1000) : Math.max(1000, ttlSeconds * 800 - sinceSuccess);
    this.timer = setTimeout(() => {
      this.refresh('scheduled')
        .catch(() => undefined)
        .finally(() => this.schedule());
    }, delay);
    this.timer.unref();
  }

  private async persist(keys: Record<string, unknown>[]): Promise<void> {
    if (!this.store) return;
    try {
      await this.store.set(PERSISTED_JWKS, JSON.stringify({ fetchedAt: new Date().toISOString(), keys }));
    } catch (error) {
      this.logger.warn(`Could not persist the JWKS: ${safeReason(error)}`);
    }
  }

  private async restorePersisted(): Promise<boolean> {
    if (!this.store || this.options.requireFreshMetadata) return false;
    try {
      const stored = await this.store.get(PERSISTED_JWKS);
      if (!stored) return false;
      const { keys } = JSON.parse(stored) as { keys: unknown };
      const client = new JwksClient({ jwksUri: 'persisted:', cache: false, fetcher: async () => ({ keys: usableJwks(keys) }) });
      const parsed = toVerificationKeys(await client.getSigningKeys());
      if (parsed.length === 0) return false;
      this.install(parsed);
      this.logger.warn('Serving the last persisted JWKS while the Identity provider is unreachable');
      return true;
    } catch {
      return false;
    }
  }
}

function safeReason(error: unknown): string {
  return error instanceof Error ? error.message.slice(0, 300) : 'unknown error';
}
