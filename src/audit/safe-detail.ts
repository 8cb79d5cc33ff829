import { HttpException } from '@nestjs/common';
import { IdentityClientCredentialsError } from '../client/client-credentials.error.js';
import { CredentialStoreCorruptError } from '../client/file-credential-store.js';
import { CredentialLockTimeoutError } from '../client/memory-credential-store.js';
import { SecretBoxError } from '../client/secret-box.js';
import { StoredRecordError } from '../client/sealed-records.js';
import { TokenRequestError } from '../client/token-request.js';
import { IdentityConfigurationError } from '../errors/identity-configuration.error.js';
import { OutboundRequestError } from '../metadata/safe-fetch.js';

/** Our error classes, whose messages are written to hold no secret, token or response body. */
const SAFE_ERROR_TYPES = [
  IdentityConfigurationError,
  IdentityClientCredentialsError,
  StoredRecordError,
  SecretBoxError,
  CredentialStoreCorruptError,
  CredentialLockTimeoutError,
  TokenRequestError,
  OutboundRequestError,
];

/** A failure in words fit for an audit event or a log line: our own messages, otherwise only the class name. */
export function safeDetail(error: unknown): string {
  if (error instanceof HttpException) return `${error.getStatus()}: ${error.message}`;
  if (SAFE_ERROR_TYPES.some((type) => error instanceof type)) return (error as Error).message;
  return `unexpected ${error instanceof Error ? error.name : 'error'}`;
}
