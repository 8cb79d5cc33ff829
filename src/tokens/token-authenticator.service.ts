import { Injectable, Logger, type ExecutionContext } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { routeRequiresDpop } from '../dpop/require-dpop.decorator.js';
import { dpopSchemeToken, usesDpopScheme, type DpopRequest } from '../dpop/dpop-request.js';
import { DpopService } from '../dpop/dpop.service.js';
import { dpopOnly, type AuthScheme, type IdentityChallenge } from '../errors/identity-challenge.js';
import { IdentityHttpError } from '../errors/identity-http.error.js';
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
import { assertSingleTokenMethod, extractBearerToken, type RequestWithHeaders } from './bearer-token.js';
import { IdentityStrategy, tokenScratch, type TokenScratch } from './identity.strategy.js';
import { JwksService } from './jwks.service.js';
import { VerifiedTokenCache } from './verified-token-cache.js';
import { toIdentityError } from './verification-errors.js';

type AnyRequest = RequestWithHeaders;

/**
 * The route a request is for, as the guard sees it: `@RequireDpop()` is read from its handler and
 * class, and a new DPoP nonce goes on its response. An ExecutionContext.
 */
export type RouteContext = Pick<ExecutionContext, 'getHandler' | 'getClass' | 'getType' | 'switchToHttp'>;

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
  /** DPoP accepted on every route (mode allowed or required). */
  private readonly dpopEverywhere: boolean;
  /** DPoP required on every route (mode required). */
  private readonly dpopRequired: boolean;
  private readonly challenge: IdentityChallenge;
  private readonly dpopChallenge: IdentityChallenge;

  constructor(
    @InjectIdentityOptions() options: ResolvedIdentityOptions,
    private readonly strategy: IdentityStrategy,
    private readonly status: IdentityStatus,
    private readonly metrics: IdentityMetrics,
    jwks: JwksService,
    metadata: IdentityMetadataService,
    private readonly revocations: RevocationService,
    private readonly dpop: DpopService,
  ) {
    this.maxTokenLength = options.maxTokenLength;
    this.clockToleranceMs = options.clockTolerance * 1000;
    this.dpopEverywhere = options.dpop.mode !== 'off';
    this.dpopRequired = options.dpop.mode === 'required';
    this.challenge = options.challenge;
    this.dpopChallenge = options.dpop.mode === 'required' ? options.challenge : dpopOnly(options.challenge);
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

  /** Verifies the request's Bearer (or DPoP) token. Throws MissingTokenError when there is none. */
  authenticate(request: AnyRequest, route?: RouteContext): Promise<Identity> {
    try {
      const result = this.identify(request, route);
      return result instanceof Promise ? result : Promise.resolve(result);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Like authenticate(), but an accepted token comes back as the Identity itself, at once (no
   * promise, no microtask), whenever no JWKS fetch was needed: a verified-token cache hit, or a
   * full verification with a known key. A refusal, or a verification waiting for the JWKS, comes
   * back as a promise. A malformed Authorization header throws synchronously. What the guards call.
   *
   * `route` (the guard's ExecutionContext) lets `@RequireDpop()` apply and a new DPoP nonce reach
   * the response. With DPoP off and no such route, the path is the Bearer one, plus a refusal of
   * DPoP-bound tokens (a bound token is only usable with its key: never as a Bearer token).
   */
  identify(request: AnyRequest, route?: RouteContext): Identity | Promise<Identity> {
    // RFC 6750 §3.1: the header plus an access_token query or form parameter is a 400, cache hit or not.
    assertSingleTokenMethod(request);
    // DPoP's own path for the DPoP scheme, and wherever DPoP is required; Bearer requests where
    // DPoP is merely allowed stay on the Bearer path below (cache hits as fast as without DPoP).
    if (this.dpopRequired || usesDpopScheme(request) || routeRequiresDpop(route)) {
      if (this.dpopEverywhere || routeRequiresDpop(route)) return this.identifyWithDpop(request as DpopRequest, route);
    }
    const cache = this.cache;
    const now = cache === undefined ? 0 : Date.now();
    if (cache !== undefined && this.status.canServe(now)) {
      // The usual header and a token seen before: the Identity at once, no b64token scan.
      const token = plainBearerToken(request, this.maxTokenLength);
      if (token !== undefined) {
        const found = this.recall(cache, token, now);
        if (typeof found !== 'string') return (found as Partial<Identity>).claims?.cnf === undefined ? found : this.asBearer(found);
        // A token never seen: every rule of the Authorization header applies (it throws as before).
        extractBearerToken(request, this.maxTokenLength);
        this.metrics.cacheMiss();
        return this.asBearer(this.verifyFully(token, found, request));
      }
    }
    const token = extractBearerToken(request, this.maxTokenLength);
    if (token === undefined) return Promise.reject(this.dpopEverywhere ? new MissingTokenError('A Bearer or DPoP access token is required') : new MissingTokenError());
    return this.asBearer(this.verifyOrRecall(token, request));
  }

  /**
   * Verifies a raw access token (e.g. from a WebSocket handshake), within the same length limit as
   * the header. A DPoP-bound token is refused: there is no proof to go with it.
   */
  async verify(token: string, request: AnyRequest = { headers: {} }): Promise<Identity> {
    if (token.length > this.maxTokenLength) throw new InvalidTokenError('too_large');
    return this.asBearer(this.verifyOrRecall(token, request));
  }

  /**
   * The DPoP-aware path (RFC 9449): `Authorization: DPoP <token>` with a `DPoP` proof, or, unless
   * DPoP is required here, `Authorization: Bearer <token>` with an unbound token. The token goes
   * through the verified-token cache as always; the proof is checked on every request. Scheme
   * confusion is refused both ways: a bound token sent as Bearer, an unbound one sent as DPoP.
   */
  private identifyWithDpop(request: DpopRequest, route: RouteContext | undefined): Identity | Promise<Identity> {
    const required = this.dpopRequired || routeRequiresDpop(route);
    const challenge = required ? this.dpopChallenge : this.challenge;
    let token: string | undefined;
    let scheme: AuthScheme = 'DPoP';
    try {
      token = dpopSchemeToken(request, this.maxTokenLength);
      if (token === undefined) {
        scheme = 'Bearer';
        token = extractBearerToken(request, this.maxTokenLength);
      }
    } catch (error) {
      throw this.inChallenge(error, challenge, scheme);
    }
    if (token === undefined) {
      const missing = new MissingTokenError(required ? 'A DPoP-bound access token and a DPoP proof are required' : 'A Bearer or DPoP access token is required');
      return Promise.reject(missing.challengeFor(challenge));
    }
    if (scheme === 'Bearer') {
      if (required) return Promise.reject(this.schemeRefused('dpop_required', challenge, 'Bearer'));
      const result = this.asBearer(this.verifyOrRecall(token, request));
      return result instanceof Promise ? result.catch((error: unknown) => Promise.reject(this.inChallenge(error, challenge, 'Bearer'))) : result;
    }
    return this.withProof(request, token, route, challenge);
  }

  private async withProof(request: DpopRequest, token: string, route: RouteContext | undefined, challenge: IdentityChallenge): Promise<Identity> {
    try {
      const identity = await this.verifyOrRecall(token, request);
      const jkt = boundKey(identity);
      if (jkt === undefined) throw this.schemeRefused('not_dpop_bound', challenge, 'DPoP');
      await this.dpop.check(request, token, jkt, route);
      return identity;
    } catch (error) {
      throw this.inChallenge(error, challenge, 'DPoP');
    }
  }

  /** An identity whose token is bound to a key is refused when presented without its proof. */
  private asBearer(result: Identity | Promise<Identity>): Identity | Promise<Identity> {
    if (result instanceof Promise) return result.then((identity) => (isBound(identity) ? this.boundAsBearer() : identity));
    return isBound(result) ? this.boundAsBearer() : result;
  }

  private boundAsBearer(): Promise<never> {
    return Promise.reject(this.schemeRefused(this.dpopEverywhere ? 'dpop_bound' : 'dpop_scheme_off', this.dpopRequired ? this.dpopChallenge : this.challenge, 'Bearer'));
  }

  private schemeRefused(reason: 'dpop_bound' | 'not_dpop_bound' | 'dpop_required' | 'dpop_scheme_off', challenge: IdentityChallenge, scheme: AuthScheme): InvalidTokenError {
    this.metrics.verification('rejected', reason);
    return new InvalidTokenError(reason).challengeFor(challenge, scheme);
  }

  private inChallenge(error: unknown, challenge: IdentityChallenge, scheme: AuthScheme): unknown {
    return error instanceof IdentityHttpError ? error.challengeFor(challenge, scheme) : error;
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
 * Whether a token is bound to a key in any way (a `cnf` claim, RFC 7800): `cnf.jkt` (DPoP), but
 * also `x5t#S256` (mTLS, RFC 8705) or anything else. Such a token is never usable as Bearer.
 */
function isBound(identity: Identity): boolean {
  return identity.claims.cnf !== undefined;
}

/** The RFC 7638 thumbprint a token is bound to (`cnf.jkt`, RFC 9449 §6.1), or undefined for an unbound token. */
function boundKey(identity: Identity): string | undefined {
  const cnf = identity.claims.cnf as { jkt?: unknown } | undefined;
  if (cnf === undefined || cnf === null || typeof cnf !== 'object') return undefined;
  return typeof cnf.jkt === 'string' ? cnf.jkt : undefined;
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
