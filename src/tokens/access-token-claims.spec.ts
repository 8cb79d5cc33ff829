import { describe, expect, it } from 'vitest';
import { InvalidTokenError } from '../errors/invalid-token.error.js';
import { checkAccessTokenClaims, type AccessTokenClaimsPolicy } from './access-token-claims.js';

const policy: AccessTokenClaimsPolicy = { issuer: 'https://id.example.com', audiences: ['https://api.example.com', 'api2'], clockTolerance: 5 };
const NOW = 1_800_000_000_000; // ms
const now = NOW / 1000;
const valid = { iss: policy.issuer, aud: 'https://api.example.com', exp: now + 300, iat: now - 10, nbf: now - 10, sub: 'x' };

function reasonOf(claims: Record<string, unknown>, at = NOW): string | undefined {
  try {
    checkAccessTokenClaims(claims, policy, at);
  } catch (error) {
    if (error instanceof InvalidTokenError) return error.reason;
    throw error;
  }
  return undefined;
}

describe('checkAccessTokenClaims', () => {
  it('accepts a token within its lifetime, for this audience, from this issuer', () => {
    expect(reasonOf(valid)).toBeUndefined();
    expect(reasonOf({ ...valid, aud: ['other', 'api2'] })).toBeUndefined();
    expect(reasonOf({ ...valid, nbf: undefined, iat: undefined })).toBeUndefined();
  });

  it('requires a numeric exp and refuses from the moment now reaches exp + tolerance, fractions included', () => {
    expect(reasonOf({ ...valid, exp: undefined })).toBe('claims');
    expect(reasonOf({ ...valid, exp: String(now + 300) })).toBe('claims');
    expect(reasonOf({ ...valid, exp: Number.NaN })).toBe('claims');
    expect(reasonOf({ ...valid, exp: now - 5 }, NOW - 1)).toBeUndefined(); // within the tolerance
    expect(reasonOf({ ...valid, exp: now - 5 })).toBe('expired');
    expect(reasonOf({ ...valid, exp: now - 4 }, NOW + 999)).toBeUndefined();
    expect(reasonOf({ ...valid, exp: now - 4.5 }, NOW + 499)).toBeUndefined();
    expect(reasonOf({ ...valid, exp: now - 4.5 }, NOW + 500)).toBe('expired');
    expect(reasonOf({ ...valid, exp: now + 11 * 365 * 24 * 3600 })).toBe('claims'); // ten-year tokens
  });

  it('honours nbf and iat with the clock tolerance', () => {
    expect(reasonOf({ ...valid, nbf: now + 5 })).toBeUndefined();
    expect(reasonOf({ ...valid, nbf: now + 6 })).toBe('not_yet_valid');
    expect(reasonOf({ ...valid, nbf: 'soon' })).toBe('claims');
    expect(reasonOf({ ...valid, iat: now + 5 })).toBeUndefined();
    expect(reasonOf({ ...valid, iat: now + 6 })).toBe('issued_in_future');
    expect(reasonOf({ ...valid, iat: null })).toBe('claims');
  });

  it('matches aud against the configured audiences, as a string or an array of strings', () => {
    expect(reasonOf({ ...valid, aud: undefined })).toBe('audience');
    expect(reasonOf({ ...valid, aud: 'https://api.example.com/' })).toBe('audience');
    expect(reasonOf({ ...valid, aud: ['other'] })).toBe('audience');
    expect(reasonOf({ ...valid, aud: [] })).toBe('audience');
    expect(reasonOf({ ...valid, aud: [['https://api.example.com']] })).toBe('audience');
    expect(reasonOf({ ...valid, aud: { 0: 'https://api.example.com' } })).toBe('audience');
    // RFC 7519 §4.1.3: an array of strings; anything else in it spoils the whole claim.
    expect(reasonOf({ ...valid, aud: ['https://api.example.com', 5] })).toBe('audience');
    expect(reasonOf({ ...valid, aud: ['https://api.example.com', null] })).toBe('audience');
  });

  it('matches iss exactly: no trailing slash, no case folding, no missing issuer', () => {
    expect(reasonOf({ ...valid, iss: 'https://id.example.com/' })).toBe('issuer');
    expect(reasonOf({ ...valid, iss: 'https://ID.example.com' })).toBe('issuer');
    expect(reasonOf({ ...valid, iss: undefined })).toBe('issuer');
    expect(reasonOf({ ...valid, iss: [policy.issuer] })).toBe('issuer');
  });
});
