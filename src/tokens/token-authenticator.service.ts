import { Injectable, Logger } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { IdentityUnavailableError } from '../errors/identity-unavailable.error.js';
import { InvalidTokenError } from '../errors/invalid-token.error.js';
import { MissingTokenError } from '../errors/missing-token.error.js';
import { IdentityStatus } from '../health/identity-status.js';
import type { Identity } from '../identity/identity.js';
import { InjectIdentityOptions } from '../identity-options.token.js';
import type { ResolvedIdentityOptions } from '../identity-options.js';
import { IdentityMetadataService } from '../metadata/identity-metadata.service.js';
import { IdentityMetrics } from '../metrics/identity.metrics.js';
import { RevocationService } from '../revocation/revocation.service.js';
import { extractBearerToken, type RequestWithHeaders } from './bearer-token.js';
import { IdentityStrategy, tokenScratch, type TokenScratch } from './identity.strategy.js';
import { JwksService } from './jwks.service.js';
import { VerifiedTokenCache } from './verified-token-cache.js';
import { toIdentityError } from './verification-errors.js';

type AnyRequest = RequestWithHeaders;

/** What passport.authenticate() passes to a strategy; we take no session. */
const AUTHENTICATE_OPTIONS = Object.freeze({ session: false });

/**
 * One attempt of the Passport strategy: the actions Passport's authenticate middleware attaches
 * to a fresh object whose prototype is the strategy (success, fail, error, pass, redirect).
 */
type StrategyAttempt = IdentityStrategy & {
  success(user: Identity, info?: unknown): void;
  fail(challenge?: unknown, status?: number): void;
  error(error: unknown): void;
  pass(): void;
  redirect(url: string, status?: number): void;
  authenticate(request: AnyRequest, options: object): void;
};

/**
 * From a request (or a raw token) to a verified Identity: the verified-token cache first, then
 * the Passport strategy. Every failure leaves as one of our HTTP errors. Guards, WebSocket
 * adapters and anything else that needs "who is this" call this one service.
 *
 * A cache hit is the hot path: no promise, no allocation beyond the cache key, no labelled metric
 * lookup (see identify()). A miss runs the Passport strategy (IdentityStrategy) once. Every
 * accepted token, cached or not, is checked against the revocation list (in memory, no I/O); a
 * new revocation drops the cached verifications it matches at once.
 */
@Injectable()
export class TokenAuthenticator {
  private readonly logger = new Logger('IdentityTokens');
  private readonly cache?: VerifiedTokenCache;
  private readonly maxTokenLength: number;
  private readonly clockToleranceMs: number;

  constructor(
    @InjectIdentityOptions() options: ResolvedIdentityOptions,
    private readonly strategy: IdentityStrategy,
    private readonly status: IdentityStatus,
    private readonly metrics: IdentityMetrics,
    jwks: JwksService,
    metadata: IdentityMetadataService,
    private readonly revocations: RevocationService,
  ) {
    this.maxTokenLength = options.maxTokenLength;
    this.clockToleranceMs = options.clockTolerance * 1000;
    if (options.tokenCache) {
      const cache = (this.cache = new VerifiedTokenCache(options.tokenCache));
      jwks.onKeysRemoved((kids) => cache.dropKeys(kids));
      // A verification stays true while its key stays published (onKeysRemoved drops the rest) and
      // the issuer cannot change; so the background refresh keeps the cache, while a forced
      // refresh() or a new jwksUrl (a new key set) drops it.
      metadata.onChange((next, previous, change) => {
        if (change.forced || previous?.jwksUrl !== next.jwksUrl) cache.clear();
      });
      revocations.onRevoked((matches) => cache.dropWhere(matches));
    }
  }

  /** Verifies the request's Bearer token. Throws MissingTokenError when there is none. */
  authenticate(request: AnyRequest): Promise<Identity> {
    const result = this.identify(request);
    return result instanceof Promise ? result : Promise.resolve(result);
  }

  /**
   * Like authenticate(), but an accepted token comes back as the Identity itself, at once (no
   * promise, no microtask), whenever no JWKS fetch was needed: a verified-token cache hit, or a
   * full verification with a known key. A refusal, or a verification waiting for the JWKS, comes
   * back as a promise. A malformed Authorization header throws synchronously, as authenticate()
   * does. What the guards call.
   */
  identify(request: AnyRequest): Identity | Promise<Identity> {
    const cache = this.cache;
    const now = cache === undefined ? 0 : Date.now();
    if (cache !== undefined && this.status.canServe(now)) {
      // The usual header and a token seen before: the Identity at once, no b64token scan.
      const token = plainBearerToken(request, this.maxTokenLength);
      if (token !== undefined) {
        const found = this.recall(cache, token, now);
        if (typeof found !== 'string') return found;
        // A token never seen: every rule of the Authorization header applies (it throws as before).
        extractBearerToken(request, this.maxTokenLength);
        this.metrics.cacheMiss();
        return this.verifyFully(token, found, request);
      }
    }
    const token = extractBearerToken(request, this.maxTokenLength);
    if (token === undefined) return Promise.reject(new MissingTokenError());
    return this.verifyOrRecall(token, request);
  }

  /** Verifies a raw access token (e.g. from a WebSocket handshake), within the same length limit as the header. */
  async verify(token: string, request: AnyRequest = { headers: {} }): Promise<Identity> {
    if (token.length > this.maxTokenLength) throw new InvalidTokenError('too_large');
    return this.verifyOrRecall(token, request);
  }

  /** Forget cached verifications of a service account (after rotation or deletion). */
  forgetClient(clientId: string): void {
    this.cache?.dropClient(clientId);
  }

  forgetAll(): void {
    this.cache?.clear();
  }

  private verifyOrRecall(token: string, request: AnyRequest): Identity | Promise<Identity> {
    if (!this.status.canServe()) {
      this.metrics.verification('unavailable', 'unavailable');
      return Promise.reject(new IdentityUnavailableError());
    }
    const cache = this.cache;
    if (cache === undefined) return this.verifyFully(token, '', request);
    const found = this.recall(cache, token, Date.now());
    if (typeof found !== 'string') return found;
    this.metrics.cacheMiss();
    return this.verifyFully(token, found, request);
  }

  /**
   * The cached Identity (counted as a hit), or the cache key a new verification will be kept under.
   * A cached token revoked since (an entry added while its revocation arrived) is refused here too.
   */
  private recall(cache: VerifiedTokenCache, token: string, now: number): Identity | string | Promise<never> {
    const cacheKey = VerifiedTokenCache.keyOf(token);
    const cached = cache.get(cacheKey, now);
    if (cached === undefined) return cacheKey;
    if (this.revocations.isRevoked(cached)) {
      cache.delete(cacheKey);
      return this.revoked();
    }
    this.metrics.acceptedFromCache();
    return cached;
  }

  private revoked(): Promise<never> {
    this.metrics.revokedTokenRefused();
    return Promise.reject(new InvalidTokenError('revoked'));
  }

  /**
   * A full verification by the Passport strategy. When the key is at hand (the usual case) the
   * strategy settles at once and so does this: the Identity comes back synchronously, with no
   * promise or microtask. Refusals always come back as a rejected promise.
   */
  private verifyFully(token: string, cacheKey: string, request: AnyRequest): Identity | Promise<Identity> {
    const started = performance.now();
    const scratch: TokenScratch = { token, kid: undefined };
    tokenScratch.set(request, scratch);
    let outcome: Identity | Promise<Identity>;
    try {
      outcome = this.runStrategy(request);
    } catch (failure) {
      tokenScratch.delete(request);
      return Promise.reject(this.refused(failure, started));
    }
    if (!(outcome instanceof Promise)) {
      tokenScratch.delete(request);
      return this.accepted(outcome, scratch, cacheKey, started);
    }
    return outcome.then(
      (identity) => {
        tokenScratch.delete(request);
        return this.accepted(identity, scratch, cacheKey, started);
      },
      (failure: unknown) => {
        tokenScratch.delete(request);
        throw this.refused(failure, started);
      },
    );
  }

  private accepted(identity: Identity, scratch: TokenScratch, cacheKey: string, started: number): Identity | Promise<never> {
    // Checked after the verification, not before: a revocation that arrived meanwhile applies.
    if (this.revocations.isRevoked(identity)) return this.revoked();
    this.metrics.acceptedVerified((performance.now() - started) / 1000);
    // An entry lives exactly as long as the token would still verify: exp plus the clock tolerance.
    // Once the cache is full, a token is kept on its second verification (see offer()).
    this.cache?.offer(cacheKey, identity, scratch.kid, (identity.claims.exp as number) * 1000 + this.clockToleranceMs, scratch.token.length);
    return identity;
  }

  private refused(failure: unknown, started: number): Error {
    const error = toIdentityError(failure);
    const reason = 'reason' in error ? String(error.reason) : error instanceof IdentityUnavailableError ? 'unavailable' : 'error';
    this.metrics.verification(error instanceof IdentityUnavailableError ? 'unavailable' : 'rejected', reason, (performance.now() - started) / 1000);
    if (!(failure instanceof Error) || error.description === 'The access token is malformed') {
      this.logger.debug(`Token refused: ${reason}`);
    }
    return error;
  }

  /**
   * Runs the Passport strategy once, exactly as passport.authenticate(strategy, { session: false },
   * callback) does for a single strategy: a fresh object inheriting from the strategy gets the
   * success/fail/error/pass/redirect actions, then strategy.authenticate(request) runs. What the
   * middleware adds besides (req.login and friends, session handling) is not used without a session.
   * An attempt that settles during authenticate() is answered at once (the Identity, or a throw);
   * one that settles later (a JWKS refetch for an unknown kid) through a promise.
   */
  private runStrategy(request: AnyRequest): Identity | Promise<Identity> {
    let settled: { identity: Identity } | { failure: unknown } | undefined;
    let later: { resolve(identity: Identity): void; reject(failure: unknown): void } | undefined;
    const succeed = (identity: Identity) => (later ? later.resolve(identity) : (settled = { identity }));
    const refuse = (failure: unknown) => (later ? later.reject(failure) : (settled = { failure }));
    const attempt = Object.create(this.strategy) as StrategyAttempt;
    attempt.success = succeed;
    // passport: fail(status) has no challenge; the callback then gets (null, false, undefined).
    attempt.fail = (challenge) => refuse(typeof challenge === 'number' ? undefined : challenge);
    attempt.error = refuse;
    attempt.pass = () => refuse(undefined);
    attempt.redirect = () => refuse(undefined);
    attempt.authenticate(request, AUTHENTICATE_OPTIONS);
    if (settled !== undefined) {
      if ('failure' in settled) throw settled.failure;
      return settled.identity;
    }
    return new Promise<Identity>((resolve, reject) => (later = { resolve, reject }));
  }
}

/**
 * The token of the usual header, exactly one `Authorization: Bearer <token>` (one space, within
 * the length limit), or undefined for anything else, which then goes through extractBearerToken.
 * For this form extractBearerToken returns the same token whenever the token passes its b64token
 * check, and every cached token does: it verified, so it is three canonical base64url segments
 * (readCompactJws). A cache hit can therefore skip that scan of the whole token; a miss does not.
 */
function plainBearerToken(request: AnyRequest, maxLength: number): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string' || header.length <= 7 || header.length - 7 > maxLength) return undefined;
  if (!header.startsWith('Bearer ') || header.charCodeAt(7) === 32) return undefined;
  // Node keeps only the first Authorization header in `headers`; rawHeaders shows them all.
  const raw = request.rawHeaders ?? request.raw?.rawHeaders;
  if (raw !== undefined) {
    let count = 0;
    for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 13 && raw[i]!.toLowerCase() === 'authorization') count++;
    if (count !== 1) return undefined;
  }
  return header.slice(7);
}
