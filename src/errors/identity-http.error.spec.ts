import { describe, expect, it } from 'vitest';
import { IdentityUnavailableError } from './identity-unavailable.error.js';
import { InsufficientScopeError } from './insufficient-scope.error.js';
import { InvalidRequestError } from './invalid-request.error.js';
import { InvalidTokenError, type InvalidTokenReason } from './invalid-token.error.js';
import { MissingTokenError } from './missing-token.error.js';
import { dpopOnly } from './identity-challenge.js';
import { InvalidDpopProofError } from './invalid-dpop-proof.error.js';
import { UseDpopNonceError } from './use-dpop-nonce.error.js';

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

  it('names every accepted scheme in a 401, the error in the scheme used, resource_metadata in each; one scheme otherwise', () => {
    const challenge = { realm: 'api', schemes: ['Bearer', 'DPoP'] as const, dpopAlgs: ['ES256', 'PS256'], resourceMetadata: 'https://api.example.com/.well-known/oauth-protected-resource' };
    const rm = 'resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"';
    expect(new MissingTokenError().headers(challenge)['WWW-Authenticate']).toBe(`Bearer realm="api", ${rm}, DPoP realm="api", algs="ES256 PS256", ${rm}`);
    expect(new InvalidTokenError('expired').challengeFor(undefined, 'DPoP').headers(challenge)['WWW-Authenticate']).toBe(
      `Bearer realm="api", ${rm}, DPoP realm="api", error="invalid_token", error_description="The access token expired", algs="ES256 PS256", ${rm}`,
    );
    expect(new InsufficientScopeError('a b', 'Missing required scope: b').challengeFor(undefined, 'DPoP').headers(challenge)['WWW-Authenticate']).toBe(
      `DPoP realm="api", error="insufficient_scope", error_description="Missing required scope: b", scope="a b", algs="ES256 PS256", ${rm}`,
    );
    const nonce = new UseDpopNonceError('n0nce').headers({ ...challenge, schemes: ['DPoP'] });
    expect(nonce).toEqual({ 'WWW-Authenticate': `DPoP realm="api", error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof", algs="ES256 PS256", ${rm}`, 'DPoP-Nonce': 'n0nce' });
    // The challenge of the route, recorded first, wins over the resource's.
    const routed = new InvalidDpopProofError('replay').challengeFor(dpopOnly(challenge)).headers('ignored')['WWW-Authenticate'];
    expect(routed).toBe(`DPoP realm="api", error="invalid_dpop_proof", error_description="The DPoP proof was already used", algs="ES256 PS256", ${rm}`);
    expect(new InvalidRequestError('x').headers({ ...challenge, resourceMetadata: 'https://a/"b' })['WWW-Authenticate']).toMatch(/resource_metadata="https:\/\/a\/b"$/);
  });
});
