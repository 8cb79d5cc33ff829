import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';

/** The signature algorithms the development provider holds keys for. */
export type DevelopmentKeyAlg = 'RS256' | 'ES256';

/** One key pair of the development provider, private half included (tests only). */
export interface DevelopmentSigningKey {
  readonly kid: string;
  readonly alg: DevelopmentKeyAlg;
  /** The private JWK (with kid, alg and use), as handed to oidc-provider's keystore. */
  readonly privateJwk: JWK;
  /** The public JWK exactly as published in the JWKS. */
  readonly publicJwk: JWK;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly createdAt: Date;
}

/** RS256 keys are RSA 2048 like upstream; ES256 keys are P-256. The kid is the RFC 7638 thumbprint. */
export async function generateSigningKey(alg: DevelopmentKeyAlg): Promise<DevelopmentSigningKey> {
  const { privateKey, publicKey } =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicPart = publicKey.export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(publicPart);
  const metadata = { kid, alg, use: 'sig' };
  return {
    kid,
    alg,
    privateJwk: { ...(privateKey.export({ format: 'jwk' }) as JWK), ...metadata },
    publicJwk: { ...publicPart, ...metadata },
    privateKey,
    publicKey,
    createdAt: new Date(),
  };
}
