import { describe, expect, it } from 'vitest';
import { IdentityUnavailableError } from '../errors/identity-unavailable.error.js';
import { InvalidTokenError } from '../errors/invalid-token.error.js';
import { toIdentityError } from './verification-errors.js';

describe('toIdentityError', () => {
  it('answers a generic malformed-token error for anything foreign, never its message', () => {
    const foreign = [
      Object.assign(new Error('jwt audience invalid. expected: https://api.example.com'), { name: 'JsonWebTokenError' }),
      new SyntaxError('Unexpected token } in JSON at position 3'),
      Object.assign(new Error('error:1E08010C:DECODER routines::unsupported'), { code: 'ERR_OSSL_UNSUPPORTED' }),
      'a string',
      undefined,
      { message: 'No auth token' },
    ];
    for (const failure of foreign) {
      const error = toIdentityError(failure);
      expect(error).toBeInstanceOf(InvalidTokenError);
      expect((error as InvalidTokenError).reason).toBe('malformed');
      expect(error.description).toBe('The access token is malformed');
    }
  });

  it('passes our own errors through unchanged', () => {
    const unavailable = new IdentityUnavailableError();
    expect(toIdentityError(unavailable)).toBe(unavailable);
    const invalid = new InvalidTokenError('type');
    expect(toIdentityError(invalid)).toBe(invalid);
  });
});
