import { Injectable, Logger } from '@nestjs/common';
import passport from 'passport';
import { performance } from 'node:perf_hooks';
import { IdentityUnavailableError } from '../errors/identity-unavailable.error.js';
import { MissingTokenError } from '../errors/missing-token.error.js';
import { IdentityStatus } from '../health/identity-status.js';
import type { Identity } from '../identity/identity.js';
import { InjectIdentityOptions } from '../identity.module-definition.js';
import type { ResolvedIdentityOptions } from '../identity-options.js';
import { IdentityMetadataService } from '../metadata/identity-metadata.service.js';
import { IdentityMetrics } from '../metrics/identity.metrics.js';
import { extractBearerToken, type RequestWithHeaders } from './bearer-token.js';
import { IdentityStrategy, TOKEN_SCRATCH, type TokenScratch } from './identity.strategy.js';
import { JwksService } from './jwks.service.js';
import { VerifiedTokenCache } from './verified-token-cache.js';
import { toIdentityError } from './verification-errors.js';

type AnyRequest = RequestWithHeaders & { [TOKEN_SCRATCH]?: TokenScratch };

/**
 * From a request (or a raw token) to a verified Identity: the verified-token cache first, then
 * the Passport strategy. Every failure leaves as one of our HTTP errors. Guards, WebSocket
 * adapters and anything else that needs "who is this" call this one service.
 */
@Injectable()
export class TokenAuthenticator {
  private readonly logger = new Logger('IdentityTokens');
  private readonly cache?: VerifiedTokenCache;

  constructor(
    @InjectIdentityOptions() private readonly options: ResolvedIdentityOptions,
    private readonly strategy: IdentityStrategy,
    private readonly status: IdentityStatus,
    private readonly metrics: IdentityMetrics,
    jwks: JwksService,
    metadata: IdentityMetadataService,
  ) {
    if (options.tokenCache) {
      const cache = (this.cache = new VerifiedTokenCache(options.tokenCache));
      jwks.onKeysRemoved((kids) => cache.dropKeys(kids));
      metadata.onChange(() => cache.clear());
    }
  }

  /** Verifies the request's Bearer token. Throws MissingTokenError when there is none. */
  authenticate(request: AnyRequest): Promise<Identity> {
    const token = extractBearerToken(request, this.options.maxTokenLength);
    if (token === undefined) return Promise.reject(new MissingTokenError());
    return this.verify(token, request);
  }

  /** Verifies a raw access token (e.g. from a WebSocket handshake). */
  async verify(token: string, request: AnyRequest = { headers: {} }): Promise<Identity> {
    if (!this.status.canServe()) throw new IdentityUnavailableError();
    const cacheKey = this.cache ? VerifiedTokenCache.keyOf(token) : '';
    const cached = this.cache?.get(cacheKey);
    if (cached) {
      this.metrics.cacheHit();
      this.metrics.verification('accepted', 'cache');
      return cached;
    }
    if (this.cache) this.metrics.cacheMiss();
    const started = performance.now();
    const scratch: TokenScratch = { token };
    request[TOKEN_SCRATCH] = scratch;
    try {
      const identity = await this.runStrategy(request);
      this.metrics.verification('accepted', 'verified', (performance.now() - started) / 1000);
      const exp = identity.claims.exp as number;
      this.cache?.set(cacheKey, identity, scratch.kid, (exp + this.options.clockTolerance) * 1000, token.length);
      return identity;
    } catch (failure) {
      const error = toIdentityError(failure);
      const reason = 'reason' in error ? String(error.reason) : error instanceof IdentityUnavailableError ? 'unavailable' : 'error';
      this.metrics.verification(error instanceof IdentityUnavailableError ? 'unavailable' : 'rejected', reason, (performance.now() - started) / 1000);
      if (!(failure instanceof Error) || error.description === 'The access token is malformed') {
        this.logger.debug(`Token refused: ${reason}`);
      }
      throw error;
    } finally {
      delete request[TOKEN_SCRATCH];
    }
  }

  /** Forget cached verifications of a service account (after rotation or deletion). */
  forgetClient(clientId: string): void {
    this.cache?.dropClient(clientId);
  }

  forgetAll(): void {
    this.cache?.clear();
  }

  private runStrategy(request: AnyRequest): Promise<Identity> {
    return new Promise<Identity>((resolve, reject) => {
      // A fresh object per request: passport writes success/fail onto the strategy it is given.
      const perRequest = Object.create(this.strategy) as IdentityStrategy;
      passport.authenticate(perRequest, { session: false }, (error: unknown, user: Identity | false, info: unknown) => {
        if (error) reject(error);
        else if (!user) reject(info);
        else resolve(user);
      })(request, {}, (error: unknown) => reject(error));
    });
  }
}
