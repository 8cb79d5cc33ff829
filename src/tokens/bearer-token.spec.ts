import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../errors/invalid-request.error.js';
import { InvalidTokenError } from '../errors/invalid-token.error.js';
import { extractBearerToken } from './bearer-token.js';

const req = (authorization?: string, rawHeaders?: string[]) => ({
  headers: authorization === undefined ? {} : { authorization },
  rawHeaders: rawHeaders ?? (authorization === undefined ? [] : ['Authorization', authorization]),
});

describe('extractBearerToken', () => {
  it('reads the token after a case-insensitive Bearer scheme and one or more spaces', () => {
    expect(extractBearerToken(req('Bearer abc.def.ghi'), 100)).toBe('abc.def.ghi');
    expect(extractBearerToken(req('bearer abc.def.ghi'), 100)).toBe('abc.def.ghi');
    expect(extractBearerToken(req('BEARER   abc.def.ghi'), 100)).toBe('abc.def.ghi');
  });

  it('answers "no credentials" for a missing header or another scheme', () => {
    expect(extractBearerToken(req(), 100)).toBeUndefined();
    expect(extractBearerToken(req('Basic dXNlcjpwYXNz'), 100)).toBeUndefined();
    expect(extractBearerToken(req('Bearertoken'), 100)).toBeUndefined();
  });

  it('refuses malformed headers with 400 invalid_request', () => {
    for (const header of ['Bearer', 'Bearer ', 'Bearer\tabc', 'Bearer a b', 'Bearer a"b', 'Bearer abc\u00e9']) {
      expect(() => extractBearerToken(req(header), 100), header).toThrow(InvalidRequestError);
    }
  });

  it('refuses two Authorization headers even though Node keeps only the first', () => {
    const request = req('Bearer a.b.c', ['Authorization', 'Bearer a.b.c', 'authorization', 'Bearer x.y.z']);
    expect(() => extractBearerToken(request, 100)).toThrow(/exactly one Authorization header/);
  });

  it('refuses an oversized token by length before any decoding', () => {
    const error = (() => {
      try {
        extractBearerToken(req(`Bearer ${'a'.repeat(101)}`), 100);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(InvalidTokenError);
    expect((error as InvalidTokenError).reason).toBe('too_large');
  });

  it('reads Fastify requests, whose raw headers sit on request.raw', () => {
    const fastifyLike = { headers: { authorization: 'Bearer a.b.c' }, raw: { rawHeaders: ['authorization', 'Bearer a.b.c', 'Authorization', 'Bearer d'] } };
    expect(() => extractBearerToken(fastifyLike, 100)).toThrow(InvalidRequestError);
  });

  it('gives descriptions that fit in a WWW-Authenticate quoted string (RFC 6750 §3: no " or \\)', () => {
    for (const header of ['Bearer', 'Bearer ', 'Bearer\tabc', 'Bearer a b', 'bearer\u00a0abc']) {
      try {
        extractBearerToken(req(header), 100);
      } catch (error) {
        const challenge = (error as InvalidRequestError).headers('api')['WWW-Authenticate'];
        expect(challenge, header).toMatch(/^Bearer realm="api", error="invalid_request", error_description="[^"\\]+"$/);
      }
    }
    const two = req('Bearer a.b.c', ['Authorization', 'Bearer a.b.c', 'Authorization', 'Bearer d.e.f']);
    expect(() => extractBearerToken(two, 100)).toThrow(InvalidRequestError);
  });
});
