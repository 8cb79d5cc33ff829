import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { createServer } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityMetadataService, IdentityModule } from '../src/index.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { createApp, PLATFORMS } from './support/platforms.js';
import { TestController } from './support/test-controller.js';

const AUDIENCE = 'https://api.example.com';

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe.each(PLATFORMS)('IdentityModule configuration on %s', (platform) => {
  let idp: DevelopmentIdentityProvider;
  const apps: INestApplication[] = [];
  const start = async (options: Parameters<typeof IdentityModule.forRoot>[0]) => {
    const app = await createApp(platform, { imports: [IdentityModule.forRoot(options)], controllers: [TestController] });
    apps.push(app);
    return app;
  };

  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await idp?.stop();
  });

  it('global: true denies undecorated routes and @Public() opens them', async () => {
    const app = await start({ url: idp.issuer, audience: AUDIENCE, global: true });
    const http = request(app.getHttpServer());
    const unguarded = await http.get('/unguarded');
    expect(unguarded.status).toBe(401);
    expect(unguarded.headers['www-authenticate']).toBe(`Bearer realm="${AUDIENCE}"`);
    expect((await http.get('/public')).status).toBe(200);
    expect((await http.get('/unguarded').auth(await idp.serviceAccountToken(), { type: 'bearer' })).status).toBe(200);
  });

  it('falls back to OIDC discovery when the provider has no s3db document', async () => {
    const standard = await DevelopmentIdentityProvider.start({ audience: AUDIENCE, s3dbDocument: false });
    try {
      const app = await start({ url: standard.issuer, audience: AUDIENCE });
      const metadata = app.get(IdentityMetadataService).get();
      expect(metadata.source).toBe('oidc-discovery');
      expect(metadata.jwksUrl).toBe(`${standard.issuer}/.well-known/jwks.json`);
      expect(standard.stats.s3dbDocument).toBe(1);
      expect(standard.stats.discovery).toBe(1);
      const token = await standard.serviceAccountToken({ scopes: ['orders:read'] });
      expect((await request(app.getHttpServer()).get('/orders').auth(token, { type: 'bearer' })).status).toBe(200);
    } finally {
      await apps.pop()?.close();
      await standard.stop();
    }
  });

  it('require: true with no provider fails the boot naming the URL it tried', async () => {
    const port = await closedPort();
    await expect(start({ url: `http://127.0.0.1:${port}`, audience: AUDIENCE, require: true, http: { timeoutMs: 1000 } })).rejects.toThrow(
      new RegExp(`Identity metadata unavailable: tried http://127\\.0\\.0\\.1:${port}/\\.well-known/s3db-identity\\.json`),
    );
  });

  it('inline metadata (same process) fetches no metadata document', async () => {
    const before = idp.stats;
    const app = await start({ metadata: { issuer: idp.issuer, jwksUrl: `${idp.issuer}/.well-known/jwks.json` }, audience: AUDIENCE });
    expect(idp.stats.s3dbDocument).toBe(before.s3dbDocument);
    expect(idp.stats.discovery).toBe(before.discovery);
    expect(app.get(IdentityMetadataService).get().source).toBe('inline');
    expect((await request(app.getHttpServer()).get('/me').auth(await idp.serviceAccountToken(), { type: 'bearer' })).status).toBe(200);
  });

  it('requireAccessTokenType refuses typ JWT and accepts at+jwt (RFC 9068)', async () => {
    const app = await start({ url: idp.issuer, audience: AUDIENCE, requireAccessTokenType: true });
    const http = request(app.getHttpServer());
    const plain = await http.get('/me').auth(await idp.serviceAccountToken(), { type: 'bearer' });
    expect(plain.status).toBe(401);
    expect(plain.headers['www-authenticate']).toContain('error_description="The access token has a type that is not accepted"');
    const typed = await idp.mintToken({ header: { typ: 'at+jwt' } });
    expect((await http.get('/me').auth(typed, { type: 'bearer' })).status).toBe(200);
  });

  it('a configuration mistake fails the boot with the option and the fix', async () => {
    await expect(start({ url: idp.issuer } as never)).rejects.toThrow(/option "audience": is required/);
    await expect(start({ url: idp.issuer, audience: AUDIENCE, algorithms: ['HS256' as never] })).rejects.toThrow(/option "algorithms"/);
  });

  it('the issuer must match the metadata exactly (a trailing slash is a mismatch)', async () => {
    await expect(start({ url: idp.issuer, issuer: `${idp.issuer}/`, audience: AUDIENCE })).rejects.toThrow(/Identity metadata unavailable/);
  });
});
