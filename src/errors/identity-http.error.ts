import { HttpException } from '@nestjs/common';
import { bearerChallenge, type AuthScheme, type IdentityChallenge } from './identity-challenge.js';

/** Characters RFC 6750 §3 does not allow inside a quoted auth-param value (quote, backslash, controls, non-ASCII). */
const UNSAFE_PARAM_CHARS = /[^\x20\x21\x23-\x5B\x5D-\x7E]/g;

function quoteParam(name: string, value: string): string {
  // Our values are fixed strings, but a realm or a description may still hold a quote: such
  // characters are removed (never escaped, never passed through), so no value can end the quoted
  // string, inject a header line or smuggle another parameter.
  const safe = value.replace(UNSAFE_PARAM_CHARS, '');
  return safe.length > 0 ? `${name}="${safe}"` : '';
}

/**
 * Base of every HTTP answer the module gives. Each subclass owns its status, its RFC 6750 /
 * RFC 9449 `error` code and the `WWW-Authenticate` (and other) headers that go with it, so guards
 * and filters never have to know which header belongs to which failure.
 *
 * The challenge: a 401 names every scheme the resource accepts (`Bearer …, DPoP …`), the error's
 * parameters in the challenge of the scheme the request used; any other status names one scheme.
 * Every challenge carries the realm, and `resource_metadata` (RFC 9728 §5.1) when the resource
 * publishes metadata; the DPoP challenge carries `algs`.
 */
export abstract class IdentityHttpError extends HttpException {
  /** RFC 6750 `error` code, or undefined for a bare challenge (no credentials sent). */
  abstract readonly code: string | undefined;
  /** The scheme the request used, when known: the error's parameters go into that scheme's challenge. */
  private usedScheme?: AuthScheme;
  /** The challenge of the request's route, when it differs from the resource's (see challengeFor). */
  private routeChallenge?: IdentityChallenge;

  protected constructor(
    status: number,
    /** A short, safe sentence: never token content, never secrets. */
    readonly description: string,
    code: string | undefined,
  ) {
    super({ statusCode: status, error: code ?? defaultCodeFor(status), message: description }, status);
  }

  /** The scheme this error concerns (the one the request used), if it was recorded. */
  get scheme(): AuthScheme | undefined {
    return this.usedScheme;
  }

  /**
   * Records what only the request path knows: the challenge of the request's route (DPoP alone
   * where DPoP is required) and the scheme the request used. The first call wins, so a later,
   * less informed caller cannot undo it. Returns the error, to throw.
   */
  challengeFor(challenge: IdentityChallenge | undefined, scheme?: AuthScheme): this {
    this.routeChallenge ??= challenge;
    this.usedScheme ??= scheme;
    return this;
  }

  /**
   * Headers to set on the response, given this resource server's challenge (or only its realm: a
   * Bearer challenge). A challenge recorded with challengeFor() takes precedence.
   */
  headers(challenge: string | IdentityChallenge): Record<string, string> {
    return { 'WWW-Authenticate': this.challenge(challenge) };
  }

  protected challenge(challenge: string | IdentityChallenge, extra: Record<string, string> = {}): string {
    const context = this.routeChallenge ?? (typeof challenge === 'string' ? bearerChallenge(challenge) : challenge);
    const offered = context.schemes.length > 0 ? context.schemes : (['Bearer'] as const);
    const used = this.usedScheme !== undefined && offered.includes(this.usedScheme) ? this.usedScheme : offered[0]!;
    const schemes = this.getStatus() === 401 ? offered : [used];
    return schemes.map((scheme) => this.oneChallenge(scheme, context, scheme === used, extra)).join(', ');
  }

  private oneChallenge(scheme: AuthScheme, context: IdentityChallenge, withError: boolean, extra: Record<string, string>): string {
    const params = [quoteParam('realm', context.realm)];
    if (withError && this.code) {
      params.push(quoteParam('error', this.code), quoteParam('error_description', this.description));
      for (const [name, value] of Object.entries(extra)) params.push(quoteParam(name, value));
    }
    if (scheme === 'DPoP' && context.dpopAlgs?.length) params.push(quoteParam('algs', context.dpopAlgs.join(' ')));
    if (context.resourceMetadata) params.push(quoteParam('resource_metadata', context.resourceMetadata));
    const list = params.filter(Boolean).join(', ');
    return list ? `${scheme} ${list}` : scheme;
  }
}

function defaultCodeFor(status: number): string {
  if (status === 401) return 'unauthorized';
  if (status === 503) return 'temporarily_unavailable';
  return 'error';
}
