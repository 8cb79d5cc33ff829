import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IdentityConfigurationError } from '../errors/identity-configuration.error.js';
import { credentialAad, SecretBox, SecretBoxError } from './secret-box.js';

const key = randomBytes(32);
const box = new SecretBox(key);
const AAD = credentialAad('client:nestjs-identity', 'clientSecret');
const SECRET = 'super-secret-client-secret-ü✓';

function openError(fn: () => unknown): SecretBoxError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SecretBoxError);
    const message = (error as Error).message;
    expect(message).toContain(AAD);
    // Never leak the secret or the key.
    expect(message).not.toContain(SECRET);
    expect(message).not.toContain(key.toString('base64'));
    expect(message).not.toContain(key.toString('hex'));
    return error as SecretBoxError;
  }
  throw new Error('expected open() to fail');
}

describe('SecretBox', () => {
  it('round-trips a secret', () => {
    const sealed = box.seal(SECRET, AAD);
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(sealed).not.toContain(SECRET);
    expect(box.open(sealed, AAD)).toBe(SECRET);
  });

  it('round-trips any string, including the empty one', () => {
    expect(box.open(box.seal('', AAD), AAD)).toBe('');
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string(), (plaintext, aad) => {
        expect(box.open(box.seal(plaintext, aad), aad)).toBe(plaintext);
      }),
      { numRuns: 200 },
    );
  });

  it('uses a fresh nonce for every seal', () => {
    const seen = new Set<string>();
    const nonces = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const sealed = box.seal(SECRET, AAD);
      seen.add(sealed);
      nonces.add(sealed.split('.')[1]!);
    }
    expect(seen.size).toBe(100);
    expect(nonces.size).toBe(100);
  });

  it('fails closed when any character of any part is changed', () => {
    const sealed = box.seal(SECRET, AAD);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    let tried = 0;
    for (let i = 0; i < sealed.length; i++) {
      if (sealed[i] === '.') continue;
      // Try a few replacements per position, including ones that only touch the unused low bits.
      for (const replacement of new Set([alphabet[(alphabet.indexOf(sealed[i]!) + 1) % 64]!, alphabet[(alphabet.indexOf(sealed[i]!) ^ 1) % 64]!, 'A', '_'])) {
        if (replacement === sealed[i]) continue;
        const tampered = sealed.slice(0, i) + replacement + sealed.slice(i + 1);
        openError(() => box.open(tampered, AAD));
        tried++;
      }
    }
    expect(tried).toBeGreaterThan(100);
  });

  it('fails closed with a wrong key and says so', () => {
    const sealed = box.seal(SECRET, AAD);
    const error = openError(() => new SecretBox(randomBytes(32)).open(sealed, AAD));
    expect(error.message).toBe(`cannot decrypt credential ${AAD}: wrong encryptionKey or the stored value was tampered with`);
    expect(error.aad).toBe(AAD);
  });

  it('fails closed with wrong associated data (a value moved to another record)', () => {
    expect(AAD).toBe('client:nestjs-identity#clientSecret');
    const sealed = box.seal(SECRET, AAD);
    expect(() => box.open(sealed, 'client:other#clientSecret')).toThrow(SecretBoxError);
    expect(() => box.open(sealed, '')).toThrow(SecretBoxError);
  });

  it('fails closed on truncated values and bad formats', () => {
    const sealed = box.seal(SECRET, AAD);
    for (let length = 0; length < sealed.length; length++) openError(() => box.open(sealed.slice(0, length), AAD));
    const [, nonce, ciphertext, tag] = sealed.split('.');
    const bad = [
      `v2.${nonce}.${ciphertext}.${tag}`,
      `${nonce}.${ciphertext}.${tag}`,
      `v1.${nonce}.${ciphertext}.${tag}.extra`,
      `v1.${nonce}.${ciphertext}.${tag}=`,
      `v1.${nonce}==.${ciphertext}.${tag}`,
      `v1.${nonce}.${ciphertext}.${tag!.slice(0, -2)}`,
      `v1.${nonce}.${ciphertext}.${tag}AA`,
      `v1.+${nonce!.slice(1)}.${ciphertext}.${tag}`,
      `v1.${nonce}.${ciphertext} .${tag}`,
      sealed + '\n',
      SECRET,
    ];
    for (const value of bad) openError(() => box.open(value, AAD));
    openError(() => box.open(undefined as unknown as string, AAD));
  });

  it('refuses a key that is not 32 bytes', () => {
    for (const length of [0, 16, 31, 33, 64]) {
      expect(() => new SecretBox(randomBytes(length))).toThrow(IdentityConfigurationError);
    }
    expect(() => new SecretBox('a'.repeat(32) as unknown as Buffer)).toThrow(/encryptionKey/);
  });

  it('keeps its own copy of the key and never shows it', () => {
    const mine = randomBytes(32);
    const copy = Buffer.from(mine);
    const own = new SecretBox(mine);
    const sealed = own.seal(SECRET, AAD);
    mine.fill(0);
    expect(new SecretBox(copy).open(sealed, AAD)).toBe(SECRET);
    expect(own.open(sealed, AAD)).toBe(SECRET);
    expect(inspect(own, { showHidden: true, depth: 5 })).not.toMatch(/Buffer|[0-9a-f]{2} [0-9a-f]{2}/);
    expect(JSON.stringify(own)).toBe('{}');
  });
});
