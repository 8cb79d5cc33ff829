import type { CredentialStore } from './credential-store.js';
import type { SecretBox } from './secret-box.js';

/** A stored record is not what we wrote (edited, truncated, from another version). Fails closed. */
export class StoredRecordError extends Error {
  /** Written to hold no secret, token or response body (see errors/safe-message.ts). */
  readonly safeMessage = true as const;
  override readonly name = 'StoredRecordError';
  constructor(readonly key: string, reason: string) {
    super(`stored credential record "${key}" is unusable: ${reason}. Restore the credential store from a backup, or remove the record to start over.`);
  }
}

type Json = Record<string, unknown>;

/**
 * JSON records in the CredentialStore whose secret fields are sealed with the SecretBox. The
 * associated data binds each sealed value to its store key, client id and field, so a value
 * copied onto another record (or another field) does not open.
 */
export class SealedRecords<T extends { clientId: string }> {
  constructor(
    private readonly store: CredentialStore,
    private readonly box: SecretBox,
    /** Fields holding secrets: sealed on write, opened on read. */
    private readonly secretFields: readonly (keyof T & string)[],
    /** Checks the shape of a parsed record; returns a reason when it is wrong. */
    private readonly problem: (record: Json) => string | undefined,
  ) {}

  async read(key: string): Promise<T | undefined> {
    const text = await this.store.get(key);
    if (text === undefined) return undefined;
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch {
      throw new StoredRecordError(key, 'it is not valid JSON (truncated or edited by hand?)');
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record) || typeof (record as Json).clientId !== 'string') {
      throw new StoredRecordError(key, 'it is not a credential record');
    }
    const reason = this.problem(record as Json);
    if (reason) throw new StoredRecordError(key, reason);
    const opened: Json = { ...(record as Json) };
    for (const field of this.secretFields) {
      const sealed = opened[field];
      if (sealed === undefined) continue;
      if (typeof sealed !== 'string') throw new StoredRecordError(key, `${field} is not a sealed value`);
      // SecretBoxError names the record and says "wrong encryptionKey or tampered".
      opened[field] = this.box.open(sealed, this.aad(key, opened.clientId as string, field));
    }
    return opened as T;
  }

  async write(key: string, record: T): Promise<void> {
    const sealed: Json = {};
    for (const [field, value] of Object.entries(record)) {
      if (value === undefined) continue;
      sealed[field] = this.secretFields.includes(field as keyof T & string) ? this.box.seal(String(value), this.aad(key, record.clientId, field)) : value;
    }
    await this.store.set(key, JSON.stringify(sealed));
  }

  private aad(key: string, clientId: string, field: string): string {
    return `${key}#${clientId}#${field}`;
  }
}
