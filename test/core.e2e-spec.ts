import 'reflect-metadata';
import { Controller, Get, Req, UseGuards, type INestApplication } from '@nestjs/common';
import { AuthGuard } from '@nestjs/passport';
import { generateKeyPairSync, createHmac, createSign } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Identity, IDENTITY_STRATEGY, IdentityModule, RevocationService } from '../src/index.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { createApp, PLATFORMS } from './support/platforms.js';
import { TestController } from './support/test-controller.js';

const AUDIENCE = 'https://api.example.com';
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Expects the exact RFC 6750 answer for a refused token. */
function expectInvalidToken(response: request.Response, description: string) {
  expect(response.status, response.text).toBe(401);
  expect(response.headers['www-authenticate']).toBe(`Bearer realm="${AUDIENCE}", error="invalid_token", error_description="${description}"`);
  expect(response.body).toMatchObject({ statusCode: 401, error: 'invalid_token', message: description });
}

/** A route guarded the plain @nestjs/passport way, by the strategy's registered name. */
@Controller('passport')
class PassportController {
  @Get()
  @UseGuards(AuthGuard(IDENTITY_STRATEGY))
  whoAmI(@Req() request: { user: unknown }) {
    const user = request.user as Identity;
    return { isIdentity: user instanceof Identity, summary: user.describe() };
  }
}

describe.each(PLATFORMS)('IdentityModule core on %s', (platform) => {
  let idp: DevelopmentIdentityProvider;
  let app: INestApplication;
  let http: ReturnType<typeof request>;

  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
    app = await createApp(platform, {
      imports: [
        IdentityModule.forRootAsync({
          useFactory: () => ({ url: idp.issuer, audience: AUDIENCE, jwksCooldown: 0 }),
        }),
      ],
      controllers: [TestController],
    });
    http = request(app.getHttpServer());
  });

  afterAll(async () => {
    await app?.close();
    await idp?.stop();
  });

  it('lets a service token reach service routes and models it as a service account', async () => {
    const token = await idp.serviceAccountToken({ scopes: ['orders:read', 'jobs:dispatch'] });
    const me = await http.get('/me').set('Authorization', `Bearer ${token}`);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ kind: 'service', summary: expect.stringMatching(/^service-account:dev-service-account/) });
    expect((await http.get('/orders').auth(token, { type: 'bearer' })).status).toBe(200);
    expect((await http.get('/machines').auth(token, { type: 'bearer' })).status).toBe(200);
    const jobs = await http.post('/jobs').auth(token, { type: 'bearer' });
    expect(jobs.status).toBe(201);
  });

  it('lets a user token reach user routes with roles from user.roles', async () => {
    const token = await idp.userToken({ scopes: ['openid', 'orders:read'] });
    const me = await http.get('/me').auth(token, { type: 'bearer' });
    expect(me.body).toMatchObject({ kind: 'user', summary: expect.stringContaining('email=alice@example.com'), roles: ['admin', 'orders-manager'] });
    expect((await http.get('/admin').auth(token, { type: 'bearer' })).body).toEqual({ admin: 'alice@example.com' });
    expect((await http.post('/jobs').auth(token, { type: 'bearer' })).status).toBe(201);
    const machines = await http.get('/machines').auth(token, { type: 'bearer' });
    expect(machines.status).toBe(403);
    expect(machines.headers['www-authenticate']).toContain('error="insufficient_scope"');
  });

  it('answers 403 insufficient_scope with the scope, from guards and from handler assertions', async () => {
    const token = await idp.serviceAccountToken({ scopes: ['reports:read'] });
    const orders = await http.get('/orders').auth(token, { type: 'bearer' });
    expect(orders.status).toBe(403);
    expect(orders.headers['www-authenticate']).toBe(`Bearer realm="${AUDIENCE}", error="insufficient_scope", error_description="Missing required scope: orders:read", scope="orders:read"`);
    expect(orders.body).toMatchObject({ statusCode: 403, error: 'insufficient_scope' });
    expect((await http.get('/reports').auth(token, { type: 'bearer' })).status).toBe(200);
    const jobs = await http.post('/jobs').auth(token, { type: 'bearer' });
    expect(jobs.status).toBe(403);
    expect(jobs.headers['www-authenticate']).toContain('scope="jobs:dispatch"');
  });

  it('leaves public and undecorated routes open when not global', async () => {
    expect((await http.get('/public')).status).toBe(200);
    expect((await http.get('/unguarded')).status).toBe(200);
  });

  it('answers a bare challenge without credentials, and for another scheme', async () => {
    for (const response of [await http.get('/me'), await http.get('/me').set('Authorization', 'Basic dXNlcjpwYXNz')]) {
      expect(response.status).toBe(401);
      expect(response.headers['www-authenticate']).toBe(`Bearer realm="${AUDIENCE}"`);
    }
    const queryOnly = await http.get(`/me?access_token=${await idp.serviceAccountToken()}`);
    expect(queryOnly.status).toBe(401);
  });

  it('answers 400 invalid_request for a malformed Authorization header', async () => {
    const response = await http.get('/me').set('Authorization', 'Bearer');
    expect(response.status).toBe(400);
    expect(response.headers['www-authenticate']).toContain('error="invalid_request"');
  });

  it('refuses expired, not-yet-valid, wrong-audience and wrong-issuer tokens with precise reasons', async () => {
    expectInvalidToken(await http.get('/me').auth(await idp.mintToken({ expiresIn: -60 }), { type: 'bearer' }), 'The access token expired');
    expectInvalidToken(await http.get('/me').auth(await idp.mintToken({ claims: { nbf: Math.floor(Date.now() / 1000) + 600 } }), { type: 'bearer' }), 'The access token is not yet valid');
    expectInvalidToken(await http.get('/me').auth(await idp.mintToken({ claims: { aud: 'https://other.example.com' } }), { type: 'bearer' }), 'The access token is not meant for this resource server');
    expectInvalidToken(await http.get('/me').auth(await idp.mintToken({ claims: { iss: 'https://evil.example.com' } }), { type: 'bearer' }), 'The access token was issued by an untrusted issuer');
    expectInvalidToken(await http.get('/me').auth(await idp.mintToken({ omit: ['exp'] }), { type: 'bearer' }), 'The access token has missing or invalid claims');
  });

  it('refuses unknown kids, alg none, HMAC with the public key and tampered tokens', async () => {
    expectInvalidToken(await http.get('/me').auth(await idp.mintToken({ kid: 'no-such-key' }), { type: 'bearer' }), 'The access token is signed by an unknown key');
    const valid = await idp.mintToken();
    const [header, payload] = valid.split('.');
    const decodedHeader = JSON.parse(Buffer.from(header!, 'base64url').toString());
    const none = `${b64({ ...decodedHeader, alg: 'none' })}.${payload}.`;
    expectInvalidToken(await http.get('/me').auth(none, { type: 'bearer' }), 'The access token is malformed');
    const noneSigned = `${b64({ ...decodedHeader, alg: 'none' })}.${payload}.c2ln`;
    expectInvalidToken(await http.get('/me').auth(noneSigned, { type: 'bearer' }), 'The access token is signed with an algorithm that is not allowed');
    const publicPem = idp.signingKeyMaterial(decodedHeader.kid).publicKey.export({ format: 'pem', type: 'spki' }) as string;
    const hmacHeader = b64({ ...decodedHeader, alg: 'HS256' });
    const hmac = `${hmacHeader}.${payload}.${createHmac('sha256', publicPem).update(`${hmacHeader}.${payload}`).digest('base64url')}`;
    expectInvalidToken(await http.get('/me').auth(hmac, { type: 'bearer' }), 'The access token is signed with an algorithm that is not allowed');
    const tampered = `${header}.${b64({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), scope: 'orders:read orders:write identity:admin' })}.${valid.split('.')[2]}`;
    expectInvalidToken(await http.get('/me').auth(tampered, { type: 'bearer' }), 'The access token signature is invalid');
    const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const forged = `${header}.${payload}.${createSign('RSA-SHA256').update(`${header}.${payload}`).sign(attacker.privateKey).toString('base64url')}`;
    expectInvalidToken(await http.get('/me').auth(forged, { type: 'bearer' }), 'The access token signature is invalid');
  });

  it('accepts new tokens after the provider rotates its key, without a restart', async () => {
    const before = await idp.serviceAccountToken();
    await idp.rotateKeys();
    const after = await idp.serviceAccountToken();
    expect(JSON.parse(Buffer.from(after.split('.')[0]!, 'base64url').toString()).kid).not.toBe(JSON.parse(Buffer.from(before.split('.')[0]!, 'base64url').toString()).kid);
    expect((await http.get('/me').auth(after, { type: 'bearer' })).status).toBe(200);
    expect((await http.get('/me').auth(before, { type: 'bearer' })).status).toBe(200);
  });

  it('accepts ES256 tokens signed with the provider EC key', async () => {
    expect((await http.get('/me').auth(await idp.mintToken({ alg: 'ES256' }), { type: 'bearer' })).status).toBe(200);
  });

  it('registers the strategy with Passport: AuthGuard("identity-jwt") verifies too and puts the Identity on request.user', async () => {
    const passportApp = await createApp(platform, {
      imports: [IdentityModule.forRoot({ url: idp.issuer, audience: AUDIENCE })],
      controllers: [PassportController],
    });
    try {
      const passportHttp = request(passportApp.getHttpServer());
      const ok = await passportHttp.get('/passport').auth(await idp.serviceAccountToken(), { type: 'bearer' });
      expect(ok.status, ok.text).toBe(200);
      expect(ok.body).toMatchObject({ isIdentity: true, summary: expect.stringMatching(/^service-account:dev-service-account/) });
      expect((await passportHttp.get('/passport').auth(await idp.mintToken({ expiresIn: -60 }), { type: 'bearer' })).status).toBe(401);
      expect((await passportHttp.get('/passport').auth(await idp.mintToken({ alg: 'EdDSA' }), { type: 'bearer' })).status).toBe(401);
      expect((await passportHttp.get('/passport')).status).toBe(401);
      // A DPoP-bound token sent as Bearer is a downgrade: the strategy alone checks no proof, so it refuses it.
      const bound = await idp.mintToken({ claims: { cnf: { jkt: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs' } } });
      expect((await passportHttp.get('/passport').auth(bound, { type: 'bearer' })).status).toBe(401);
    } finally {
      await passportApp.close();
    }
  });

  it('AuthGuard("identity-jwt") on its own refuses a revoked token', async () => {
    const passportApp = await createApp(platform, {
      imports: [IdentityModule.forRoot({ url: idp.issuer, audience: AUDIENCE })],
      controllers: [PassportController],
    });
    try {
      const passportHttp = request(passportApp.getHttpServer());
      const token = await idp.mintToken({ claims: { sub: 'sa:revoked-subject', iat: Math.floor(Date.now() / 1000) - 30 } });
      expect((await passportHttp.get('/passport').auth(token, { type: 'bearer' })).status).toBe(200);
      await passportApp.get(RevocationService).revoke({ subject: 'sa:revoked-subject' }, 'test');
      const refused = await passportHttp.get('/passport').auth(token, { type: 'bearer' });
      expect(refused.status, refused.text).toBe(401);
      // Another subject still passes.
      expect((await passportHttp.get('/passport').auth(await idp.serviceAccountToken(), { type: 'bearer' })).status).toBe(200);
    } finally {
      await passportApp.close();
    }
  });

  it('refuses EdDSA tokens unless EdDSA is in the allow-list, and accepts them (Ed25519 key from the JWKS) when it is', async () => {
    const token = await idp.mintToken({ alg: 'EdDSA' });
    expectInvalidToken(await http.get('/me').auth(token, { type: 'bearer' }), 'The access token is signed with an algorithm that is not allowed');
    const edApp = await createApp(platform, {
      imports: [IdentityModule.forRoot({ url: idp.issuer, audience: AUDIENCE, algorithms: ['RS256', 'EdDSA'] })],
      controllers: [TestController],
    });
    try {
      const edHttp = request(edApp.getHttpServer());
      const me = await edHttp.get('/me').auth(token, { type: 'bearer' });
      expect(me.status, me.text).toBe(200);
      expect(me.body).toMatchObject({ kind: 'service' });
      const [header, payload, signature] = token.split('.');
      const flipped = `${signature!.slice(0, 10)}${signature![10] === 'A' ? 'B' : 'A'}${signature!.slice(11)}`;
      expectInvalidToken(await edHttp.get('/me').auth(`${header}.${payload}.${flipped}`, { type: 'bearer' }), 'The access token signature is invalid');
      // The Ed25519 key verifies EdDSA only: an ES256 token relabelled EdDSA with the EC key's kid is refused.
      const es = (await idp.mintToken({ alg: 'ES256' })).split('.');
      const esKid = JSON.parse(Buffer.from(es[0]!, 'base64url').toString()).kid;
      expect((await edHttp.get('/me').auth(`${b64({ alg: 'EdDSA', typ: 'JWT', kid: esKid })}.${es[1]}.${es[2]}`, { type: 'bearer' })).status).toBe(401);
    } finally {
      await edApp.close();
    }
  });
});
