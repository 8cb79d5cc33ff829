// Public API of `nestjs-identity/openapi`: OpenAPI documents with @nestjs/swagger (an optional peer
// dependency, imported lazily). Nothing in the main entry point imports this folder.
export { IdentitySwagger, type IdentitySwaggerOptions, type IdentitySwaggerSetupOptions, type OpenApiConfig } from './identity-swagger.js';
export { IDENTITY_ERROR_SCHEMA, REQUIREMENTS_EXTENSION, type IdentityOAuthFlow } from './document-security.js';
export { SWAGGER_INSTALL_HINT } from './load-swagger.js';
