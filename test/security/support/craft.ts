import { constants, createHmac, sign, type KeyObject } from 'node:crypto';

/** A JSON value, a raw JSON text (string) or raw bytes (Buffer), base64url-encoded without padding. */
export function b64url(value: unknown): string {
  if (Buffer.isBuffer(value)) return value.toString('base64url');
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8').toString('base64url');
}

export function decodeSegment(segment: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as Record<string, unknown>;
}

export interface TokenParts {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  segments: [string, string, string];
}

export function partsOf(token: string): TokenParts {
  const segments = token.split('.') as [string, string, string];
  return { header: decodeSegment(segments[0]), payload: decodeSegment(segments[1]), segments };
}

export type CraftAlg = `${'RS' | 'PS' | 'ES' | 'HS'}${256 | 384 | 512}`;

/**
 * Signs `header.payload` the way a forger (or our own provider) would. Header and payload may be
 * objects, raw JSON strings (duplicate keys, odd spacing) or raw bytes (BOM, invalid UTF-8).
 * `ecdsa: 'der'` produces the DER encoding instead of JOSE's fixed-size r||s.
 */
export function signRaw(
  header: unknown,
  payload: unknown,
  key: KeyObject | Buffer | string,
  alg: CraftAlg,
  options: { ecdsa?: 'der' | 'ieee-p1363' } = {},
): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${signature(input, key, alg, options).toString('base64url')}`;
}

export function signature(input: string, key: KeyObject | Buffer | string, alg: CraftAlg, options: { ecdsa?: 'der' | 'ieee-p1363' } = {}): Buffer {
  const data = Buffer.from(input);
  const digest = `sha${alg.slice(2)}`;
  if (alg.startsWith('HS')) return createHmac(digest, key as Buffer | string).update(data).digest();
  if (alg.startsWith('PS')) {
    return sign(digest, data, { key: key as KeyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  }
  if (alg.startsWith('ES')) return sign(digest, data, { key: key as KeyObject, dsaEncoding: options.ecdsa ?? 'ieee-p1363' });
  return sign(digest, data, key as KeyObject);
}

/** Re-signs a token's claims (merged with `claims`) with `key`, keeping or replacing its header. */
export function resign(token: string, key: KeyObject, alg: CraftAlg, changes: { header?: Record<string, unknown>; claims?: Record<string, unknown> } = {}): string {
  const { header, payload } = partsOf(token);
  return signRaw({ ...header, alg, ...changes.header }, { ...payload, ...changes.claims }, key, alg);
}

/** Swaps one segment of a token. */
export function withSegment(token: string, index: 0 | 1 | 2, segment: string): string {
  const segments = token.split('.');
  segments[index] = segment;
  return segments.join('.');
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);
