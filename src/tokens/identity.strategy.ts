import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { Strategy, type StrategyOptionsWithRequest } from 'passport-jwt';
import { InvalidTokenError } from '../errors/invalid-token.error.js';
import { Identity } from '../identity/identity.js';
import { compileClaims, type ClaimsReader } from '../identity/claims-presets.js';
import type { JwtClaims } from '../identity/jwt-claims.js';
import { InjectIdentityOptions } from '../identity-options.token.js';
import type { ResolvedIdentityOptions } from '../identity-options.js';
import { JwksService } from './jwks.service.js';
import { readJwsHeader } from './jws-header.js';

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

/** Tokens claiming to live longer than this are refused: no issuer mints ten-year access tokens. */
const MAX_LIFETIME_SECONDS = 10 * 365 * 24 * 3600;

/**
 * The JWKS-backed Passport strategy. passport-jwt (jsonwebtoken underneath) checks the
 * signature, alg, iss, aud, exp and nbf with the clock tolerance; before that, our header
 * vetting refuses what jsonwebtoken would not (embedded keys, crit, typ) and hands it a
 * parsed KeyObject, so no PEM is parsed per request. validate() adds what jsonwebtoken leaves
 * out (required numeric exp, iat not in the future) and builds the Identity.
 */
@Injectable()
export class IdentityStrategy extends PassportStrategy(Strategy, IDENTITY_STRATEGY) {
  private readonly claims: ClaimsReader;

  constructor(
    @InjectIdentityOptions() private readonly options: ResolvedIdentityOptions,
    jwks: JwksService,
  ) {
    const strategyOptions: StrategyOptionsWithRequest = {
      jwtFromRequest: (request: object) => tokenScratch.get(request)?.token ?? null,
      secretOrKeyProvider: (request: object, rawToken: string, done: (error: unknown, key?: string | Buffer) => void) => {
        try {
          const header = readJwsHeader(rawToken, options.algorithms, options.requireAccessTokenType);
          const scratch = tokenScratch.get(request);
          // Remember the key actually used (a kid-less token gets the one key that fits), so that
          // a cached verification is dropped when that key leaves the JWKS.
          const use = (k: { kid?: string; key: unknown }) => {
            if (scratch) scratch.kid = k.kid;
            // jsonwebtoken takes a KeyObject as is (its types say string | Buffer).
            done(null, k.key as Buffer);
          };
          const key = jwks.getKey(header.kid, header.alg);
          if (key instanceof Promise) key.then(use, done);
          else use(key);
        } catch (error) {
          done(error);
        }
      },
      algorithms: [...options.algorithms],
      issuer: options.issuer,
      audience: options.audiences.length === 1 ? options.audiences[0]! : [...options.audiences],
      jsonWebTokenOptions: { clockTolerance: options.clockTolerance },
      passReqToCallback: true,
    };
    super(strategyOptions);
    this.claims = compileClaims(options.claims);
  }

  validate(_request: unknown, payload: JwtClaims): Identity {
    const now = Date.now() / 1000;
    const { exp, iat } = payload;
    if (typeof exp !== 'number' || !Number.isFinite(exp) || exp - now > MAX_LIFETIME_SECONDS) throw new InvalidTokenError('claims');
    if (iat !== undefined) {
      if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new InvalidTokenError('claims');
      if (iat > now + this.options.clockTolerance) throw new InvalidTokenError('issued_in_future');
    }
    const identity = Identity.fromClaims(payload, this.claims);
    if (!identity) throw new InvalidTokenError(this.claims.kind(payload) === 'ambiguous' ? 'ambiguous_identity' : 'claims');
    return identity;
  }
}
