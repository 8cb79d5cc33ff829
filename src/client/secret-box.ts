import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { IdentityConfigurationError } from '../errors/identity-configuration.error.js';

const VERSION = 'v1';
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const B64URL = /^[A-Za-z0-9_-]*$/;

/**
 * A sealed value could not be opened. The message names the record (the associated data, which
 * is a store key and field, never a secret) and never includes plaintext, ciphertext or key bytes.
 */
export class SecretBoxError extends Error {
  /** Written to hold no secret, token or response body (see errors/safe-message.ts). */
  readonly safeMessage = true as const;
  override readonly name = 'SecretBoxError';
  constructor(readonly aad: string, message: string) {
    super(message);
  }
}

/**
 * AES-256-GCM sealing of secrets at rest. Each seal uses a fresh random 96-bit nonce; the
 * record's identity (e.g. `store key + field`) is bound in as associated data, so a sealed value
 * copied onto another record does not open there.
 *
 * Sealed format: `v1.<nonce>.<ciphertext>.<tag>`, each part base64url without padding.
 */
export class SecretBox {
  // A private field: util.inspect and JSON.stringify never show it.
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
      throw new IdentityConfigurationError(
        'encryptionKey',
        `must be exactly ${KEY_BYTES} bytes for AES-256-GCM (got ${Buffer.isBuffer(key) ? key.length : typeof key}); decode it with decodeEncryptionKey()`,
      );
    }
    // A copy: the caller may zero or reuse its buffer.
    this.#key = Buffer.from(key);
  }

  seal(plaintext: string, aad: string): string {
    if (typeof plaintext !== 'string') throw new TypeError('SecretBox.seal: plaintext must be a string');
    if (typeof aad !== 'string') throw new TypeError('SecretBox.seal: aad must be a string');
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [VERSION, nonce.toString('base64url'), ciphertext.toString('base64url'), tag.toString('base64url')].join('.');
  }

  open(sealed: string, aad: string): string {
    if (typeof aad !== 'string') throw new TypeError('SecretBox.open: aad must be a string');
    const parts = typeof sealed === 'string' ? sealed.split('.') : [];
    if (parts.length !== 4 || parts[0] !== VERSION) {
      throw new SecretBoxError(
        aad,
        `cannot decrypt credential ${aad}: the stored value is not a ${VERSION} sealed value (truncated or corrupted)`,
      );
    }
    const nonce = decodePart(parts[1]!);
    const ciphertext = decodePart(parts[2]!);
    const tag = decodePart(parts[3]!);
    if (!nonce || !ciphertext || !tag || nonce.length !== NONCE_BYTES || tag.length !== TAG_BYTES) {
      throw new SecretBoxError(
        aad,
        `cannot decrypt credential ${aad}: the stored value is malformed (truncated or corrupted)`,
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, nonce, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(tag);
      // final() verifies the tag; nothing is returned before it succeeds.
      const plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
      return plaintext.toString('utf8');
    } catch {
      // The underlying error says nothing useful ("Unsupported state or unable to authenticate data").
      throw new SecretBoxError(
        aad,
        `cannot decrypt credential ${aad}: wrong encryptionKey or the stored value was tampered with`,
      );
    }
  }
}

/**
 * The associated data for one secret field of one store record, e.g. `client#clientSecret`.
 * One helper so that the sealing and opening sides always agree. Field names must not contain `#`.
 */
export function credentialAad(storeKey: string, field: string): string {
  return `${storeKey}#${field}`;
}

/**
 * Strict base64url: Buffer.from() silently skips invalid characters and ignores the unused low
 * bits of the last character, so a value is accepted only if it re-encodes to itself. Otherwise
 * an edited character could decode to the same bytes and a tampered value would "open".
 */
function decodePart(part: string): Buffer | undefined {
  if (!B64URL.test(part)) return undefined;
  const bytes = Buffer.from(part, 'base64url');
  return bytes.toString('base64url') === part ? bytes : undefined;
}
