import { describe, expect, it } from 'vitest';
import { IdentityUnavailableError } from '../errors/identity-unavailable.error.js';
import { InvalidTokenError } from '../errors/invalid-token.error.js';
import { toIdentityError } from './verification-errors.js';

const jwtError = (message: string) => Object.assign(new Error(message), { name: 'JsonWebTokenError' });
const reason = (failure: unknown) => {
  const error = toIdentityError(failure);
  expect(error).toBeInstanceOf(InvalidTokenError);
  return (error as InvalidTokenError).reason;
};

describe('toIdentityError', () => {
  it('maps jsonwebtoken failures to fixed reasons, never echoing its message', () => {
    expect(reason(jwtError('invalid signature'))).toBe('signature');
    expect(reason(jwtError('jwt audience invalid. expected: https://api.example.com'))).toBe('audience');
    expect(reason(jwtError('jwt issuer invalid. expected: https://auth.example.com'))).toBe('issuer');
    expect(reason(jwtError('invalid exp value'))).toBe('claims');
    expect(reason(jwtError('secretOrPublicKey must be an asymmetric key when using RS256'))).toBe('unknown_key');
    expect(reason(jwtError('jwt must be provided'))).toBe('malformed');
    expect(reason(Object.assign(new Error('jwt expired'), { name: 'TokenExpiredError' }))).toBe('expired');
    expect(reason(Object.assign(new Error('jwt not active'), { name: 'NotBeforeError' }))).toBe('not_yet_valid');
    for (const message of ['invalid signature', 'jwt audience invalid. expected: x']) {
      expect(toIdentityError(jwtError(message)).description).not.toContain('expected');
    }
  });

  it('answers a signature failure for ECDSA length errors and crypto parse errors, never a 500', () => {
    expect(reason(new TypeError('"ES256" signatures must be "64" bytes, saw "70"'))).toBe('signature');
    expect(reason(Object.assign(new Error('error:1E08010C:DECODER routines::unsupported'), { code: 'ERR_OSSL_UNSUPPORTED' }))).toBe('signature');
    expect(reason(new SyntaxError('Unexpected token } in JSON at position 3'))).toBe('malformed');
    expect(reason('a string')).toBe('malformed');
    expect(reason(undefined)).toBe('malformed');
    expect(reason({ message: 'No auth token' })).toBe('malformed');
  });

  it('passes our own errors through unchanged', () => {
    const unavailable = new IdentityUnavailableError();
    expect(toIdentityError(unavailable)).toBe(unavailable);
    const invalid = new InvalidTokenError('type');
    expect(toIdentityError(invalid)).toBe(invalid);
  });
});
