import { describe, expect, it } from 'vitest';
import { IdentityUnavailableError } from './identity-unavailable.error.js';
import { InsufficientScopeError } from './insufficient-scope.error.js';
import { InvalidRequestError } from './invalid-request.error.js';
import { InvalidTokenError, type InvalidTokenReason } from './invalid-token.error.js';
import { MissingTokenError } from './missing-token.error.js';

const QUOTED = /^Bearer( [a-z_]+="[\x20\x21\x23-\x5B\x5D-\x7E]*",?)*$/;

describe('RFC 6750 challenges', () => {
  it('builds the exact challenge of each error', () => {
    expect(new MissingTokenError().headers('api')).toEqual({ 'WWW-Authenticate': 'Bearer realm="api"' });
    expect(new InvalidTokenError('expired').headers('api')['WWW-Authenticate']).toBe('Bearer realm="api", error="invalid_token", error_description="The access token expired"');
    expect(new InsufficientScopeError('a b', 'Missing required scope: b').headers('api')['WWW-Authenticate']).toBe(
      'Bearer realm="api", error="insufficient_scope", error_description="Missing required scope: b", scope="a b"',
    );
    expect(new IdentityUnavailableError().headers()).toEqual({ 'Retry-After': '30' });
  });

  it('every invalid_token reason has a fixed, quotable description', () => {
    const reasons: InvalidTokenReason[] = ['malformed', 'too_large', 'algorithm', 'type', 'crit', 'embedded_key', 'unknown_key', 'signature', 'expired', 'not_yet_valid', 'issued_in_future', 'issuer', 'audience', 'claims', 'ambiguous_identity'];
    for (const reason of reasons) {
      const error = new InvalidTokenError(reason);
      expect(error.getStatus()).toBe(401);
      expect(error.headers('api')['WWW-Authenticate'], reason).toMatch(QUOTED);
      expect(error.headers('api')['WWW-Authenticate'], reason).toContain('error_description=');
    }
  });

  it('strips quotes, backslashes, CR/LF and non-ASCII from parameter values instead of passing them on', () => {
    const challenge = new InvalidRequestError('say "hi"\r\nSet-Cookie: x=1 \\ é').headers('realm "x"\r\n')['WWW-Authenticate'];
    expect(challenge).toMatch(QUOTED);
    expect(challenge).not.toMatch(/[\r\n"\\]"|Set-Cookie: x=1 \\/);
    expect(challenge).toBe('Bearer realm="realm x", error="invalid_request", error_description="say hiSet-Cookie: x=1  "');
  });
});
