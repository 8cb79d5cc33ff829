import type { KeyObject } from 'node:crypto';
import { expect } from 'vitest';

/** Shortest fragment worth looking for: shorter ones would match by chance. */
const MIN_LENGTH = 16;

/**
 * Everything a log line or a response must never contain: tokens (whole, and their payload and
 * signature segments), client secrets, private keys (PEM body, JWK private members), encryption
 * keys. Suites register what they mint and assert at the end.
 */
export class SecretRegistry {
  private readonly secrets = new Map<string, string>();

  add(label: string, value: string | undefined): void {
    if (value && value.length >= MIN_LENGTH) this.secrets.set(value, label);
  }

  token(token: string, label = 'token'): string {
    this.add(label, token);
    const [, payload, signature] = token.split('.');
    this.add(`${label} payload segment`, payload);
    this.add(`${label} signature segment`, signature);
    return token;
  }

  privateKey(key: KeyObject, label = 'private key'): void {
    const pem = key.export({ format: 'pem', type: 'pkcs8' }) as string;
    for (const line of pem.split('\n')) if (!line.startsWith('-----')) this.add(`${label} PEM line`, line);
    const jwk = key.export({ format: 'jwk' }) as Record<string, unknown>;
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi']) if (typeof jwk[member] === 'string') this.add(`${label} JWK ${member}`, jwk[member] as string);
  }

  /** Fails naming the kind of secret found (never printing it). */
  assertAbsent(text: string, where: string): void {
    for (const [value, label] of this.secrets) {
      expect(text.includes(value), `${where} contains a ${label}`).toBe(false);
    }
  }

  get size(): number {
    return this.secrets.size;
  }
}
