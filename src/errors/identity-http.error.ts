import { HttpException } from '@nestjs/common';

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
 * Base of every HTTP answer the module gives. Each subclass owns its status, its RFC 6750
 * `error` code and the `WWW-Authenticate` (and other) headers that go with it, so guards and
 * filters never have to know which header belongs to which failure.
 */
export abstract class IdentityHttpError extends HttpException {
  /** RFC 6750 `error` code, or undefined for a bare challenge (no credentials sent). */
  abstract readonly code: string | undefined;

  protected constructor(
    status: number,
    /** A short, safe sentence: never token content, never secrets. */
    readonly description: string,
    code: string | undefined,
  ) {
    super({ statusCode: status, error: code ?? defaultCodeFor(status), message: description }, status);
  }

  /** Headers to set on the response, given the realm of this resource server. */
  headers(realm: string): Record<string, string> {
    return { 'WWW-Authenticate': this.challenge(realm) };
  }

  protected challenge(realm: string, extra: Record<string, string> = {}): string {
    const params = [quoteParam('realm', realm)];
    if (this.code) {
      params.push(quoteParam('error', this.code), quoteParam('error_description', this.description));
    }
    for (const [name, value] of Object.entries(extra)) params.push(quoteParam(name, value));
    return `Bearer ${params.filter(Boolean).join(', ')}`;
  }
}

function defaultCodeFor(status: number): string {
  if (status === 401) return 'unauthorized';
  if (status === 503) return 'temporarily_unavailable';
  return 'error';
}
