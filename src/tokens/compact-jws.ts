import { InvalidTokenError } from '../errors/invalid-token.error.js';
import type { JwtAlgorithm } from '../identity-options.js';
import { nonAccessTokenMarker, type JwtClaims } from '../identity/jwt-claims.js';
import { scratchBytes } from './scratch-bytes.js';

export interface JwsHeader {
  readonly alg: JwtAlgorithm;
  readonly kid?: string;
  readonly typ?: string;
}

/** A compact JWS read once: the vetted header, the (not yet trusted) claims, and what the signature covers. */
export interface CompactJws {
  readonly header: JwsHeader;
  readonly claims: JwtClaims;
  /** `BASE64URL(header) || '.' || BASE64URL(payload)`, the bytes the signature is over (RFC 7515 §5.2). */
  readonly signingInput: string;
  readonly signature: Buffer;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** Header parameters that carry or point to a key: never trusted (RFC 8725 §3.10). */
const EMBEDDED_KEY_PARAMS = ['jwk', 'jku', 'x5u', 'x5c'];
/** A kid we are willing to look up: printable ASCII, bounded. */
const SAFE_KID = /^[\x21-\x7E]{1,256}$/;
/** Strict UTF-8 (RFC 7519 §7.2 step 10): invalid bytes are refused, never replaced; a BOM is kept so JSON.parse refuses it. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Canonical unpadded base64url (RFC 7515 §2): Node's decoder ignores the unused low bits of the
 * last character, so `...Q` and `...R` can decode to the same bytes. Without this check one
 * signature has up to 16 spellings that all verify (a mutated token would be accepted). RSA
 * signatures must also be exactly as long as the modulus (verifyJwsSignature); ECDSA's (r, n - s)
 * remains a second valid signature by design of ECDSA (see SECURITY.md, "Token identity").
 */
function isCanonicalBase64url(segment: string): boolean {
  if (!BASE64URL.test(segment)) return false;
  const rest = segment.length % 4;
  if (rest === 0) return true;
  if (rest === 1) return false;
  const last = ALPHABET.indexOf(segment[segment.length - 1]!);
  return (last & (rest === 2 ? 0x0f : 0x03)) === 0;
}

/**
 * How many members a JSON object's top level spells out, duplicates included. `json` must
 * already be known to parse as an object. JSON.parse keeps the last of duplicated names (also
 * when one is spelled with escapes), so fewer parsed keys than spelled members means a
 * duplicate. RFC 7515 §4 and RFC 7519 §4 let us refuse those, which we do, so that no parser
 * anywhere (ours, a gateway's, a logging pipeline's) can read a different `alg`, `kid` or `aud`.
 */
function topLevelMemberCount(json: string): number {
  let count = 0;
  let depth = 0;
  let expectName = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22) {
      if (depth === 1 && expectName) {
        count++;
        expectName = false;
      }
      i = closingQuote(json, i);
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
      expectName = c === 0x7b && depth === 1;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    } else if (c === 0x2c && depth === 1) {
      expectName = true;
    }
  }
  return count;
}

/** Index of the quote that closes the JSON string opened at `open` (one not escaped by an odd run of backslashes). */
function closingQuote(json: string, open: number): number {
  let end = json.indexOf('"', open + 1);
  while (end !== -1) {
    let backslashes = 0;
    while (json.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return end;
    end = json.indexOf('"', end + 1);
  }
  return json.length;
}

/** Decodes one segment as a JSON object with unique top-level names; anything else is malformed. */
function decodeJsonObject(segment: string): Record<string, unknown> {
  let text: string;
  let value: unknown;
  try {
    text = UTF8.decode(scratchBytes(segment, 'base64url'));
    value = JSON.parse(text);
  } catch {
    throw new InvalidTokenError('malformed');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidTokenError('malformed');
  if (topLevelMemberCount(text) !== Object.keys(value).length) throw new InvalidTokenError('malformed');
  return value as Record<string, unknown>;
}

/**
 * Reads and vets a compact JWS before any key is looked up, decoding each segment exactly once:
 *
 * - exactly three canonical base64url segments, none empty (a JWE's five, JSON serialization,
 *   padding, standard base64 and unsigned tokens are refused);
 * - header and claims set are strict UTF-8 JSON objects without duplicate top-level names;
 * - an allowed asymmetric `alg` (the allow-list is case-sensitive: `none`, `None`, `HS256` never
 *   pass), no embedded or remote keys (`jwk`, `jku`, `x5u`, `x5c`), no `crit` or `b64` (we
 *   understand no extensions, so RFC 7515 §4.1.11 says refuse), no nested JWT (`cty: JWT`);
 * - a short printable `kid`, and an access-token `typ` (`at+jwt`, or `JWT`/none unless
 *   `requireAtJwt`);
 * - a claims set that is not shaped like an ID token or a logout token (see nonAccessTokenMarker).
 *
 * The claims come back unverified: nothing may trust them before the signature check
 * (jws-signature.ts) and the registered-claims check (access-token-claims.ts) pass.
 */
export function readCompactJws(token: string, algorithms: readonly JwtAlgorithm[], requireAtJwt: boolean): CompactJws {
  const first = token.indexOf('.');
  const second = first === -1 ? -1 : token.indexOf('.', first + 1);
  if (first <= 0 || second === -1 || token.indexOf('.', second + 1) !== -1 || second === token.length - 1) {
    throw new InvalidTokenError('malformed');
  }
  const encodedHeader = token.slice(0, first);
  const encodedPayload = token.slice(first + 1, second);
  const encodedSignature = token.slice(second + 1);
  if (!isCanonicalBase64url(encodedHeader) || !isCanonicalBase64url(encodedPayload) || !isCanonicalBase64url(encodedSignature)) {
    throw new InvalidTokenError('malformed');
  }
  const h = decodeJsonObject(encodedHeader);
  if (typeof h.alg !== 'string' || !(algorithms as readonly string[]).includes(h.alg)) throw new InvalidTokenError('algorithm');
  for (const param of EMBEDDED_KEY_PARAMS) if (Object.hasOwn(h, param)) throw new InvalidTokenError('embedded_key');
  if (Object.hasOwn(h, 'crit') || Object.hasOwn(h, 'b64')) throw new InvalidTokenError('crit');
  if (h.kid !== undefined && (typeof h.kid !== 'string' || !SAFE_KID.test(h.kid))) throw new InvalidTokenError('unknown_key');
  const typ = h.typ;
  let typedAsAccessToken = false;
  if (typ !== undefined) {
    if (typeof typ !== 'string') throw new InvalidTokenError('type');
    const normalized = typ.toLowerCase().replace(/^application\//, '');
    typedAsAccessToken = normalized === 'at+jwt';
    if (!typedAsAccessToken && (requireAtJwt || normalized !== 'jwt')) throw new InvalidTokenError('type');
  } else if (requireAtJwt) {
    throw new InvalidTokenError('type');
  }
  // RFC 7519 §5.2: cty "JWT" announces a nested JWT; an access token is never one.
  if (h.cty !== undefined && (typeof h.cty !== 'string' || h.cty.toLowerCase().replace(/^application\//, '') === 'jwt')) {
    throw new InvalidTokenError('type');
  }
  const claims = decodeJsonObject(encodedPayload);
  if (nonAccessTokenMarker(claims, typedAsAccessToken) !== undefined) throw new InvalidTokenError('type');
  return {
    header: { alg: h.alg as JwtAlgorithm, kid: h.kid as string | undefined, typ: typ as string | undefined },
    claims,
    signingInput: token.slice(0, second),
    signature: Buffer.from(encodedSignature, 'base64url'),
  };
}
