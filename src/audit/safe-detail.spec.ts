import { BadGatewayException } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { IdentityClientCredentialsError } from '../client/client-credentials.error.js';
import { CredentialStoreCorruptError } from '../client/file-credential-store.js';
import { CredentialLockTimeoutError } from '../client/memory-credential-store.js';
import { SecretBoxError } from '../client/secret-box.js';
import { StoredRecordError } from '../client/sealed-records.js';
import { TokenRequestError } from '../client/token-request.js';
import { IdentityConfigurationError } from '../errors/identity-configuration.error.js';
import { OutboundRequestError } from '../metadata/safe-fetch.js';
import { safeDetail } from './safe-detail.js';

describe('safeDetail', () => {
  it('repeats the messages of errors that declare them safe, whichever folder they come from', () => {
    const safe = [
      new IdentityConfigurationError('store', 'is required'),
      new IdentityClientCredentialsError('api', 'invalid_client'),
      new CredentialStoreCorruptError('/tmp/x', 'not JSON'),
      new CredentialLockTimeoutError('lock', 10),
      new SecretBoxError('client:self#api#clientSecret', 'wrong key'),
      new StoredRecordError('client:self', 'tampered'),
      new TokenRequestError('api', 'HTTP 401', 'invalid_client', 401),
      new OutboundRequestError('timeout', 'JWKS', 'https://idp/jwks', 'no answer'),
    ];
    for (const error of safe) expect(safeDetail(error)).toBe(error.message);
  });

  it('names HTTP answers by status and message', () => {
    expect(safeDetail(new BadGatewayException('Secret rotation failed'))).toBe('502: Secret rotation failed');
  });

  it('never repeats the message of an error that does not declare it safe (it may hold a secret)', () => {
    const error = new TypeError('client_secret=hunter2 was rejected');
    expect(safeDetail(error)).toBe('unexpected TypeError');
    const impostor = Object.assign(new Error('token eyJhbGciOi'), { safeMessage: 'yes' });
    expect(safeDetail(impostor)).toBe('unexpected Error');
    expect(safeDetail('a string')).toBe('unexpected error');
  });
});
