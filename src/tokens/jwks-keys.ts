import { createPublicKey, type KeyObject } from 'node:crypto';
import type { JwtAlgorithm } from '../identity-options.js';

/** A verification key, parsed once (never a PEM re-parse per request). */
export interface VerificationKey {
  readonly kid?: string;
  readonly alg?: string;
  readonly key: KeyObject;
}

type Jwk = Record<string, unknown>;

const CURVES: Record<string, string> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };
const EC_ALG_BY_NODE_CURVE: Record<string, string> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };
/** RFC 8037: EdDSA keys are OKP with one of these curves (X25519 and X448 are for key agreement). */
const EDDSA_CURVES = new Set(['Ed25519', 'Ed448']);
const EDDSA_NODE_TYPES = new Set(['ed25519', 'ed448']);

/**
 * Drops JWKS entries that must never verify an access token: encryption keys, keys whose
 * key_ops exclude verify, symmetric or private keys, RSA under 2048 bits, unknown curves (OKP
 * keys only as Ed25519 or Ed448), and
 * every entry of a duplicated kid (which one was meant is unknowable).
 */
export function usableJwks(keys: unknown): Jwk[] {
  if (!Array.isArray(keys)) return [];
  const candidates = keys.filter((jwk): jwk is Jwk => {
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return false;
    const k = jwk as Jwk;
    if (k.use !== undefined && k.use !== 'sig') return false;
    if (k.key_ops !== undefined && !(Array.isArray(k.key_ops) && k.key_ops.includes('verify'))) return false;
    if (k.kid !== undefined && typeof k.kid !== 'string') return false;
    if (k.d !== undefined || k.k !== undefined) return false;
    if (k.kty === 'RSA') return typeof k.n === 'string' && Buffer.from(k.n, 'base64url').length * 8 >= 2048 - 8;
    if (k.kty === 'EC') return typeof k.crv === 'string' && Object.hasOwn(CURVES, k.crv);
    if (k.kty === 'OKP') return typeof k.crv === 'string' && EDDSA_CURVES.has(k.crv);
    return false;
  });
  const seen = new Map<string, number>();
  for (const k of candidates) if (typeof k.kid === 'string') seen.set(k.kid, (seen.get(k.kid) ?? 0) + 1);
  return candidates.filter((k) => typeof k.kid !== 'string' || seen.get(k.kid) === 1);
}

/** Whether key can verify alg (RFC 7518 §3): family, curve, and the JWK's own alg when stated. */
export function keyFitsAlgorithm(key: VerificationKey, alg: JwtAlgorithm): boolean {
  const type = key.key.asymmetricKeyType;
  // RFC 9864's fully specified names (Ed25519, Ed448) on a JWK mean EdDSA with that curve.
  if (alg === 'EdDSA' && key.alg !== undefined && key.alg !== 'EdDSA') return key.alg.toLowerCase() === type;
  if (key.alg !== undefined && key.alg !== alg) return false;
  if (alg === 'EdDSA') return type !== undefined && EDDSA_NODE_TYPES.has(type);
  if (alg.startsWith('RS') || alg.startsWith('PS')) return type === 'rsa' || (type === 'rsa-pss' && alg.startsWith('PS'));
  const curve = key.key.asymmetricKeyDetails?.namedCurve ?? '';
  return type === 'ec' && Object.hasOwn(EC_ALG_BY_NODE_CURVE, curve) && EC_ALG_BY_NODE_CURVE[curve] === alg;
}

/** Smallest RSA modulus accepted (RFC 7518 §3.3, RFC 8725 §3.5). */
const MIN_RSA_BITS = 2048;

/**
 * Whether a parsed key is strong enough, judged on the key itself: a JWK `n` can be padded with
 * leading zero octets so that a 1024-bit modulus looks 2048 bits long to a length check, and
 * Node accepts an RSA public exponent of 1, with which anyone can forge a signature (s = EM).
 */
function strongEnough(key: KeyObject): boolean {
  const type = key.asymmetricKeyType;
  if (type === 'rsa' || type === 'rsa-pss') {
    const details = key.asymmetricKeyDetails;
    const e = details?.publicExponent ?? 0n;
    return (details?.modulusLength ?? 0) >= MIN_RSA_BITS && e >= 3n && e % 2n === 1n;
  }
  if (type !== undefined && EDDSA_NODE_TYPES.has(type)) return true;
  return type === 'ec' && Object.hasOwn(EC_ALG_BY_NODE_CURVE, key.asymmetricKeyDetails?.namedCurve ?? '');
}

/** Parses signing keys from jwks-rsa's output into KeyObjects; weak or unparsable keys are skipped. */
export function toVerificationKeys(signingKeys: ReadonlyArray<{ kid?: string; alg?: string; getPublicKey(): string }>): VerificationKey[] {
  const out: VerificationKey[] = [];
  for (const signingKey of signingKeys) {
    try {
      const key = createPublicKey(signingKey.getPublicKey());
      if (key.type === 'public' && strongEnough(key)) out.push({ kid: signingKey.kid, alg: signingKey.alg, key });
    } catch {
      // An entry that does not parse is skipped, like jwks-rsa skips it.
    }
  }
  return out;
}
