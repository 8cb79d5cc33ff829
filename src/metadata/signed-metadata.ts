import { createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet } from 'jose';
import { SUPPORTED_ALGORITHMS } from '../identity-options.js';
import type { MetadataSource } from './identity-metadata.js';
import { MetadataValidationError } from './metadata-document.js';
import { OutboundRequestError, safeFetch, type OutboundPolicy } from './safe-fetch.js';

export interface SignedMetadataContext {
  /** The configured issuer: the JWT's `iss` must equal it. */
  readonly issuer: string;
  readonly policy: OutboundPolicy;
  /** requireSignedMetadata: an unsigned document is refused. */
  readonly required: boolean;
}

// JWT bookkeeping claims are not metadata values.
const JWT_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'signed_metadata'];

function invalid(message: string): MetadataValidationError {
  return new MetadataValidationError('signed_metadata', `Identity metadata: "signed_metadata" ${message}`);
}

/** Why jose refused, in safe words. */
function verificationProblem(error: unknown): string {
  if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'iss') {
    return "was not issued by the configured issuer (its iss differs); check the issuer option";
  }
  if (error instanceof errors.JWTExpired) return 'has expired; the provider must re-sign its metadata';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'uses an algorithm that is not allowed (asymmetric JWS only)';
  if (error instanceof errors.JWKSNoMatchingKey) return "is signed by a key that is not in the issuer's JWKS";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "has a signature that does not verify against the issuer's JWKS";
  return 'could not be verified (malformed JWT or JWKS)';
}

/**
 * RFC 8414 §2.1: when the document carries `signed_metadata`, verify it against the issuer's JWKS
 * (the unsigned document's JWKS URL) and let its claims take precedence over the plain values.
 * Returns the document to map and whether its values are signed.
 */
export async function applySignedMetadata(
  source: MetadataSource,
  document: Record<string, unknown>,
  context: SignedMetadataContext,
): Promise<{ document: Record<string, unknown>; signed: boolean }> {
  const jwt = document.signed_metadata;
  if (jwt === undefined || jwt === null) {
    if (context.required) {
      throw invalid('is missing but requireSignedMetadata is set; publish RFC 8414 signed metadata or turn requireSignedMetadata off');
    }
    return { document, signed: false };
  }
  if (typeof jwt !== 'string') throw invalid('must be a JWT string');

  const jwksField = source === 'oidc-discovery' || source === 'rfc8414' ? 'jwks_uri' : 'jwksUrl';
  const jwksUrl = document[jwksField];
  if (typeof jwksUrl !== 'string') {
    throw new MetadataValidationError(jwksField, `Identity metadata: "${jwksField}" is needed to verify "signed_metadata" but is missing`);
  }
  let jwks: JSONWebKeySet;
  try {
    jwks = (await safeFetch(jwksUrl, {}, context.policy, 'JWKS')).json<JSONWebKeySet>();
  } catch (error) {
    // A JWKS URL the policy refuses is a document problem, not a network one.
    if (error instanceof OutboundRequestError && error.kind === 'policy') {
      throw new MetadataValidationError(jwksField, `Identity metadata: "${jwksField}" is not allowed: ${error.reason}`);
    }
    throw error;
  }
  if (!Array.isArray(jwks.keys)) throw invalid("cannot be verified: the issuer's JWKS has no keys array");

  let claims: Record<string, unknown>;
  try {
    const keys = createLocalJWKSet(jwks);
    ({ payload: claims } = await jwtVerify(jwt, keys, { issuer: context.issuer, algorithms: [...SUPPORTED_ALGORITHMS] }));
  } catch (error) {
    throw invalid(verificationProblem(error));
  }

  const merged: Record<string, unknown> = { ...document };
  for (const [name, value] of Object.entries(claims)) if (!JWT_CLAIMS.includes(name)) merged[name] = value;
  delete merged.signed_metadata;
  return { document: merged, signed: true };
}
