import { BadGatewayException } from '@nestjs/common';
import { errorCode } from '../client/token-request.js';

/**
 * The Identity provider refused or failed a management request (RFC 7591/7592). 502: the
 * caller's request was fine, the upstream answer was not. Carries the provider's error code and
 * a bounded, printable copy of its description; never a secret or token.
 */
export class ProviderRequestError extends BadGatewayException {
  constructor(readonly operation: string, reason: string) {
    super({ statusCode: 502, error: 'identity_provider_error', message: `${operation} failed at the Identity provider: ${reason}` });
  }
}

/** The `error` and `error_description` of an OAuth error body, made safe to repeat. */
export function describeOAuthError(status: number, body: Record<string, unknown> | undefined): string {
  const error = errorCode(body?.error);
  const code = error ? ` (${error})` : '';
  const raw = typeof body?.error_description === 'string' ? body.error_description : '';
  const text = raw.replace(/[^\x20-\x7E]/g, '').slice(0, 200);
  return `HTTP ${status}${code}${text ? `: ${text}` : ''}`;
}
