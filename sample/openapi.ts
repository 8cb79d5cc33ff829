import type { INestApplication } from '@nestjs/common';
import { IdentitySwagger } from '../src/openapi/index.js';

export interface SampleSwaggerOptions {
  /** Where Swagger UI is served. Default `docs` (the document at `/docs-json`). */
  path?: string;
  /** Pre-fills client_id in the Authorize dialog (e.g. the sample's `orders-worker`). */
  clientId?: string;
}

/**
 * Serves Swagger UI for the sample API at `/docs`: the `oauth2` scheme (client_credentials and
 * authorization_code at the development provider's URLs, with every scope the routes require) and
 * `bearer` (paste `$SA_TOKEN` or `$USER_TOKEN` from the sample's output). Call it before
 * `app.listen()`. `@nestjs/swagger` is imported only here, lazily: the sample runs without it
 * until this function is called.
 */
export async function serveSwaggerUi(app: INestApplication, options: SampleSwaggerOptions = {}): Promise<string> {
  const path = options.path ?? 'docs';
  const { DocumentBuilder } = await import('@nestjs/swagger');
  const config = new DocumentBuilder()
    .setTitle('nestjs-identity sample API')
    .setDescription('Orders, jobs and the identity admin routes. Authorize with a client_credentials token, or paste a Bearer token.')
    .setVersion('1.0')
    .build();
  await IdentitySwagger.setup(path, app, config, {
    scopes: { 'orders:read': 'Read orders', 'jobs:dispatch': 'Dispatch jobs', 'identity:admin': 'Manage service accounts and revocations' },
    ui: {
      customSiteTitle: 'nestjs-identity sample API',
      swaggerOptions: {
        persistAuthorization: true,
        ...(options.clientId ? { initOAuth: { clientId: options.clientId } } : {}),
      },
    },
  });
  return `/${path}`;
}
