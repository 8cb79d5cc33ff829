import type * as NestSwaggerModule from '@nestjs/swagger';

/** The `@nestjs/swagger` module, loaded on first use. */
export type NestSwagger = typeof NestSwaggerModule;

/** What users read when the optional peer dependency is missing. */
export const SWAGGER_INSTALL_HINT =
  'nestjs-identity/openapi needs the optional peer dependency "@nestjs/swagger" (version 12): run `npm install @nestjs/swagger`';

let loading: Promise<NestSwagger> | undefined;

/** Whether an import failure means "this package is not installed" (rather than "it is broken"). */
function isMissingPackage(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = error instanceof Error ? error.message : '';
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes('@nestjs/swagger');
}

/**
 * Imports `@nestjs/swagger` once, lazily: it is an optional peer dependency, so nothing in the main
 * entry point (`nestjs-identity`) may import it, and this entry point (`nestjs-identity/openapi`)
 * only does so when a document is built. A failed import is not cached, so installing the package
 * and retrying works without a restart.
 */
export function loadSwagger(): Promise<NestSwagger> {
  loading ??= import('@nestjs/swagger').catch((error: unknown) => {
    loading = undefined;
    throw swaggerImportError(error);
  });
  return loading;
}

/** The error to throw for a failed import: the install hint when the package is missing. */
export function swaggerImportError(error: unknown): Error {
  if (isMissingPackage(error)) return new Error(SWAGGER_INSTALL_HINT, { cause: error });
  return new Error(`nestjs-identity/openapi could not load "@nestjs/swagger": ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}
