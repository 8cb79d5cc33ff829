import { constants, verify, type KeyObject, type VerifyKeyObjectInput } from 'node:crypto';
import type { JwtAlgorithm } from '../identity-options.js';
import { scratchBytes } from './scratch-bytes.js';

/**
 * How node:crypto verifies each JWS algorithm (RFC 7518 §3): the digest, and for RSA-PSS and
 * ECDSA the options that make Node read the signature the way JWS writes it. Computed once.
 */
interface SignatureScheme {
  /** null for EdDSA, which hashes as part of the signature scheme. */
  readonly digest: string | null;
  /** Options beside the key: none for RSASSA-PKCS1-v1_5, padding and salt for PSS, encoding for ECDSA. */
  readonly options?: Omit<VerifyKeyObjectInput, 'key'>;
  /** The exact signature length in octets, when the algorithm fixes it (ECDSA's r || s). */
  readonly length?: number;
}

const pss = (digest: string, octets: number): SignatureScheme => ({
  digest,
  // RFC 7518 §3.5: MGF1 with the same hash, and a salt as long as the hash output.
  options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: octets },
});
// RFC 7518 §3.4: r || s, each as long as the curve's order (32, 48, 66 octets), not DER.
const ecdsa = (digest: string, octets: number): SignatureScheme => ({ digest, options: { dsaEncoding: 'ieee-p1363' }, length: octets * 2 });

const SCHEMES: Readonly<Record<JwtAlgorithm, SignatureScheme>> = {
  RS256: { digest: 'sha256' },
  RS384: { digest: 'sha384' },
  RS512: { digest: 'sha512' },
  PS256: pss('sha256', 32),
  PS384: pss('sha384', 48),
  PS512: pss('sha512', 64),
  ES256: ecdsa('sha256', 32),
  ES384: ecdsa('sha384', 48),
  ES512: ecdsa('sha512', 66),
  // RFC 8037: Ed25519 (64-octet signatures) or Ed448 (114), as the key says; Node checks the length.
  EdDSA: { digest: null },
};

/**
 * Whether `signature` is alg's signature of `signingInput` under `key`. Synchronous
 * node:crypto on the event loop (one RS256-2048 verification is tens of microseconds; a hop to
 * the thread pool costs more than it saves). The key must already fit alg (JwksService.getKey
 * checks family, curve and the JWK's own alg). A signature Node cannot even parse is false,
 * never an exception.
 */
export function verifyJwsSignature(alg: JwtAlgorithm, key: KeyObject, signingInput: string, signature: Buffer): boolean {
  const scheme = SCHEMES[alg];
  if (scheme === undefined || (scheme.length !== undefined && signature.length !== scheme.length)) return false;
  // RFC 8017 §8.1.2, §8.2.2: an RSA signature is exactly as long as the modulus. OpenSSL refuses a
  // short PKCS#1 v1.5 signature but accepts a PSS one without its leading zero octet: a second
  // spelling of the same token.
  const modulusBits = key.asymmetricKeyDetails?.modulusLength;
  if (modulusBits !== undefined && signature.length !== Math.ceil(modulusBits / 8)) return false;
  try {
    // The signing input is base64url text (checked by readCompactJws), so latin1 gives its exact octets.
    const data = scratchBytes(signingInput, 'latin1');
    return verify(scheme.digest, data, scheme.options === undefined ? key : { key, ...scheme.options }, signature);
  } catch {
    return false;
  }
}
