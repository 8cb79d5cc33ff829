import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { IdentityMetadataUnavailableError } from '../errors/identity-metadata-unavailable.error.js';
import { IdentityStatus } from '../health/identity-status.js';
import type { IdentityModuleOptions } from '../identity-options.js';
import { IdentityModule } from '../identity.module.js';
import { IdentityMetadataService } from '../metadata/identity-metadata.service.js';
import { StderrLogger } from './stderr-logger.js';

/** The provider could not be reached: the design document's troubleshooting row, with the cause. */
export class MetadataUnavailableCliError extends Error {
  override readonly name = 'MetadataUnavailableCliError';
}

const METADATA_FIX =
  'check networking and ensure .well-known/s3db-identity.json (or OIDC discovery) is reachable; use cached metadata by setting requireFreshMetadata: false';

/**
 * Boots the same Nest providers the API runs (IdentityModule.forRoot), so the CLI and the admin
 * routes share one code path; runs fn; closes the context (and the store's connections).
 * Nest logs go to stderr: stdout is the command's output.
 */
export async function withIdentity<T>(options: IdentityModuleOptions, verbose: boolean, fn: (app: INestApplicationContext) => Promise<T>): Promise<T> {
  const logger = new StderrLogger('nestjs-identity', { logLevels: verbose ? ['log', 'warn', 'error', 'debug', 'verbose', 'fatal'] : ['warn', 'error', 'fatal'] });
  const app = await NestFactory.createApplicationContext(IdentityModule.forRoot(options), { logger, abortOnError: false });
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

/**
 * Why there is no metadata, in the troubleshooting table's words, or undefined when there is.
 * One more attempt gives the precise cause (later boot steps overwrite IdentityStatus.lastError).
 */
export async function metadataProblem(app: INestApplicationContext): Promise<string | undefined> {
  const metadata = app.get(IdentityMetadataService);
  if (metadata.current()) return undefined;
  const cause = await metadata.refresh().then(
    () => undefined,
    (error: unknown) => (error instanceof IdentityMetadataUnavailableError ? error.reason : app.get(IdentityStatus).snapshot().lastError),
  );
  if (metadata.current()) return undefined;
  return `Identity metadata unavailable${cause ? ` (${cause})` : ''}: ${METADATA_FIX}`;
}

/** Throws the troubleshooting message when the boot found no metadata (the CLI boots with `require: false`). */
export async function requireMetadata(app: INestApplicationContext): Promise<void> {
  const problem = await metadataProblem(app);
  if (problem) throw new MetadataUnavailableCliError(problem);
}
