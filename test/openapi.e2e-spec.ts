import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject } from '@nestjs/swagger';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityMetadataService, MemoryCredentialStore } from '../src/index.js';
import { IdentitySwagger } from '../src/openapi/index.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { createOpenApiApp, OpenApiBooksController, OpenApiFilmsController } from './support/openapi-app.js';
import { PLATFORMS } from './support/platforms.js';

const AUDIENCE = 'https://api.example.com';
const config = () => new DocumentBuilder().setTitle('Orders API').setVersion('1.0').build();

type Operation = { security?: Array<Record<string, string[]>>; responses: Record<string, { description?: string; content?: Record<string, { schema?: unknown; example?: unknown }> }>; [key: string]: unknown };
const operation = (document: OpenAPIObject, path: string, method = 'get') => (document.paths[path] as Record<string, Operation> | undefined)?.[method] as Operation;

describe.each(PLATFORMS)('OpenAPI document on %s', (platform) => {
  let idp: DevelopmentIdentityProvider;
  let app: INestApplication;
  let document: OpenAPIObject;
  let early: OpenAPIObject;
  let s3db: { tokenUrl: string; authorizationUrl: string; issuer: string };

  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
    s3db = (await (await fetch(`${idp.issuer}/.well-known/s3db-identity.json`)).json()) as typeof s3db;
    ({ app } = await createOpenApiApp(platform, {
      issuer: idp.issuer,
      audience: AUDIENCE,
      // Before init: where SwaggerModule.setup must run on Fastify; the document is built on the first request.
      beforeInit: async (created) => {
        // Too early for createDocument: the provider's metadata loads during init.
        early = await IdentitySwagger.createDocument(created, config());
        await IdentitySwagger.setup('docs', created, config(), { scopes: { 'orders:read': 'Read the orders' } });
      },
    }));
    const response = await request(app.getHttpServer()).get('/docs-json');
    expect(response.status, response.text).toBe(200);
    document = response.body as OpenAPIObject;
  });

  afterAll(async () => {
    await app?.close();
    await idp?.stop();
  });

  it('adds the oauth2 scheme with the provider\'s URLs and the scopes the routes require, and bearer', () => {
    expect(s3db.tokenUrl).toBe(app.get(IdentityMetadataService).current()?.tokenUrl);
    const schemes = document.components?.securitySchemes ?? {};
    const scopes = {
      'books:read': 'Required by GET /books',
      'films:read': 'Required by GET /films',
      'jobs:dispatch': 'Required by GET /mixed/closed',
      'orders:read': 'Read the orders',
      'orders:write': 'Required by POST /orders, GET /reports',
      'reports:read': 'Required by GET /reports',
    };
    expect(schemes['oauth2']).toEqual({
      type: 'oauth2',
      description: `The Identity provider at ${idp.issuer}.`,
      flows: {
        clientCredentials: { tokenUrl: s3db.tokenUrl, scopes },
        authorizationCode: { authorizationUrl: s3db.authorizationUrl, tokenUrl: s3db.tokenUrl, scopes },
      },
    });
    expect(schemes['bearer']).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  });

  it('marks @RequireScope operations with the oauth2 scopes and bearer, documenting 401 and 403', () => {
    const orders = operation(document, '/orders');
    expect(orders.security).toEqual([{ oauth2: ['orders:read'] }, { bearer: [] }]);
    expect(Object.keys(orders.responses).sort()).toEqual(['200', '401', '403']);
    expect(orders.responses['401']?.content?.['application/json']?.schema).toEqual({ $ref: '#/components/schemas/IdentityError' });
    expect(orders.responses['403']?.content?.['application/json']?.example).toEqual({ statusCode: 403, error: 'insufficient_scope', message: 'Missing required scope: orders:read' });
    expect(orders['x-identity-requirements']).toEqual([{ type: 'scope', mode: 'all', values: ['orders:read'] }]);
    expect(document.components?.schemas?.['IdentityError']).toMatchObject({ required: ['statusCode', 'error', 'message'] });

    expect(operation(document, '/orders', 'post').security).toEqual([{ oauth2: ['orders:read', 'orders:write'] }, { bearer: [] }]);
    // { any: [...] }: one alternative per scope.
    expect(operation(document, '/reports').security).toEqual([{ oauth2: ['orders:write'] }, { oauth2: ['reports:read'] }, { bearer: [] }]);
  });

  it('keeps a 401 response the app documents itself', () => {
    const one = operation(document, '/orders/{id}');
    expect(one.security).toEqual([{ oauth2: ['orders:read'] }, { bearer: [] }]);
    expect(one.responses['401']?.description).toBe('Documented by the app itself');
    expect(one.responses['403']).toBeDefined();
  });

  it('documents 401 without 403 for any token, and 403 for roles and kinds of identity', () => {
    const me = operation(document, '/me');
    expect(me.security).toEqual([{ oauth2: [] }, { bearer: [] }]);
    expect(Object.keys(me.responses).sort()).toEqual(['200', '401']);
    const admin = operation(document, '/admin');
    expect(admin.security).toEqual([{ oauth2: [] }, { bearer: [] }]);
    expect(admin.responses['403']?.content?.['application/json']?.example).toMatchObject({ message: 'Missing required role: admin' });
    expect(admin['x-identity-requirements']).toEqual([{ type: 'role', mode: 'all', values: ['admin'] }]);
    expect(operation(document, '/machines').responses['403']?.content?.['application/json']?.example).toMatchObject({ message: 'This route is for service accounts only' });
    const guarded = operation(document, '/guarded');
    expect(guarded.security).toEqual([{ oauth2: [] }, { bearer: [] }]);
    expect(Object.keys(guarded.responses).sort()).toEqual(['200', '401']);
  });

  it('marks @Public operations as open and leaves undecorated routes alone without global', () => {
    const open = operation(document, '/public');
    expect(open.security).toEqual([]);
    expect(Object.keys(open.responses)).toEqual(['200']);
    expect(operation(document, '/mixed/open').security).toEqual([]);
    expect(operation(document, '/mixed/closed').security).toEqual([{ oauth2: ['jobs:dispatch'] }, { bearer: [] }]);
    const unguarded = operation(document, '/unguarded');
    expect(unguarded.security).toBeUndefined();
    expect(Object.keys(unguarded.responses)).toEqual(['200']);
  });

  it('tells apart controllers that inherit one handler, and leaves no trace behind', () => {
    expect(operation(document, '/books').security).toEqual([{ oauth2: ['books:read'] }, { bearer: [] }]);
    expect(operation(document, '/films').security).toEqual([{ oauth2: ['films:read'] }, { bearer: [] }]);
    expect(JSON.stringify(document)).not.toContain('x-nestjs-identity-route');
    // The controllers' prototypes are back as they were: the inherited method, no own stand-in.
    expect(Object.hasOwn(OpenApiBooksController.prototype, 'list')).toBe(false);
    expect(Object.hasOwn(OpenApiFilmsController.prototype, 'list')).toBe(false);
  });

  it('offers bearer only when the document is built before the metadata is loaded', () => {
    expect(Object.keys(early.components?.securitySchemes ?? {})).toEqual(['bearer']);
    expect(operation(early, '/orders').security).toEqual([{ bearer: [] }]);
    expect(operation(early, '/public').security).toEqual([]);
  });

  it('serves Swagger UI at /docs, and the routes still work as documented', async () => {
    const http = request(app.getHttpServer());
    const ui = await http.get('/docs');
    expect(ui.status).toBe(200);
    expect(ui.text).toContain('swagger-ui');
    const init = await http.get('/docs/swagger-ui-init.js');
    expect(init.status).toBe(200);
    expect(init.text).toContain(s3db.tokenUrl);
    const yaml = await http.get('/docs-yaml');
    expect(yaml.status).toBe(200);
    expect(yaml.text).toContain(`tokenUrl: ${s3db.tokenUrl}`);
    const token = await idp.serviceAccountToken({ scopes: ['orders:read'] });
    expect((await http.get('/orders').auth(token, { type: 'bearer' })).status).toBe(200);
    expect((await http.get('/orders')).status).toBe(401);
    expect((await http.get('/reports').auth(token, { type: 'bearer' })).status).toBe(403);
  });
});

describe.each(PLATFORMS)('OpenAPI document with global: true on %s', (platform) => {
  let idp: DevelopmentIdentityProvider;
  let app: INestApplication;
  let document: OpenAPIObject;

  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
    ({ app } = await createOpenApiApp(platform, { issuer: idp.issuer, audience: AUDIENCE, global: true, extra: { admin: { enabled: true, scope: 'identity:admin' }, encryptionKey: randomBytes(32).toString('base64'), store: new MemoryCredentialStore(), audit: false } }));
    // After init, the other way: a document to pass to SwaggerModule.setup yourself.
    document = await IdentitySwagger.createDocument(app, config(), { flows: ['clientCredentials'], schemeNames: { oauth2: 'identity' } });
  });

  afterAll(async () => {
    await app?.close();
    await idp?.stop();
  });

  it('counts undecorated routes as authenticated, @Public ones as open', () => {
    const unguarded = operation(document, '/unguarded');
    expect(unguarded.security).toEqual([{ identity: [] }, { bearer: [] }]);
    expect(Object.keys(unguarded.responses).sort()).toEqual(['200', '401']);
    expect(operation(document, '/public').security).toEqual([]);
    expect(operation(document, '/orders').security).toEqual([{ identity: ['orders:read'] }, { bearer: [] }]);
  });

  it('documents the admin routes with the admin scope their guard checks', () => {
    const list = operation(document, '/admin/identity/service-accounts');
    expect(list.security).toEqual([{ identity: ['identity:admin'] }, { bearer: [] }]);
    expect(list.responses['403']?.content?.['application/json']?.example).toMatchObject({ message: 'Missing required scope: identity:admin' });
    expect(operation(document, '/admin/identity/revocations', 'post').security).toEqual([{ identity: ['identity:admin'] }, { bearer: [] }]);
  });

  it('offers only the flows asked for, under the scheme name asked for', () => {
    const schemes = document.components?.securitySchemes ?? {};
    expect(Object.keys(schemes).sort()).toEqual(['bearer', 'identity']);
    expect((schemes['identity'] as { flows: object }).flows).toEqual({
      clientCredentials: { tokenUrl: `${idp.issuer}/oauth/token`, scopes: expect.objectContaining({ 'orders:read': 'Required by GET /orders, POST /orders, GET /orders/{id}' }) },
    });
  });
});
