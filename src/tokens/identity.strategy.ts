import { Injectable, Optional } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { Strategy } from 'passport-jwt';
import { InvalidTokenError } from '../errors/invalid-token.error.js';
import { MissingTokenError } from '../errors/missing-token.error.js';
import { Identity } from '../identity/identity.js';
import { compileClaims, type ClaimsReader } from '../identity/claims-presets.js';
import type { JwtClaims } from '../identity/jwt-claims.js';
import { InjectIdentityOptions } from '../identity-options.token.js';
import type { ResolvedIdentityOptions } from '../identity-options.js';
import { RevocationService } from '../revocation/revocation.service.js';
import { checkAccessTokenClaims, type AccessTokenClaimsPolicy } from './access-token-claims.js';
import { extractBearerToken, type RequestWithHeaders } from './bearer-token.js';
import { readCompactJws, type CompactJws } from './compact-jws.js';
import type { VerificationKey } from './jwks-keys.js';
import { JwksService } from './jwks.service.js';
import { verifyJwsSignature } from './jws-signature.js';

export const IDENTITY_STRATEGY = 'identity-jwt';

/**
 * Per-verification scratch the authenticator and the strategy share: the token to verify in, the
 * kid it was verified with out. Kept beside the request (never written onto it) so that the
 * request object keeps its shape.
 */
export interface TokenScratch {
  token: string;
  kid: string | undefined;
}
export const tokenScratch = new WeakMap<object, TokenScratch>();

/** The actions Passport gives each attempt of a strategy (see passport's authenticate middleware). */
interface PassportActions {
  success(user: unknown, info?: unknown): void;
  fail(challenge?: unknown, status?: number): void;
}

/**
 * The JWKS-backed Passport strategy, a passport-jwt `Strategy` registered with Passport as
 * `identity-jwt`. passport-jwt's authenticate() hands every token to jsonwebtoken, which
 * decodes it twice and verifies through a stream: about half the cost of a whole request on
 * Fastify (see bench/README.md). So authenticate() is ours, with passport-jwt's flow (token,
 * key, verify, validate, success or fail) and each step done once:
 *
 * 1. readCompactJws: three canonical base64url segments, header vetting (alg allow-list, no
 *    embedded keys, no crit, typ), header and claims decoded once, no duplicate names;
 * 2. JwksService.getKey: a parsed KeyObject per kid that fits alg (never a PEM parse), a JWKS
 *    refetch for an unknown kid at most once per cooldown;
 * 3. verifyJwsSignature: synchronous node:crypto on the event loop, no thread-pool hop;
 * 4. checkAccessTokenClaims: iss, aud, exp (required), nbf, iat with the clock tolerance;
 * 5. validate(): the Identity, by the configured claim mapping.
 *
 * Every failure is one Passport fail() carrying one of our errors (InvalidTokenError with its
 * reason, MissingTokenError, or IdentityUnavailableError when the keys cannot be had); success()
 * is called outside any try, so an exception in it never turns into a fail() as well.
 */
@Injectable()
export class IdentityStrategy extends PassportStrategy(Strategy, IDENTITY_STRATEGY) {
  private readonly claims: ClaimsReader;
  private readonly policy: AccessTokenClaimsPolicy;

  constructor(
    @InjectIdentityOptions() private readonly options: ResolvedIdentityOptions,
    private readonly jwks: JwksService,
    // RevocationService injects nothing of the token path (options, status, metrics, audit, the
    // credential store), so no DI cycle. Optional: a strategy built without the module checks none.
    @Optional() private readonly revocations?: RevocationService,
  ) {
    // passport-jwt's constructor demands a token source and a key source; authenticate() below
    // reads the token and looks the key up itself, so neither is ever called.
    super({
      jwtFromRequest: () => null,
      secretOrKeyProvider: (_request: unknown, _token: string, done: (error: unknown) => void) => done(new InvalidTokenError('unknown_key')),
    });
    this.claims = compileClaims(options.claims);
    this.policy = { issuer: options.issuer, audiences: options.audiences, clockTolerance: options.clockTolerance };
  }

  /**
   * One Passport attempt (`this` is the per-attempt object Passport derives from the strategy).
   * The token comes from the TokenAuthenticator's scratch, or, when the strategy is used on its
   * own (`AuthGuard('identity-jwt')`), from the Authorization header.
   */
  override authenticate(this: this & PassportActions, request: RequestWithHeaders): void {
    const scratch = tokenScratch.get(request);
    let jws: CompactJws;
    let key: VerificationKey | Promise<VerificationKey>;
    try {
      const token = scratch?.token ?? extractBearerToken(request, this.options.maxTokenLength);
      if (token === undefined) return this.fail(new MissingTokenError());
      jws = readCompactJws(token, this.options.algorithms, this.options.requireAccessTokenType);
      key = this.jwks.getKey(jws.header.kid, jws.header.alg);
    } catch (error) {
      return this.fail(error);
    }
    if (key instanceof Promise) {
      key
        .then(
          (found) => this.accept(request, jws, found, scratch),
          (error: unknown) => this.fail(error),
        )
        // Passport's actions do not throw for our callers; should one ever, it is no unhandled rejection.
        .catch(() => undefined);
      return;
    }
    this.accept(request, jws, key, scratch);
  }

  /** Turns the verified claims into an Identity, or refuses a token that names no one (or two kinds). */
  validate(_request: unknown, payload: JwtClaims): Identity {
    const identity = Identity.fromClaims(payload, this.claims);
    if (!identity) throw new InvalidTokenError(this.claims.kind(payload) === 'ambiguous' ? 'ambiguous_identity' : 'claims');
    return identity;
  }

  private accept(this: this & PassportActions, request: RequestWithHeaders, jws: CompactJws, key: VerificationKey, scratch: { kid: string | undefined } | undefined): void {
    let identity: Identity;
    try {
      if (!verifyJwsSignature(jws.header.alg, key.key, jws.signingInput, jws.signature)) throw new InvalidTokenError('signature');
      checkAccessTokenClaims(jws.claims, this.policy, Date.now());
      // On its own (AuthGuard('identity-jwt')) the strategy reads Bearer only and checks no proof:
      // a DPoP-bound token (cnf, RFC 9449 §6.1) sent as Bearer is a downgrade, refused here too.
      if (scratch === undefined && jws.claims.cnf !== undefined) throw new InvalidTokenError('dpop_bound');
      identity = this.validate(request, jws.claims);
      // The authenticator checks revocation itself (after this, so a revocation arriving meanwhile
      // applies); on its own the strategy must, or a revoked token passes AuthGuard('identity-jwt').
      if (scratch === undefined && this.revocations?.isRevoked(identity) === true) throw new InvalidTokenError('revoked');
    } catch (error) {
      return this.fail(error);
    }
    // The key actually used (a kid-less token gets the one key that fits): a cached verification
    // is dropped when that key leaves the JWKS.
    if (scratch !== undefined) scratch.kid = key.kid;
    this.success(identity);
  }
}
