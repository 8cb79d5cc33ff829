import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../errors/invalid-request.error.js';
import { InvalidTokenError } from '../errors/invalid-token.error.js';
import { assertSingleTokenMethod, extractBearerToken, type RequestWithHeaders } from './bearer-token.js';

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

describe('assertSingleTokenMethod (RFC 6750 §3.1: more than one method)', () => {
  const HEADER = 'Bearer a.b.c';
  const withHeader = (extra: Partial<RequestWithHeaders> & { contentType?: string } = {}): RequestWithHeaders => {
    const { contentType, ...rest } = extra;
    return { headers: { authorization: HEADER, ...(contentType ? { 'content-type': contentType } : {}) }, rawHeaders: ['Authorization', HEADER], ...rest };
  };
  const refusal = (request: RequestWithHeaders) => {
    try {
      assertSingleTokenMethod(request);
    } catch (error) {
      return error;
    }
    return undefined;
  };

  it('refuses the header plus an access_token query parameter, with or without a value, wherever it stands', () => {
    for (const url of ['/orders?access_token=x.y.z', '/orders?a=1&access_token=x', '/orders?access_token', '/orders?access_token=', '/o?b=2&access_token=t#frag']) {
      const error = refusal(withHeader({ url }));
      expect(error, url).toBeInstanceOf(InvalidRequestError);
      expect((error as InvalidRequestError).getStatus(), url).toBe(400);
      expect((error as InvalidRequestError).description, url).toMatch(/more than one method \(Authorization header and access_token query parameter\)/);
    }
  });

  it('decodes parameter names as query parsers do', () => {
    for (const url of ['/o?access%5Ftoken=x', '/o?%61ccess_token=x', '/o?x=%ZZ&access%5ftoken=1']) {
      expect(refusal(withHeader({ url })), url).toBeInstanceOf(InvalidRequestError);
    }
  });

  it('lets other parameters through, including look-alikes and the word in a value or a path', () => {
    for (const url of [
      '/orders',
      '/orders?',
      '/orders?page=2',
      '/orders?my_access_token=x',
      '/orders?access_token_hint=x',
      '/orders?q=access_token',
      '/access_token/orders?x=1',
      '/o?x=%ZZ',
      '/o#?access_token=x',
    ]) {
      expect(() => assertSingleTokenMethod(withHeader({ url })), url).not.toThrow();
    }
  });

  it('reads the URL of a Fastify request from raw when the request has none of its own', () => {
    const fastifyLike: RequestWithHeaders = { headers: { authorization: HEADER }, raw: { rawHeaders: ['authorization', HEADER], url: '/o?access_token=x' } };
    expect(() => assertSingleTokenMethod(fastifyLike)).toThrow(InvalidRequestError);
  });

  it('refuses the header plus an access_token form body parameter', () => {
    const form = 'application/x-www-form-urlencoded; charset=utf-8';
    const nullPrototype = Object.assign(Object.create(null) as object, { access_token: 'x' });
    // fast-querystring (Fastify's form parser) builds objects whose prototype is a null-prototype object.
    function Empty() {}
    Empty.prototype = Object.create(null) as object;
    const fastQuerystring = Object.assign(new (Empty as unknown as new () => object)(), { access_token: 'x' });
    for (const body of [{ access_token: 'x' }, { a: '1', access_token: '' }, nullPrototype, fastQuerystring]) {
      const error = refusal(withHeader({ url: '/orders', body, contentType: form }));
      expect(error).toBeInstanceOf(InvalidRequestError);
      expect((error as InvalidRequestError).description).toMatch(/access_token body parameter/);
    }
    expect(refusal(withHeader({ body: { access_token: 'x' }, contentType: 'Application/X-WWW-Form-Urlencoded' }))).toBeInstanceOf(InvalidRequestError);
  });

  it('leaves other bodies alone: JSON fields of that name, raw bodies, class instances, inherited keys', () => {
    const form = 'application/x-www-form-urlencoded';
    class Dto {
      access_token = 'x';
    }
    const cases: Array<[unknown, string | undefined]> = [
      [{ access_token: 'x' }, 'application/json'],
      [{ access_token: 'x' }, undefined],
      [{ other: 'x' }, form],
      [Object.create({ access_token: 'x' }), form],
      [Buffer.from('access_token=x'), form],
      ['access_token=x', form],
      [new Dto(), form],
      [null, form],
    ];
    for (const [body, contentType] of cases) {
      expect(() => assertSingleTokenMethod(withHeader({ url: '/o', body, contentType })), `${String(contentType)} ${JSON.stringify(body)}`).not.toThrow();
    }
  });

  it('does nothing without an Authorization header: tokens are never read from the query or the body', () => {
    expect(() => assertSingleTokenMethod({ headers: {}, url: '/o?access_token=x', body: { access_token: 'x' } })).not.toThrow();
    expect(() => assertSingleTokenMethod({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: { access_token: 'x' } })).not.toThrow();
  });

  it('gives a description that fits in a WWW-Authenticate quoted string', () => {
    for (const request of [withHeader({ url: '/o?access_token=x' }), withHeader({ body: { access_token: 'x' }, contentType: 'application/x-www-form-urlencoded' })]) {
      const challenge = (refusal(request) as InvalidRequestError).headers('api')['WWW-Authenticate'];
      expect(challenge).toMatch(/^Bearer realm="api", error="invalid_request", error_description="[^"\\]+"$/);
    }
  });
});
