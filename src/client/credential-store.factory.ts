import type { Provider } from '@nestjs/common';
import { IdentityConfigurationError } from '../errors/identity-configuration.error.js';
import { IDENTITY_OPTIONS } from '../identity-options.token.js';
import type { CredentialStoreOption, ResolvedIdentityOptions } from '../identity-options.js';
import { IDENTITY_CREDENTIAL_STORE, type CredentialStore } from './credential-store.js';
import { FileCredentialStore } from './file-credential-store.js';
import { RedisCredentialStore } from './redis-credential-store.js';

/** Where the embedded file store lives unless `store` says otherwise (relative to the working directory). */
export const DEFAULT_CREDENTIAL_STORE_PATH = '.identity/credentials.json';

export function isCredentialStore(value: unknown): value is CredentialStore {
  const candidate = value as Partial<CredentialStore> | undefined;
  return typeof candidate?.get === 'function' && typeof candidate.set === 'function' && typeof candidate.withLock === 'function';
}

/** Whether the options need a store: anything that persists a client or service accounts. */
export function needsCredentialStore(options: ResolvedIdentityOptions): boolean {
  return options.store !== undefined || options.autoProvision !== false || options.admin.enabled;
}

/** Builds the store an option describes. A store instance passed in is used as is (its owner closes it). */
export function createCredentialStore(option: CredentialStoreOption | undefined): CredentialStore {
  if (option === undefined) return new FileCredentialStore(DEFAULT_CREDENTIAL_STORE_PATH);
  if (isCredentialStore(option)) return option;
  if (option.type === 'file') {
    if (typeof option.path !== 'string' || option.path.length === 0) throw new IdentityConfigurationError('store.path', 'must be a file path such as ".identity/credentials.json"');
    return new FileCredentialStore(option.path);
  }
  if (option.type === 'redis') {
    if (typeof option.url !== 'string' || !/^rediss?:\/\//.test(option.url)) throw new IdentityConfigurationError('store.url', 'must be a redis:// or rediss:// URL');
    return new RedisCredentialStore({ url: option.url, keyPrefix: option.keyPrefix });
  }
  throw new IdentityConfigurationError('store', 'must be { type: "file", path }, { type: "redis", url } or a CredentialStore instance');
}

/** The store file's path, when the option describes a file store (the audit log goes beside it). */
export function credentialStoreFile(option: CredentialStoreOption | undefined): string | undefined {
  if (option === undefined) return DEFAULT_CREDENTIAL_STORE_PATH;
  if (option instanceof FileCredentialStore) return option.path;
  return !isCredentialStore(option) && option.type === 'file' ? option.path : undefined;
}

/** Undefined when nothing needs persisting, so an app that only verifies tokens writes no files. */
export const credentialStoreProvider: Provider = {
  provide: IDENTITY_CREDENTIAL_STORE,
  useFactory: (options: ResolvedIdentityOptions) => (needsCredentialStore(options) ? createCredentialStore(options.store) : undefined),
  inject: [IDENTITY_OPTIONS],
};
