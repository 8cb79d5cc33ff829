import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityModule } from '../src/index.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { createApp, PLATFORMS } from './support/platforms.js';
import { TestController } from './support/test-controller.js';

// RFC 6750 §3.1: a request that carries the access token by more than one method (the
// Authorization header, and the access_token query or form body parameter) is a 400
// invalid_request. Tokens are still never read from the query or the body: without the header,
// such a request is a bare 401. (Needs assertSingleTokenMethod called from TokenAuthenticator.identify.)
const AUDIENCE = 'https://api.example.com';
const FORM = 'application/x-www-form-urlencoded';

function expectMoreThanOneMethod(response: request.Response, where: 'query' | 'body'): void {
  expect(response.status).toBe(400);
  expect(response.body).toMatchObject({ statusCode: 400, error: 'invalid_request' });
  expect(response.body.message).toMatch(new RegExp(`more than one method \\(Authorization header and access_token ${where} parameter\\)`));
  expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="https:\/\/api\.example\.com", error="invalid_request", error_description="The access token was sent by more than one method/);
}

function expectBareChallenge(response: request.Response): void {
  expect(response.status).toBe(401);
  expect(response.headers['www-authenticate']).toBe(`Bearer realm="${AUDIENCE}"`);
}

describe.each(PLATFORMS)('RFC 6750 §3.1, more than one method, on %s', (platform) => {
  let idp: DevelopmentIdentityProvider;
  let cached: INestApplication;
  let uncached: INestApplication;

  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
    const options = { url: idp.issuer, audience: AUDIENCE, metrics: false };
    cached = await createApp(platform, { imports: [IdentityModule.forRoot(options)], controllers: [TestController] });
    uncached = await createApp(platform, { imports: [IdentityModule.forRoot({ ...options, tokenCache: false })], controllers: [TestController] });
  });
  afterAll(async () => {
    await cached?.close();
    await uncached?.close();
    await idp?.stop();
  });

  it('refuses the header plus an access_token query parameter: a token never seen, then a cached one', async () => {
    const http = request(cached.getHttpServer());
    const token = await idp.serviceAccountToken({ scopes: ['orders:read'] });
    // A token never seen (the full verification path).
    expectMoreThanOneMethod(await http.get(`/orders?access_token=${token}`).auth(token, { type: 'bearer' }), 'query');
    // Accepted with the header alone, so it is now in the verified-token cache...
    expect((await http.get('/orders').auth(token, { type: 'bearer' })).status).toBe(200);
    // ...and the cache-hit path refuses the same request too.
    expectMoreThanOneMethod(await http.get(`/orders?access_token=${token}`).auth(token, { type: 'bearer' }), 'query');
    // Whatever the query's value, another token or none, and wherever the parameter stands.
    expectMoreThanOneMethod(await http.get('/orders?page=2&access_token=other').auth(token, { type: 'bearer' }), 'query');
    expectMoreThanOneMethod(await http.get('/orders?access%5Ftoken=').auth(token, { type: 'bearer' }), 'query');
  });

  it('refuses the header plus an access_token query parameter without the cache', async () => {
    const token = await idp.serviceAccountToken({ scopes: ['orders:read'] });
    const http = request(uncached.getHttpServer());
    expectMoreThanOneMethod(await http.get(`/orders?access_token=${token}`).auth(token, { type: 'bearer' }), 'query');
    expect((await http.get('/orders?page=2').auth(token, { type: 'bearer' })).status).toBe(200);
  });

  it('never reads a token from the query: without the header it is a bare 401', async () => {
    const token = await idp.serviceAccountToken({ scopes: ['orders:read'] });
    expectBareChallenge(await request(cached.getHttpServer()).get(`/orders?access_token=${token}`));
  });

  it('lets other query parameters through', async () => {
    const token = await idp.serviceAccountToken({ scopes: ['orders:read'] });
    const http = request(cached.getHttpServer());
    expect((await http.get('/orders?page=2&my_access_token=x&q=access_token').auth(token, { type: 'bearer' })).status).toBe(200);
  });

  it('refuses the header plus an access_token form body parameter', async () => {
    const token = await idp.serviceAccountToken({ scopes: ['jobs:dispatch'] });
    for (const app of [cached, uncached]) {
      const http = request(app.getHttpServer());
      expectMoreThanOneMethod(await http.post('/jobs').auth(token, { type: 'bearer' }).type(FORM).send(`priority=1&access_token=${token}`), 'body');
      // The same body without the parameter passes, and so again does the token (now cached, for the first app).
      expect((await http.post('/jobs').auth(token, { type: 'bearer' }).type(FORM).send('priority=1')).status).toBe(201);
      expectMoreThanOneMethod(await http.post('/jobs').auth(token, { type: 'bearer' }).type(FORM).send(`access_token=${token}`), 'body');
    }
  });

  it('never reads a token from a form body: without the header it is a bare 401', async () => {
    const token = await idp.serviceAccountToken({ scopes: ['jobs:dispatch'] });
    expectBareChallenge(await request(cached.getHttpServer()).post('/jobs').type(FORM).send(`access_token=${token}`));
  });

  it('does not count a JSON field named access_token as a method', async () => {
    const token = await idp.serviceAccountToken({ scopes: ['jobs:dispatch'] });
    const response = await request(cached.getHttpServer()).post('/jobs').auth(token, { type: 'bearer' }).send({ access_token: 'a token of another service' });
    expect(response.status).toBe(201);
  });
});
