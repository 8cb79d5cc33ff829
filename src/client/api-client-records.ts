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
}

export function apiClientRecords(store: CredentialStore, box: SecretBox): SealedRecords<StoredApiClient> {
  return new SealedRecords<StoredApiClient>(store, box, ['clientSecret', 'registrationAccessToken'], (record) => {
    if (typeof record.clientSecret !== 'string') return 'clientSecret is missing';
    if (record.tokenEndpointAuthMethod !== 'client_secret_basic' && record.tokenEndpointAuthMethod !== 'client_secret_post') return 'tokenEndpointAuthMethod is not client_secret_basic or client_secret_post';
    return serviceAccountRecordProblem(record);
  });
}
