import { Logger, type INestApplication } from '@nestjs/common';
import type { OpenAPIObject, SwaggerCustomOptions, SwaggerDocumentOptions } from '@nestjs/swagger';
import { IDENTITY_OPTIONS } from '../identity-options.token.js';
import type { ResolvedIdentityOptions } from '../identity-options.js';
import type { IdentityMetadata } from '../metadata/identity-metadata.js';
import { IdentityMetadataService } from '../metadata/identity-metadata.service.js';
import { applyIdentitySecurity, type IdentityDocumentContext, type IdentityOAuthFlow } from './document-security.js';
import { loadSwagger, type NestSwagger } from './load-swagger.js';
import { markRoutes } from './route-markers.js';
import { inventoryRoutes } from './route-inventory.js';

/** The document's root before the paths are added: what `new DocumentBuilder()...build()` returns. */
export type OpenApiConfig = Omit<OpenAPIObject, 'paths'>;

export interface IdentitySwaggerOptions {
  /** Passed to `SwaggerModule.createDocument` as is (`include`, `operationIdFactory`, `extraModels`...). */
  document?: SwaggerDocumentOptions;
  /**
   * Flows of the `oauth2` scheme. Default both. A flow whose URL the provider does not publish
   * (no `authorizationUrl`, say) is left out; without a token URL there is no `oauth2` scheme at
   * all and operations name `bearer` only.
   */
  flows?: IdentityOAuthFlow[];
  /**
   * Scope descriptions shown by Swagger UI. A scope named here that no route requires (`openid`,
   * say) is offered too. Default description: the operations that require it.
   */
  scopes?: Record<string, string>;
  /** Names of the two security schemes. Default `oauth2` and `bearer`; same-named schemes in the config are replaced. */
  schemeNames?: { oauth2?: string; bearer?: string };
  /** Overrides the provider's token URL (e.g. the public address of a provider the API reaches privately). */
  tokenUrl?: string;
  /** Overrides the provider's authorization URL. */
  authorizationUrl?: string;
}

export interface IdentitySwaggerSetupOptions extends IdentitySwaggerOptions {
  /** Passed to `SwaggerModule.setup` (`swaggerOptions`, `jsonDocumentUrl`, `customSiteTitle`...). */
  ui?: SwaggerCustomOptions;
}

const logger = new Logger('IdentitySwagger');

/**
 * OpenAPI for an API protected by `IdentityModule`, with `@nestjs/swagger` (an optional peer
 * dependency, loaded only here). The document gets two security schemes, `oauth2`
 * (client_credentials and authorization_code, with the provider's token and authorize URLs and
 * every scope the routes require) and `bearer` (HTTP bearer, JWT), and every operation says what
 * our guard demands: `@RequireScope()` names the scopes, `@Public()` is `security: []`, protected
 * routes document 401, and 403 where a scope, role or kind of identity is required. Nothing is
 * decorated twice: the decorators are read exactly as the guard reads them.
 *
 * ```ts
 * const config = new DocumentBuilder().setTitle('Orders API').build();
 * await IdentitySwagger.setup('docs', app, config);  // before app.listen(): UI at /docs, JSON at /docs-json
 * ```
 */
export abstract class IdentitySwagger {
  /**
   * Builds the document, like `SwaggerModule.createDocument(app, config, options.document)`, with
   * the identity security added. Call it once the app is initialised (`await app.init()`), so that
   * the provider's metadata (token and authorize URLs) is loaded; `setup()` has no such constraint.
   */
  static async createDocument(app: INestApplication, config: OpenApiConfig, options: IdentitySwaggerOptions = {}): Promise<OpenAPIObject> {
    const swagger = await loadSwagger();
    return buildDocument(swagger, app, config, options);
  }

  /**
   * Serves Swagger UI at `path` and the document at `<path>-json` / `<path>-yaml`, like
   * `SwaggerModule.setup`. Call it before `app.listen()` (Fastify registers its static files then).
   * The document is built on the first request, once the provider's metadata is loaded, and built
   * again when the provider's URLs change.
   */
  static async setup(path: string, app: INestApplication, config: OpenApiConfig, options: IdentitySwaggerSetupOptions = {}): Promise<void> {
    const swagger = await loadSwagger();
    const { ui = {}, ...documentOptions } = options;
    let cached: { key: string; document: OpenAPIObject } | undefined;
    const current = (): OpenAPIObject => {
      const key = urlsKey(identityContext(app).metadata, documentOptions);
      if (cached?.key !== key) cached = { key, document: buildDocument(swagger, app, config, documentOptions) };
      return cached.document;
    };
    const patch = ui.patchDocumentOnRequest;
    swagger.SwaggerModule.setup(path, app, current, {
      ...ui,
      // Every request gets the document for the current metadata (rebuilt only when it changed).
      patchDocumentOnRequest: (request: unknown, response: unknown) => (patch ? patch(request, response, current()) : current()),
    });
  }
}

/** The options and the metadata copy in use, from the app's IdentityModule. */
function identityContext(app: INestApplication): { options: ResolvedIdentityOptions; metadata?: IdentityMetadata } {
  let options: ResolvedIdentityOptions;
  try {
    options = app.get<ResolvedIdentityOptions>(IDENTITY_OPTIONS, { strict: false });
  } catch (error) {
    throw new Error('IdentitySwagger needs IdentityModule.forRoot() or forRootAsync() in the application', { cause: error });
  }
  let metadata: IdentityMetadata | undefined;
  try {
    metadata = app.get(IdentityMetadataService, { strict: false }).current();
  } catch {
    metadata = undefined;
  }
  return { options, metadata };
}

function urlsKey(metadata: IdentityMetadata | undefined, options: IdentitySwaggerOptions): string {
  return JSON.stringify([metadata?.issuer, options.tokenUrl ?? metadata?.tokenUrl, options.authorizationUrl ?? metadata?.authorizationUrl]);
}

function buildDocument(swagger: NestSwagger, app: INestApplication, config: OpenApiConfig, options: IdentitySwaggerOptions): OpenAPIObject {
  const { options: identity, metadata } = identityContext(app);
  const routes = inventoryRoutes(app, identity);
  // Each route handler is marked (an operation extension) while @nestjs/swagger explores the
  // controllers, so that every operation maps back to the handler and controller it came from,
  // whatever the global prefix, versioning, path aliases or operationIdFactory.
  const { markerKey, routeOf, unmark } = markRoutes(routes, swagger.DECORATORS.API_EXTENSION);
  let document: OpenAPIObject;
  try {
    document = swagger.SwaggerModule.createDocument(app, config, options.document);
  } finally {
    unmark();
  }
  const context: IdentityDocumentContext = {
    issuer: metadata?.issuer ?? identity.issuer,
    audiences: identity.audiences,
    tokenUrl: options.tokenUrl ?? metadata?.tokenUrl,
    authorizationUrl: options.authorizationUrl ?? metadata?.authorizationUrl,
    flows: options.flows ?? ['clientCredentials', 'authorizationCode'],
    scopeDescriptions: options.scopes ?? {},
    schemeNames: { oauth2: options.schemeNames?.oauth2 ?? 'oauth2', bearer: options.schemeNames?.bearer ?? 'bearer' },
  };
  if (!context.tokenUrl) {
    logger.warn(
      metadata
        ? 'The Identity provider publishes no token URL: the OpenAPI document offers the bearer scheme only'
        : 'Identity metadata is not loaded yet (build the document after app.init(), or use IdentitySwagger.setup()): the OpenAPI document offers the bearer scheme only',
    );
  }
  applyIdentitySecurity(document, markerKey, routeOf, context);
  return document;
}
