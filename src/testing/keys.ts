import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';

/** The signature algorithms the development provider holds keys for. */
export type DevelopmentKeyAlg = 'RS256' | 'ES256' | 'EdDSA';

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

/** What each alg's key is, and the digest its signatures use (none: EdDSA hashes internally). */
const KEY_KINDS: Record<DevelopmentKeyAlg, { generate(): { privateKey: KeyObject; publicKey: KeyObject }; is(key: KeyObject): boolean; digest: string | null }> = {
  RS256: { generate: () => generateKeyPairSync('rsa', { modulusLength: 2048 }), is: (key) => key.asymmetricKeyType === 'rsa', digest: 'sha256' },
  ES256: {
    generate: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    is: (key) => key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1',
    digest: 'sha256',
  },
  EdDSA: { generate: () => generateKeyPairSync('ed25519'), is: (key) => key.asymmetricKeyType === 'ed25519', digest: null },
};

/** Every alg the development provider holds a key for; the first (RS256, like upstream) signs by default. */
export const DEVELOPMENT_KEY_ALGS = Object.keys(KEY_KINDS) as DevelopmentKeyAlg[];

/** RS256 keys are RSA 2048 like upstream; ES256 keys are P-256; EdDSA keys Ed25519. The kid is the RFC 7638 thumbprint. */
export async function generateSigningKey(alg: DevelopmentKeyAlg): Promise<DevelopmentSigningKey> {
  const { privateKey, publicKey } = KEY_KINDS[alg].generate();
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

/** What the state file keeps of a key: everything else is derived from the private JWK. */
export interface StoredSigningKey {
  kid: string;
  alg: DevelopmentKeyAlg;
  privateJwk: JWK;
  createdAt: string;
}

export function exportSigningKey(key: DevelopmentSigningKey): StoredSigningKey {
  return { kid: key.kid, alg: key.alg, privateJwk: { ...key.privateJwk }, createdAt: key.createdAt.toISOString() };
}

/** Rebuilds a key pair from its stored private JWK; throws when the JWK is not an `alg` private key. */
export function importSigningKey(stored: StoredSigningKey): DevelopmentSigningKey {
  const { kid, alg } = stored;
  if (!Object.hasOwn(KEY_KINDS, alg)) throw new Error(`key ${kid}: unsupported alg ${String(alg)}`);
  const kind = KEY_KINDS[alg];
  const privateKey = createPrivateKey({ key: stored.privateJwk as JsonWebKey, format: 'jwk' });
  if (!kind.is(privateKey)) throw new Error(`key ${kid}: not an ${alg} private key`);
  const publicKey = createPublicKey(privateKey);
  // Node accepts inconsistent JWK members (a damaged `d`, say): a round trip proves the pair works.
  const probe = Buffer.from('development-identity-provider key check');
  const signature = sign(kind.digest, probe, privateKey);
  if (!verify(kind.digest, probe, publicKey, signature)) throw new Error(`key ${kid}: private and public parts do not match`);
  const metadata = { kid, alg, use: 'sig' };
  const createdAt = new Date(stored.createdAt);
  return {
    kid,
    alg,
    privateJwk: { ...(privateKey.export({ format: 'jwk' }) as JWK), ...metadata },
    publicJwk: { ...(publicKey.export({ format: 'jwk' }) as JWK), ...metadata },
    privateKey,
    publicKey,
    createdAt: Number.isNaN(createdAt.getTime()) ? new Date() : createdAt,
  };
}
