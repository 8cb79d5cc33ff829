import { Injectable, Logger, Optional, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { createHash } from 'node:crypto';
import { IdentityUnavailableError } from '../errors/identity-unavailable.error.js';
import { InvalidDpopProofError } from '../errors/invalid-dpop-proof.error.js';
import { UseDpopNonceError } from '../errors/use-dpop-nonce.error.js';
import { InjectIdentityOptions } from '../identity-options.token.js';
import type { ResolvedIdentityOptions } from '../identity-options.js';
import { IdentityMetrics } from '../metrics/identity.metrics.js';
import { openRedisConnection } from '../redis/redis-connection.js';
import type { DpopMode, ResolvedDpopOptions } from './dpop-options.js';
import { DpopNonces } from './dpop-nonces.js';
import { DpopProofVerifier, type VerifiedDpopProof } from './dpop-proof.js';
import type { DpopReplayStore } from './dpop-replay-store.js';
import { headerCount, requestUrl, type DpopRequest } from './dpop-request.js';
import { MemoryDpopReplayStore } from './memory-dpop-replay-store.js';
import { RedisDpopReplayStore } from './redis-dpop-replay-store.js';

/** What the proof check needs to know about the route: where the answer goes, if anywhere. */
export interface DpopResponseTarget {
  switchToHttp?(): { getResponse(): unknown };
  getType?(): string;
}

/**
 * DPoP for the token path (RFC 9449): the proof check of one request, the replay cache, and the
 * server nonces. TokenAuthenticator calls check() for every request that presents a DPoP-bound
 * token with the DPoP scheme, cache hit or not: only the token's own verification is ever cached,
 * never a proof. The proof itself is verified by DpopProofVerifier (jose); this service adds the
 * request's method and URL, the nonce, the replay check (last, so a refused proof never uses up
 * its jti) and the `identity_dpop_proofs_total{result}` count.
 */
@Injectable()
export class DpopService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('IdentityDpop');
  readonly options: ResolvedDpopOptions;
  private readonly verifier: DpopProofVerifier;
  private readonly store: DpopReplayStore;
  private readonly ownsStore: boolean;
  readonly nonces?: DpopNonces;

  constructor(
    @InjectIdentityOptions() options: ResolvedIdentityOptions,
    private readonly metrics: IdentityMetrics,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {
    this.options = options.dpop;
    this.verifier = new DpopProofVerifier({ algorithms: new Set(this.options.algorithms), iatWindowSeconds: this.options.iatWindowSeconds });
    const replay = this.options.replayStore;
    if (replay.type === 'custom') {
      this.store = replay.store;
      this.ownsStore = false;
    } else if (replay.type === 'redis') {
      this.store = new RedisDpopReplayStore(openRedisConnection(replay.url), replay.keyPrefix);
      this.ownsStore = true;
    } else {
      this.store = new MemoryDpopReplayStore();
      this.ownsStore = true;
    }
    const nonce = this.options.nonce;
    if (nonce) this.nonces = new DpopNonces(DpopNonces.secretFrom(nonce.secret, options.encryptionKey), nonce.rotationSeconds * 1000);
  }

  get mode(): DpopMode {
    return this.options.mode;
  }

  onModuleInit(): void {
    this.nonces?.start();
  }

  async onModuleDestroy(): Promise<void> {
    this.nonces?.stop();
    if (this.ownsStore) await this.store.close?.();
  }

  /**
   * Checks the request's DPoP proof for `token`, bound to `jkt` (RFC 9449 §4.3, §7.1, §9, §11.1).
   * Resolves when the proof is good (and, with nonces, puts the current nonce on the response);
   * rejects with InvalidDpopProofError, UseDpopNonceError, or IdentityUnavailableError (503) when
   * the replay cache cannot answer.
   */
  async check(request: DpopRequest, token: string, jkt: string, route?: DpopResponseTarget): Promise<void> {
    const count = headerCount(request, 'dpop');
    if (count !== 1) throw this.refused(new InvalidDpopProofError(count === 0 ? 'missing' : 'multiple'));
    const header = request.headers.dpop;
    const proof = Array.isArray(header) ? header[0] : header;
    if (typeof proof !== 'string' || proof.trim().length === 0) throw this.refused(new InvalidDpopProofError('missing'));
    // Two field values folded into one line (RFC 9110 §5.3): no JWS holds a comma.
    if (proof.includes(',')) throw this.refused(new InvalidDpopProofError('multiple'));
    const now = Date.now();
    let verified: VerifiedDpopProof;
    try {
      verified = await this.verifier.verify({
        proof,
        method: typeof request.method === 'string' ? request.method : '',
        url: requestUrl(request, this.options),
        accessToken: token,
        jkt,
        now,
      });
    } catch (error) {
      throw error instanceof InvalidDpopProofError ? this.refused(error) : error;
    }
    const nonces = this.nonces;
    if (nonces !== undefined && (verified.nonce === undefined || !nonces.accepts(verified.nonce))) {
      this.metrics.dpopProof('use_dpop_nonce');
      throw new UseDpopNonceError(nonces.current(), verified.nonce === undefined ? 'Resource server requires nonce in DPoP proof' : 'The DPoP proof nonce is not current: use the nonce in DPoP-Nonce');
    }
    // Keyed by the proof key and jti (RFC 9449 §11.1), hashed: a jti is client-chosen and unbounded.
    const key = createHash('sha256').update(`${verified.thumbprint}:${verified.jti}`).digest('base64url');
    // Kept until the proof's iat leaves the window: it cannot be accepted afterwards anyway.
    const ttlMs = Math.max(1000, (verified.iat + this.options.iatWindowSeconds + 1) * 1000 - now);
    let fresh: boolean;
    try {
      fresh = await this.store.remember(key, ttlMs);
    } catch (error) {
      this.metrics.dpopProof('unavailable');
      this.logger.warn(`DPoP replay check unavailable: ${error instanceof Error && 'safeMessage' in error ? error.message : 'the replay store failed'}`);
      throw new IdentityUnavailableError('The DPoP replay check is unavailable; try again later', 5);
    }
    if (!fresh) throw this.refused(new InvalidDpopProofError('replay'));
    this.metrics.dpopProof('accepted');
    if (nonces !== undefined) this.offerNonce(request, route, nonces.current());
  }

  /** A new nonce with every accepted DPoP request (RFC 9449 §9: the client uses it on its next proof). */
  private offerNonce(request: DpopRequest, route: DpopResponseTarget | undefined, nonce: string): void {
    const response = route?.getType?.() === 'http' ? route.switchToHttp?.().getResponse() : request.res;
    const adapter = this.adapterHost?.httpAdapter;
    if (response === undefined || response === null || adapter === undefined) return;
    adapter.setHeader(response, 'DPoP-Nonce', nonce);
  }

  private refused(error: InvalidDpopProofError): InvalidDpopProofError {
    this.metrics.dpopProof(error.reason);
    return error;
  }
}
