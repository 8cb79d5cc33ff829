import type { ServiceAccountRecord } from '../admin/service-account-provider.js';
import { serviceAccountRecordProblem } from '../admin/service-account-records.js';
import type { CredentialStore } from './credential-store.js';
import type { SecretBox } from './secret-box.js';
import { SealedRecords } from './sealed-records.js';

/** Store key of the API's own (auto-provisioned) client. */
export const API_CLIENT_KEY = 'client:self';

/** The API's own client as stored: a registration record plus its secret, both sealed. */
export interface StoredApiClient extends ServiceAccountRecord {
  clientSecret: string;
  /** The secret before the last rotation, kept (sealed) while the provider's grace window lasts. */
  previousClientSecret?: string;
  /** ISO time the provider said the previous secret stops working. */
  previousSecretValidUntil?: string;
  /**
   * Set when a rotation starts and cleared when it ends: a record that still has it after a
   * crash tells the next boot to find out which secret the provider holds.
   */
  rotationStartedAt?: string;
  /** The secret the provider issued in that rotation, written before anything else so a crash cannot lose it. */
  pendingClientSecret?: string;
}

/** Secrets worth trying besides the current one: a rotation's pending secret, else the previous one within its window. */
export function otherSecretOf(client: StoredApiClient, now = Date.now()): string | undefined {
  if (client.pendingClientSecret) return client.pendingClientSecret;
  if (client.previousClientSecret && client.previousSecretValidUntil && Date.parse(client.previousSecretValidUntil) > now) return client.previousClientSecret;
  return undefined;
}

export function apiClientRecords(store: CredentialStore, box: SecretBox): SealedRecords<StoredApiClient> {
  return new SealedRecords<StoredApiClient>(store, box, ['clientSecret', 'previousClientSecret', 'pendingClientSecret', 'registrationAccessToken'], (record) => {
    if (typeof record.clientSecret !== 'string') return 'clientSecret is missing';
    for (const field of ['previousSecretValidUntil', 'rotationStartedAt'] as const) {
      if (record[field] !== undefined && (typeof record[field] !== 'string' || Number.isNaN(Date.parse(record[field])))) return `${field} is not a time`;
    }
    if (record.tokenEndpointAuthMethod !== 'client_secret_basic' && record.tokenEndpointAuthMethod !== 'client_secret_post') return 'tokenEndpointAuthMethod is not client_secret_basic or client_secret_post';
    return serviceAccountRecordProblem(record);
  });
}
