import { InvalidTokenError } from '../errors/invalid-token.error.js';
import type { JwtAlgorithm } from '../identity-options.js';

export interface JwsHeader {
  readonly alg: JwtAlgorithm;
  readonly kid?: string;
  readonly typ?: string;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** Header parameters that carry or point to a key: never trusted (RFC 8725 §3.10). */
const EMBEDDED_KEY_PARAMS = ['jwk', 'jku', 'x5u', 'x5c'];
/** A kid we are willing to look up: printable ASCII, bounded. */
const SAFE_KID = /^[\x21-\x7E]{1,256}$/;

/**
 * Reads and vets the protected header of a compact JWS before any key is looked up:
 * exactly three base64url segments (a JWE's five are refused), an allowed asymmetric `alg`,
 * no embedded keys, no `crit` (we understand no extensions, so RFC 7515 §4.1.11 says refuse),
 * and an access-token `typ`.
 */
export function readJwsHeader(token: string, algorithms: readonly JwtAlgorithm[], requireAtJwt: boolean): JwsHeader {
  const first = token.indexOf('.');
  const second = first === -1 ? -1 : token.indexOf('.', first + 1);
  if (first <= 0 || second === -1 || token.indexOf('.', second + 1) !== -1 || second === token.length - 1) {
    throw new InvalidTokenError('malformed');
  }
  const encodedHeader = token.slice(0, first);
  if (!BASE64URL.test(encodedHeader) || !BASE64URL.test(token.slice(first + 1, second)) || !BASE64URL.test(token.slice(second + 1))) {
    throw new InvalidTokenError('malformed');
  }
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(encodedHeader, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidTokenError('malformed');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new InvalidTokenError('malformed');
  const h = header as Record<string, unknown>;
  if (typeof h.alg !== 'string' || !(algorithms as readonly string[]).includes(h.alg)) throw new InvalidTokenError('algorithm');
  for (const param of EMBEDDED_KEY_PARAMS) if (Object.hasOwn(h, param)) throw new InvalidTokenError('embedded_key');
  if (Object.hasOwn(h, 'crit') || Object.hasOwn(h, 'b64')) throw new InvalidTokenError('crit');
  if (h.kid !== undefined && (typeof h.kid !== 'string' || !SAFE_KID.test(h.kid))) throw new InvalidTokenError('unknown_key');
  const typ = h.typ;
  if (typ !== undefined) {
    if (typeof typ !== 'string') throw new InvalidTokenError('type');
    const normalized = typ.toLowerCase().replace(/^application\//, '');
    if (normalized !== 'at+jwt' && (requireAtJwt || normalized !== 'jwt')) throw new InvalidTokenError('type');
  } else if (requireAtJwt) {
    throw new InvalidTokenError('type');
  }
  return { alg: h.alg as JwtAlgorithm, kid: h.kid as string | undefined, typ: typ as string | undefined };
}
