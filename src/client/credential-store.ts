/**
 * Durable storage for the API's own client, the service accounts it manages and the last good
 * metadata/JWKS. Values are opaque strings to the store: anything secret is sealed by the
 * SecretBox before it gets here. Implementations: FileCredentialStore, RedisCredentialStore.
 */
export interface CredentialStore {
  /** The value stored under key, or undefined. */
  get(key: string): Promise<string | undefined>;
  /** Stores value under key, durably (a crash leaves either the old or the new value). */
  set(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
  /** Keys that start with prefix. */
  keys(prefix: string): Promise<string[]>;
  /**
   * Runs fn while holding an exclusive lock named name, across every process that shares the
   * store (several API replicas on one Redis). Waits up to waitMs for the lock.
   */
  withLock<T>(name: string, fn: () => Promise<T>, options?: { ttlMs?: number; waitMs?: number }): Promise<T>;
  close?(): Promise<void>;
}

/** Token of the CredentialStore in Nest's container. */
export const IDENTITY_CREDENTIAL_STORE = Symbol('IDENTITY_CREDENTIAL_STORE');
