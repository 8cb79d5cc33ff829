import { generateKeyPairSync } from 'node:crypto';
import { register } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityMetadataService, IdentityStatus, JwksService, TokenAuthenticator } from '../../src/index.js';
import { DevelopmentIdentityProvider } from '../../src/testing/index.js';
import { b64url, nowSeconds, partsOf, signRaw, withSegment } from './support/craft.js';
import { HostileProvider, json, redirect } from './support/hostile-provider.js';
import { LogCapture } from './support/log-capture.js';
import { SecretRegistry } from './support/secrets.js';
import { AUDIENCE, bearer, PLATFORMS, startSecurityApp } from './support/security-app.js';

/**
 * With every log level on (debug and verbose included), stdout, stderr and console captured,
 * a run of genuine and hostile traffic leaves no token, no part of one, no client secret and no
 * private key material in any log line, in the metrics, or in the status the health check shows.
 */
describe.each(PLATFORMS)('log hygiene on %s', (platform) => {
  let idp: DevelopmentIdentityProvider;
  let hostile: HostileProvider;
  const secrets = new SecretRegistry();
  const logs = new LogCapture();

  beforeAll(async () => {
    [idp, hostile] = await Promise.all([DevelopmentIdentityProvider.start({ audience: AUDIENCE }), HostileProvider.start(AUDIENCE)]);
    for (const key of idp.keys) secrets.privateKey(idp.signingKeyMaterial(key.kid).privateKey, `provider key ${key.kty}`);
    secrets.privateKey(hostile.key.privateKey, 'hostile provider key');
    secrets.add('dev service account secret', idp.defaultServiceAccount.clientSecret);
  });

  afterAll(async () => {
    await Promise.all([idp?.stop(), hostile?.stop()]);
  });

  it('a run of genuine and hostile requests logs no token, secret or key material', async () => {
    const s = await startSecurityApp(platform, () => ({ url: idp.issuer, audience: AUDIENCE, jwksCooldown: 0 }), { logs });
    try {
      const valid = secrets.token(await idp.mintToken());
      const user = secrets.token(await idp.userToken());
      const service = secrets.token(await idp.serviceAccountToken());
      const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
      secrets.privateKey(attacker.privateKey, 'attacker key');
      const claims = partsOf(valid).payload;
      const hostileTokens = [
        withSegment(valid, 1, b64url({ ...claims, scope: 'identity:admin' })),
        signRaw({ alg: 'RS256', kid: idp.signingKid }, claims, attacker.privateKey, 'RS256'),
        signRaw({ alg: 'RS256', kid: 'unknown-kid-for-refetch' }, claims, attacker.privateKey, 'RS256'),
        signRaw({ alg: 'RS256', kid: idp.signingKid, jwk: attacker.publicKey.export({ format: 'jwk' }) }, claims, attacker.privateKey, 'RS256'),
        `${b64url({ alg: 'none' })}.${valid.split('.')[1]}.`,
        `${b64url({ alg: 'HS256', kid: idp.signingKid })}.${valid.split('.')[1]}.${valid.split('.')[2]}`,
        await idp.mintToken({ expiresIn: -600 }),
        await idp.mintToken({ claims: { aud: 'https://other.example.com' } }),
        await idp.mintToken({ claims: { iss: 'https://evil.example.com' } }),
        await idp.mintToken({ claims: { exp: 1e300 } }),
        await idp.mintToken({ claims: { nonce: 'abc', at_hash: 'def' } }),
        await idp.mintToken({ claims: { token_use: 'user', user: { id: 'x' } } }),
        signRaw({ alg: 'RS256', kid: idp.signingKid }, '{"sub":1,"sub":2}', idp.signingKeyMaterial().privateKey, 'RS256'),
        signRaw({ alg: 'RS256', kid: idp.signingKid }, Buffer.from([0xff, 0xfe]), idp.signingKeyMaterial().privateKey, 'RS256'),
        `${valid}.${valid.split('.')[2]}`,
        `${valid}x`,
        valid.slice(0, -10),
        'a'.repeat(9000),
        `${valid.split('.')[0]}.${'A'.repeat(8000)}.${valid.split('.')[2]}`,
      ];
      for (const token of hostileTokens) secrets.token(token, 'hostile token');
      for (const token of [valid, user, service]) expect((await s.http.get('/sec/any').set(bearer(token))).status).toBe(200);
      for (const token of hostileTokens) expect([400, 401]).toContain((await s.http.get('/sec/any').set(bearer(token))).status);
      for (const header of [`Basic ${Buffer.from(`dev-service-account:${idp.defaultServiceAccount.clientSecret}`).toString('base64')}`, `Bearer ${valid} extra`, `Bearer\t${valid}`, `bearer  ${valid}`]) {
        await s.http.get('/sec/any').set('Authorization', header);
      }
      await s.http.get('/sec/any').set('Authorization', [`Bearer ${valid}`, `Bearer ${user}`] as unknown as string);
      await s.http.get(`/sec/any?access_token=${valid}`);
      await s.http.post('/sec/any').send({ access_token: valid, client_secret: idp.defaultServiceAccount.clientSecret });
      // Raw tokens through the service API (WebSocket adapters call verify() directly).
      const authenticator = s.app.get(TokenAuthenticator);
      for (const token of hostileTokens.slice(0, 5)) await authenticator.verify(token).catch(() => undefined);
      // A provider outage and back.
      idp.setFailing(true);
      await s.app.get(IdentityMetadataService).refresh().catch(() => undefined);
      await s.app.get(JwksService).refresh('scheduled').catch(() => undefined);
      idp.setFailing(false);

      const metrics = await register.metrics();
      const status = JSON.stringify(s.app.get(IdentityStatus).snapshot());
      expect(secrets.size).toBeGreaterThan(50);
      secrets.assertAbsent(logs.text, 'the logs');
      secrets.assertAbsent(metrics, 'the metrics');
      secrets.assertAbsent(status, 'the status');
      // The capture did see the module speak (so an empty capture cannot pass this test).
      expect(logs.text).toMatch(/Metadata loaded/);
      expect(logs.text, 'debug lines are captured too').toMatch(/\[debug\]/);
    } finally {
      await s.close();
    }
  });

  it('a hostile metadata document and key set are reported without their content', async () => {
    const canary = `secret-${'k'.repeat(24)}`;
    secrets.add('document canary', canary);
    const s = await startSecurityApp(platform, () => ({ url: hostile.issuer, audience: AUDIENCE, http: { timeoutMs: 300, maxBytes: 8192 } }), { logs });
    try {
      hostile.serveDocument({ ...hostile.goodDocument(), issuer: `https://${canary}.example.com`, client_secret: canary });
      await s.app.get(IdentityMetadataService).refresh().catch(() => undefined);
      hostile.routes.set('/.well-known/s3db-identity.json', json(200, `{"jwksUrl":"${canary}`));
      await s.app.get(IdentityMetadataService).refresh().catch(() => undefined);
      hostile.routes.set('/.well-known/s3db-identity.json', redirect(`/x?token=${canary}`));
      await s.app.get(IdentityMetadataService).refresh().catch(() => undefined);
      hostile.reset();
      hostile.serveJwks({ keys: [{ kty: 'oct', k: canary, kid: canary }], private: canary });
      await s.app.get(JwksService).refresh('scheduled').catch(() => undefined);
      hostile.routes.set('/jwks.json', json(500, canary));
      await s.app.get(JwksService).refresh('scheduled').catch(() => undefined);
      expect((await s.http.get('/sec/any').set(bearer(secrets.token(hostile.mint())))).status).toBe(200);
      secrets.assertAbsent(logs.text, 'the logs');
      secrets.assertAbsent(JSON.stringify(s.app.get(IdentityStatus).snapshot()), 'the status');
      expect(logs.text).toMatch(/Metadata refresh failed/);
    } finally {
      await s.close();
      hostile.reset();
    }
  });

  it('claims echoed into logs by the application are the application’s doing: Identity.describe() carries no token', async () => {
    const s = await startSecurityApp(platform, () => ({ url: idp.issuer, audience: AUDIENCE }), { logs });
    try {
      const token = secrets.token(await idp.mintToken({ claims: { iat: nowSeconds() } }));
      const response = await s.http.get('/sec/any').set(bearer(token));
      expect(response.status).toBe(200);
      secrets.assertAbsent(JSON.stringify(response.body), 'the response');
    } finally {
      await s.close();
    }
  });
});
