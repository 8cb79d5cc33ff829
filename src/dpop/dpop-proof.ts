import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, compactVerify, errors, importJWK, type JWK } from 'jose';
import { LRUCache } from 'lru-cache';
import { InvalidDpopProofError, type InvalidDpopProofReason } from '../errors/invalid-dpop-proof.error.js';

/** Longest proof read, in characters, before any decoding (an RSA-4096 proof is about 1.6 KB). */
export const MAX_DPOP_PROOF_LENGTH = 8192;
const SEGMENT = /^[A-Za-z0-9_-]+$/;
/** JWK members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
const DPOP_TYP = new Set(['dpop+jwt', 'application/dpop+jwt']);

export interface DpopProofPolicy {
  /** Allowed `alg` values. */
  readonly algorithms: ReadonlySet<string>;
  /** Seconds `iat` may lie before or after now. */
  readonly iatWindowSeconds: number;
}

/** What one proof is checked against: the request, and the access token it accompanies. */
export interface DpopProofExpectation {
  readonly proof: string;
  /** The request method (`htm`). */
  readonly method: string;
  /** The request URL without query and fragment (`htu`), normalised; undefined when it cannot be known. */
  readonly url: string | undefined;
  readonly accessToken: string;
  /** The token's `cnf.jkt`: the thumbprint the proof key must have. */
  readonly jkt: string;
  /** Milliseconds since the epoch. */
  readonly now: number;
}

export interface VerifiedDpopProof {
  readonly jti: string;
  readonly iat: number;
  /** The server nonce the proof carries, if any. */
  readonly nonce?: string;
  /** RFC 7638 thumbprint of the proof key (equal to the token's `cnf.jkt`). */
  readonly thumbprint: string;
}

interface VettedHeader {
  readonly key: Awaited<ReturnType<typeof importJWK>>;
  readonly alg: string;
  readonly thumbprint: string;
}

function refuse(reason: InvalidDpopProofReason): never {
  throw new InvalidDpopProofError(reason);
}

function decodeJson(segment: string): Record<string, unknown> | undefined {
  return parseObject(Buffer.from(segment, 'base64url').toString('utf8'));
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The `htu` comparison form of a URL (RFC 9449 §4.3 step 9): parsed, normalised, query and fragment removed. */
export function htuForm(value: string): string | undefined {
  const url = URL.parse(value);
  if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:')) return undefined;
  url.search = '';
  url.hash = '';
  return url.href;
}

/** base64url SHA-256 of the access token: the proof's `ath` (RFC 9449 §4.2). */
export function accessTokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/**
 * Verifies a DPoP proof JWT per RFC 9449 §4.3 with jose: a well-formed JWS, `typ` dpop+jwt, an
 * allowed asymmetric `alg`, a public `jwk` (no private members) whose signature verifies, the
 * required claims, `htm`, `htu`, `iat` within the window, `ath` of the token, and the key's RFC
 * 7638 thumbprint equal to the token's `cnf.jkt`. Nonce and replay (jti) are the caller's
 * (DpopService). Every refusal is an InvalidDpopProofError with a fixed reason.
 *
 * A client sends the same protected header (typ, alg, jwk) with every proof: a header already
 * vetted, with its key imported and its thumbprint computed, is reused by its exact text, so a
 * client's second proof costs the signature and the claims only.
 */
export class DpopProofVerifier {
  /** Vetted headers by their base64url segment (bounded: a proof is at most 8 KiB). */
  private readonly keys = new LRUCache<string, VettedHeader>({ max: 2000 });

  constructor(private readonly policy: DpopProofPolicy) {}

  /**
   * The header's checks (typ, alg, a public jwk), its key imported and its thumbprint: kept by the
   * header segment, since a client sends the same header with every proof.
   */
  private async vetHeader(segment: string): Promise<VettedHeader> {
    const header = decodeJson(segment);
    if (header === undefined) refuse('malformed');
    if (typeof header.typ !== 'string' || !DPOP_TYP.has(header.typ.toLowerCase())) refuse('typ');
    const alg = header.alg;
    if (typeof alg !== 'string' || !this.policy.algorithms.has(alg)) refuse('alg');
    const jwk = header.jwk;
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk) || typeof (jwk as JWK).kty !== 'string') refuse('jwk');
    if (PRIVATE_MEMBERS.some((member) => member in jwk)) refuse('private_key');
    let thumbprint: string;
    let key: VettedHeader['key'];
    try {
      thumbprint = await calculateJwkThumbprint(jwk as JWK, 'sha256');
      key = await importJWK(jwk as JWK, alg);
    } catch {
      refuse('jwk');
    }
    if (!(key instanceof Uint8Array) && 'type' in key && key.type !== 'public') refuse('private_key');
    const vetted = { key, alg, thumbprint };
    this.keys.set(segment, vetted);
    return vetted;
  }

  async verify(expected: DpopProofExpectation): Promise<VerifiedDpopProof> {
    const { proof } = expected;
    if (proof.length > MAX_DPOP_PROOF_LENGTH) refuse('too_large');
    const parts = proof.split('.');
    if (parts.length !== 3 || !parts.every((part) => SEGMENT.test(part))) refuse('malformed');
    const { key, alg, thumbprint } = this.keys.get(parts[0]!) ?? (await this.vetHeader(parts[0]!));

    let payloadBytes: Uint8Array;
    try {
      ({ payload: payloadBytes } = await compactVerify(proof, key, { algorithms: [alg] }));
    } catch (error) {
      if (error instanceof errors.JWSSignatureVerificationFailed) refuse('signature');
      if (error instanceof errors.JOSEAlgNotAllowed) refuse('alg');
      if (error instanceof errors.JWSInvalid || error instanceof errors.JOSENotSupported) refuse('malformed');
      // The key does not fit the alg (an RSA key with ES256, a short RSA modulus, ...).
      refuse('jwk');
    }
    const claims = parseObject(new TextDecoder().decode(payloadBytes));
    if (claims === undefined) refuse('malformed');
    const { jti, htm, htu, iat, ath, nonce } = claims;
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > 512) refuse('claims');
    if (typeof htm !== 'string' || typeof htu !== 'string' || typeof iat !== 'number' || !Number.isFinite(iat)) refuse('claims');
    if (typeof ath !== 'string') refuse('claims');
    if (nonce !== undefined && typeof nonce !== 'string') refuse('claims');
    if (htm !== expected.method) refuse('htm');
    if (expected.url === undefined || htuForm(htu) !== expected.url) refuse('htu');
    const nowSeconds = Math.floor(expected.now / 1000);
    if (Math.abs(nowSeconds - iat) > this.policy.iatWindowSeconds) refuse('iat');
    if (ath !== accessTokenHash(expected.accessToken)) refuse('ath');
    if (thumbprint !== expected.jkt) refuse('key_mismatch');
    return { jti, iat, nonce, thumbprint };
  }
}
