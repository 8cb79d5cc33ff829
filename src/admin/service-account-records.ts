import type { CredentialStore } from '../client/credential-store.js';
import type { SecretBox } from '../client/secret-box.js';
import { SealedRecords, StoredRecordError } from '../client/sealed-records.js';
import type { ServiceAccountRecord } from './service-account-provider.js';

const SERVICE_ACCOUNT_KEY_PREFIX = 'service-account:';

const optionalStrings = ['audience', 'rotatedAt', 'registrationClientUri', 'tokenEndpointAuthMethod', 'providerId'] as const;

/** Why a parsed record is not a ServiceAccountRecord, or undefined when it is. */
export function serviceAccountRecordProblem(record: Record<string, unknown>): string | undefined {
  if (typeof record.name !== 'string') return 'name is missing';
  if (!Array.isArray(record.scopes) || record.scopes.some((scope) => typeof scope !== 'string')) return 'scopes is not a list of strings';
  if (typeof record.createdAt !== 'string') return 'createdAt is missing';
  for (const field of optionalStrings) if (record[field] !== undefined && typeof record[field] !== 'string') return `${field} is not a string`;
  return undefined;
}

/**
 * The service accounts this API manages, at `service-account:<clientId>`. The registration
 * access token (RFC 7592) is sealed; the client secret is never stored: it is shown once.
 */
export class ServiceAccountRecords {
  private readonly sealed: SealedRecords<ServiceAccountRecord>;

  constructor(private readonly store: CredentialStore, box: SecretBox) {
    this.sealed = new SealedRecords(store, box, ['registrationAccessToken'], serviceAccountRecordProblem);
  }

  read(clientId: string): Promise<ServiceAccountRecord | undefined> {
    return this.readKey(SERVICE_ACCOUNT_KEY_PREFIX + clientId);
  }

  write(record: ServiceAccountRecord): Promise<void> {
    return this.sealed.write(SERVICE_ACCOUNT_KEY_PREFIX + record.clientId, record);
  }

  delete(clientId: string): Promise<void> {
    return this.store.delete(SERVICE_ACCOUNT_KEY_PREFIX + clientId);
  }

  async list(): Promise<ServiceAccountRecord[]> {
    const keys = await this.store.keys(SERVICE_ACCOUNT_KEY_PREFIX);
    const records = await Promise.all(keys.map((key) => this.readKey(key)));
    return records.filter((record): record is ServiceAccountRecord => record !== undefined);
  }

  /** A record moved to another key is refused even when it has no sealed field to catch it. */
  private async readKey(key: string): Promise<ServiceAccountRecord | undefined> {
    const record = await this.sealed.read(key);
    if (record && SERVICE_ACCOUNT_KEY_PREFIX + record.clientId !== key) throw new StoredRecordError(key, 'its clientId does not match its key');
    return record;
  }
}
