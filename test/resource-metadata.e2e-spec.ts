import 'reflect-metadata';
import { Controller, Get, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityModule, Public, RequireScope, type IdentityModuleOptions } from '../src/index.js';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { DEFAULT_DEVELOPMENT_SCOPES, DevelopmentIdentityProvider } from '../src/testing/index.js';
import { LogGuard } from './support/log-guard.js';
import { createApp, PLATFORMS, type PlatformName } from './support/platforms.js';
import { TestController } from './support/test-controller.js';

const RESOURCE = 'https://api.example.com/mcp';
const METADATA_PATH = '/.well-known/oauth-protected-resource/mcp';
const METADATA_URL = `https://api.example.com${METADATA_PATH}`;

/** Scopes the discovery must find (and one it must leave out). */
@Controller('files')
class FilesController {
  @Get()
  @RequireScope('files:read', 'files:list')
  list() {
    return { files: [] };
  }

  @Get('offline')
  @RequireScope('offline_access')
  offline() {
    return { ok: true };
  }

  @Get('open')
  @Public()
  open() {
    return { ok: true };
  }
}

/** Not a route: its decorator must not count. */
@Controller('helpers')
class HelperController {
  @RequireScope('not:a:route')
  helper() {
    return undefined;
  }
}

async function start(platform: PlatformName, options: IdentityModuleOptions, prefix?: string): Promise<INestApplication> {
  const metadata = { imports: [IdentityModule.forRoot({ metrics: false, ...options })], controllers: [TestController, FilesController, HelperController] };
  if (!prefix) return createApp(platform, metadata);
  // A global prefix must be set before init, which createApp does at once.
  const moduleRef = await Test.createTestingModule(metadata).compile();
  const app = platform === 'fastify' ? moduleRef.createNestApplication(new FastifyAdapter()) : moduleRef.createNestApplication();
  app.useLogger(new LogGuard());
  app.setGlobalPrefix(prefix);
  await app.init();
  if (platform === 'fastify') await (app.getHttpAdapter().getInstance() as { ready(): Promise<unknown> }).ready();
  return app;
}

describe.each(PLATFORMS)('RFC 9728 protected-resource metadata on %s', (platform) => {
  let idp: DevelopmentIdentityProvider;
  let app: INestApplication;
  let http: ReturnType<typeof request>;

  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: RESOURCE, scopes: [...DEFAULT_DEVELOPMENT_SCOPES, 'files:read', 'files:list'] });
    // Upper-case scheme and host are accepted, and published in canonical form.
    app = await start(platform, { url: idp.issuer, resourceMetadata: { resource: 'HTTPS://API.Example.COM/mcp' }, global: true });
    http = request(app.getHttpServer());
  });

  afterAll(async () => {
    await app?.close();
    await idp?.stop();
  });

  it('serves the document at the path-aware well-known URL, public, cacheable, with the defaults', async () => {
    const response = await http.get(METADATA_PATH);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.headers['cache-control']).toBe('public, max-age=3600');
    expect(response.headers['access-control-allow-origin']).toBe('*');
    expect(response.body).toEqual({
      resource: RESOURCE,
      authorization_servers: [idp.issuer],
      // Every @RequireScope on a route (class and method, all and any forms), never offline_access.
      scopes_supported: ['files:list', 'files:read', 'orders:read', 'orders:write', 'reports:read'],
      bearer_methods_supported: ['header'],
    });
    expect((await http.head(METADATA_PATH)).status).toBe(200);
    // Only that path: the root well-known document and other paths are not ours.
    expect((await http.get('/.well-known/oauth-protected-resource')).status).toBe(404);
    expect((await http.get(`${METADATA_PATH}/more`)).status).toBe(404);
  });

  it('takes the audience from resource: its tokens pass, tokens for another resource do not', async () => {
    const token = await idp.serviceAccountToken({ scopes: ['orders:read'], audience: RESOURCE });
    expect((await http.get('/orders').auth(token, { type: 'bearer' })).status).toBe(200);
    const other = await idp.serviceAccountToken({ scopes: ['orders:read'], audience: 'https://api.example.com/other' });
    const refused = await http.get('/orders').auth(other, { type: 'bearer' });
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toBe(
      `Bearer realm="${RESOURCE}", error="invalid_token", error_description="The access token is not meant for this resource server", resource_metadata="${METADATA_URL}"`,
    );
  });

  it('puts resource_metadata in every challenge: 401 without credentials carries no error', async () => {
    for (const response of [await http.get('/orders'), await http.get('/me').set('Authorization', 'Basic dXNlcjpwYXNz')]) {
      expect(response.status).toBe(401);
      expect(response.headers['www-authenticate']).toBe(`Bearer realm="${RESOURCE}", resource_metadata="${METADATA_URL}"`);
    }
    const malformed = await http.get('/me').set('Authorization', 'Bearer');
    expect(malformed.status).toBe(400);
    expect(malformed.headers['www-authenticate']).toContain(`resource_metadata="${METADATA_URL}"`);
  });

  it('403 insufficient_scope names every scope the route needs, with resource_metadata', async () => {
    const token = await idp.serviceAccountToken({ scopes: ['files:read'], audience: RESOURCE });
    const response = await http.get('/files').auth(token, { type: 'bearer' });
    expect(response.status).toBe(403);
    expect(response.headers['www-authenticate']).toBe(
      `Bearer realm="${RESOURCE}", error="insufficient_scope", error_description="Missing required scope: files:list", scope="files:read files:list", resource_metadata="${METADATA_URL}"`,
    );
    // From a handler's own assertion too (identity.assertScope: the module's exception filter answers).
    const jobs = await http.post('/jobs').auth(await idp.serviceAccountToken({ scopes: ['orders:read'], audience: RESOURCE }), { type: 'bearer' });
    expect(jobs.status).toBe(403);
    expect(jobs.headers['www-authenticate']).toContain(`scope="jobs:dispatch", resource_metadata="${METADATA_URL}"`);
  });

  it('is public under global: true, and stays at the origin root under a global prefix', async () => {
    const prefixed = await start(platform, { url: idp.issuer, resourceMetadata: { resource: 'https://api.example.com/', cacheMaxAge: 60 }, global: true }, 'api');
    try {
      const response = await request(prefixed.getHttpServer()).get('/.well-known/oauth-protected-resource');
      expect(response.status).toBe(200);
      expect(response.headers['cache-control']).toBe('public, max-age=60');
      expect(response.body.resource).toBe('https://api.example.com');
      const challenge = (await request(prefixed.getHttpServer()).get('/api/orders')).headers['www-authenticate'];
      expect(challenge).toBe('Bearer realm="https://api.example.com", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"');
    } finally {
      await prefixed.close();
    }
  });

  it('publishes the explicit options, the DPoP members, and extra members', async () => {
    const custom = await start(platform, {
      url: idp.issuer,
      audience: ['https://api.example.com/tools', 'legacy-audience'],
      resourceMetadata: {
        resource: 'https://api.example.com/tools/',
        authorizationServers: ['https://login.example.com', idp.issuer],
        scopesSupported: ['tools:run'],
        resourceName: 'Tools',
        resourceDocumentation: 'https://docs.example.com/tools',
        extra: { resource_policy_uri: 'https://example.com/policy' },
      },
      dpop: { mode: 'required', algorithms: ['ES256', 'EdDSA'] },
    });
    try {
      const response = await request(custom.getHttpServer()).get('/.well-known/oauth-protected-resource/tools');
      expect(response.body).toEqual({
        resource: 'https://api.example.com/tools/',
        authorization_servers: ['https://login.example.com', idp.issuer],
        scopes_supported: ['tools:run'],
        bearer_methods_supported: ['header'],
        resource_name: 'Tools',
        resource_documentation: 'https://docs.example.com/tools',
        resource_policy_uri: 'https://example.com/policy',
        dpop_signing_alg_values_supported: ['ES256', 'EdDSA'],
        dpop_bound_access_tokens_required: true,
      });
      const challenge = (await request(custom.getHttpServer()).get('/orders')).headers['www-authenticate'];
      expect(challenge).toBe('DPoP realm="https://api.example.com/tools", algs="ES256 EdDSA", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/tools"');
    } finally {
      await custom.close();
    }
  });
});

describe('resourceMetadata options', () => {
  it('refuses what cannot be a canonical resource URI, naming the option and the fix', async () => {
    const { resolveIdentityOptions } = await import('../src/identity-options.js');
    const base = { url: 'https://auth.example.com' };
    const refuse = (resource: string) => () => resolveIdentityOptions({ ...base, resourceMetadata: { resource } });
    expect(refuse('https://api.example.com/mcp#x')).toThrow(/option "resourceMetadata.resource": must not contain a fragment/);
    expect(refuse('api.example.com/mcp')).toThrow(/must be an absolute URI/);
    expect(refuse('http://api.example.com/mcp')).toThrow(/must use https:\/\//);
    expect(refuse('https://api.example.com/mcp?x=1')).toThrow(/must not contain a query/);
    expect(refuse('ftp://api.example.com')).toThrow(/must use https/);
    expect(resolveIdentityOptions({ ...base, resourceMetadata: { resource: 'HTTPS://API.EXAMPLE.COM:443/MCP' } }).resourceMetadata?.resource).toBe('https://api.example.com/MCP');
    expect(resolveIdentityOptions({ ...base, resourceMetadata: { resource: 'http://127.0.0.1:8080/mcp' } }).audiences).toEqual(['http://127.0.0.1:8080/mcp']);
    expect(() => resolveIdentityOptions({ ...base, resourceMetadata: { resource: 'https://a.example', scopesSupported: ['offline_access'] } })).toThrow(/"offline_access" asks the authorization server for a refresh token/);
    expect(() => resolveIdentityOptions({ ...base, resourceMetadata: { resource: 'https://a.example', extra: { resource: 'https://b.example' } } })).toThrow(/cannot set "resource"/);
    expect(() => resolveIdentityOptions({ ...base, resourceMetadata: { resource: 'https://a.example', bearerMethodsSupported: ['query' as never] } })).toThrow(/may list only 'header'/);
    expect(() => resolveIdentityOptions({ ...base, resourceMetadata: { resource: 'https://a.example', dpopBoundAccessTokensRequired: true } })).toThrow(/dpop.mode is not 'required'/);
  });
});
