import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ServiceAccountRecords } from '../admin/service-account-records.js';
import { API_CLIENT_KEY, apiClientRecords, type StoredApiClient } from './api-client-records.js';
import { MemoryCredentialStore } from './memory-credential-store.js';
import { SecretBox, SecretBoxError } from './secret-box.js';
import { StoredRecordError } from './sealed-records.js';

const box = new SecretBox(randomBytes(32));
const client: StoredApiClient = {
  clientId: 'api-client',
  clientSecret: 'the-client-secret',
  name: 'API',
  scopes: ['orders:read'],
  createdAt: '2026-01-01T00:00:00.000Z',
  tokenEndpointAuthMethod: 'client_secret_post',
  registrationClientUri: 'https://auth.example.com/oauth/register/api-client',
  registrationAccessToken: 'the-registration-token',
};

describe('sealed credential records', () => {
  it('seals the secret fields at rest and opens them on read', async () => {
    const store = new MemoryCredentialStore();
    const records = apiClientRecords(store, box);
    await records.write(API_CLIENT_KEY, client);
    const raw = (await store.get(API_CLIENT_KEY))!;
    expect(raw).not.toContain('the-client-secret');
    expect(raw).not.toContain('the-registration-token');
    expect(JSON.parse(raw)).toMatchObject({ clientId: 'api-client', clientSecret: expect.stringMatching(/^v1\./), registrationAccessToken: expect.stringMatching(/^v1\./) });
    expect(await records.read(API_CLIENT_KEY)).toEqual(client);
    expect(await records.read('client:none')).toBeUndefined();
  });

  it('fails closed with another key, and when a sealed value is moved to another record or field', async () => {
    const store = new MemoryCredentialStore();
    await apiClientRecords(store, box).write(API_CLIENT_KEY, client);
    await expect(apiClientRecords(store, new SecretBox(randomBytes(32))).read(API_CLIENT_KEY)).rejects.toThrow(
      'cannot decrypt credential client:self#api-client#clientSecret: wrong encryptionKey or the stored value was tampered with',
    );
    const stored = JSON.parse((await store.get(API_CLIENT_KEY))!) as Record<string, string>;
    // Same secret, claimed by another client id: the associated data no longer matches.
    await store.set(API_CLIENT_KEY, JSON.stringify({ ...stored, clientId: 'attacker' }));
    await expect(apiClientRecords(store, box).read(API_CLIENT_KEY)).rejects.toBeInstanceOf(SecretBoxError);
    // The registration token sealed as the client secret.
    await store.set(API_CLIENT_KEY, JSON.stringify({ ...stored, clientSecret: stored.registrationAccessToken }));
    await expect(apiClientRecords(store, box).read(API_CLIENT_KEY)).rejects.toBeInstanceOf(SecretBoxError);
    // A plaintext secret written by hand is not a sealed value.
    await store.set(API_CLIENT_KEY, JSON.stringify({ ...stored, clientSecret: 'plaintext' }));
    await expect(apiClientRecords(store, box).read(API_CLIENT_KEY)).rejects.toThrow(/not a v1 sealed value/);
  });

  it('fails closed on truncated or reshaped records, without quoting them', async () => {
    const store = new MemoryCredentialStore();
    const records = apiClientRecords(store, box);
    await records.write(API_CLIENT_KEY, client);
    const raw = (await store.get(API_CLIENT_KEY))!;
    const cases: Array<[string, RegExp]> = [
      [raw.slice(0, raw.length / 2), /not valid JSON/],
      ['[]', /not a credential record/],
      [JSON.stringify({ ...JSON.parse(raw), tokenEndpointAuthMethod: 'private_key_jwt' }), /tokenEndpointAuthMethod/],
      [JSON.stringify({ ...JSON.parse(raw), scopes: 'orders:read' }), /scopes is not a list/],
      [JSON.stringify({ ...JSON.parse(raw), clientSecret: 7 }), /clientSecret is missing/],
    ];
    for (const [text, reason] of cases) {
      await store.set(API_CLIENT_KEY, text);
      const error = await records.read(API_CLIENT_KEY).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoredRecordError);
      expect((error as Error).message).toMatch(reason);
      expect((error as Error).message).toContain('Restore the credential store from a backup');
      expect((error as Error).message).not.toContain('v1.');
    }
  });

  it('service-account records: no secret is stored, and a record under the wrong key is refused', async () => {
    const store = new MemoryCredentialStore();
    const records = new ServiceAccountRecords(store, box);
    const { clientSecret: _secret, ...record } = client;
    await records.write({ ...record, clientId: 'orders-worker' });
    expect(await store.keys('')).toEqual(['service-account:orders-worker']);
    expect(await records.list()).toEqual([{ ...record, clientId: 'orders-worker' }]);
    // With a sealed token, the associated data catches the move...
    await store.set('service-account:other', (await store.get('service-account:orders-worker'))!);
    await expect(records.read('other')).rejects.toThrow(SecretBoxError);
    // ...and without one (a provider with no RFC 7592), the key check does.
    const { registrationAccessToken: _token, registrationClientUri: _uri, ...plain } = record;
    await records.write({ ...plain, clientId: 'plain' });
    await store.set('service-account:other', (await store.get('service-account:plain'))!);
    await expect(records.read('other')).rejects.toThrow(/"service-account:other" is unusable: its clientId does not match its key/);
    await expect(records.list()).rejects.toThrow(StoredRecordError);
  });
});
