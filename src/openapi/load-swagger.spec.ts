import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadSwagger, SWAGGER_INSTALL_HINT, swaggerImportError } from './load-swagger.js';

afterEach(() => {
  vi.doUnmock('@nestjs/swagger');
  vi.resetModules();
});

describe('@nestjs/swagger as an optional peer dependency', () => {
  it('says how to install it when it is missing, and passes other failures on', () => {
    const missing = Object.assign(new Error("Cannot find package '@nestjs/swagger' imported from /app/node_modules/nestjs-identity/dist/src/openapi/load-swagger.js"), { code: 'ERR_MODULE_NOT_FOUND' });
    expect(swaggerImportError(missing)).toMatchObject({ message: SWAGGER_INSTALL_HINT, cause: missing });
    expect(SWAGGER_INSTALL_HINT).toContain('npm install @nestjs/swagger');
    const otherMissing = Object.assign(new Error("Cannot find package 'es-toolkit'"), { code: 'ERR_MODULE_NOT_FOUND' });
    expect(swaggerImportError(otherMissing).message).toBe('nestjs-identity/openapi could not load "@nestjs/swagger": Cannot find package \'es-toolkit\'');
  });

  it('lets both entry points load without it; only building a document needs it', async () => {
    vi.resetModules();
    vi.doMock('@nestjs/swagger', () => {
      throw new Error('@nestjs/swagger is not installed');
    });
    const main = await import('../index.js');
    expect(main.IdentityModule).toBeDefined();
    const openapi = await import('./index.js');
    expect(openapi.IdentitySwagger).toBeDefined();
    await expect(openapi.IdentitySwagger.createDocument({} as never, {} as never)).rejects.toThrow('could not load "@nestjs/swagger"');
  });

  it('loads it once it is there', async () => {
    const swagger = await loadSwagger();
    expect(typeof swagger.SwaggerModule.createDocument).toBe('function');
  });
});
