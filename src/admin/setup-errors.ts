import { InternalServerErrorException, ServiceUnavailableException } from '@nestjs/common';
import { CredentialLockTimeoutError } from '../client/memory-credential-store.js';
import { CredentialStoreCorruptError } from '../client/file-credential-store.js';
import { SecretBoxError } from '../client/secret-box.js';
import { StoredRecordError } from '../client/sealed-records.js';
import { IdentityConfigurationError } from '../errors/identity-configuration.error.js';

/** Errors whose message is ours and safe, surfaced as 500 with that message (server-side setup, not the caller's input). */
const SETUP_ERRORS = [IdentityConfigurationError, StoredRecordError, SecretBoxError, CredentialStoreCorruptError];

/** Runs an admin operation: a lock held elsewhere is a 503, setup errors become 500s that say what to fix; HttpExceptions pass as they are. */
export async function setupErrorsAsHttp<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof CredentialLockTimeoutError) throw new ServiceUnavailableException('another operation on the same record is still running; try again shortly', { cause: error });
    if (SETUP_ERRORS.some((type) => error instanceof type)) {
      throw new InternalServerErrorException({ statusCode: 500, error: 'identity_setup_error', message: (error as Error).message }, { cause: error });
    }
    throw error;
  }
}
