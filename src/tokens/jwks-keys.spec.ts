import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyFitsAlgorithm, toVerificationKeys, usableJwks } from './jwks-keys.js';

const rsa = (bits = 2048) => generateKeyPairSync('rsa', { modulusLength: bits }).publicKey;
const ec = (namedCurve: string) => generateKeyPairSync('ec', { namedCurve }).publicKey;
const jwk = (key: ReturnType<typeof rsa>, extra: Record<string, unknown> = {}) => ({ ...key.export({ format: 'jwk' }), ...extra });

describe('usableJwks', () => {
  it('keeps signing keys and drops what must never verify', () => {
    const keys = [
      jwk(rsa(), { kid: 'good', use: 'sig' }),
      jwk(rsa(), { kid: 'enc', use: 'enc' }),
      jwk(rsa(), { kid: 'ops', key_ops: ['encrypt'] }),
      jwk(rsa(1024), { kid: 'short' }),
      { kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' },
      jwk(ec('secp256k1'), { kid: 'k1' }),
      jwk(ec('prime256v1'), { kid: 'p256' }),
      jwk(generateKeyPairSync('ed25519').publicKey, { kid: 'ed25519' }),
      jwk(generateKeyPairSync('ed448').publicKey, { kid: 'ed448' }),
      jwk(generateKeyPairSync('x25519').publicKey, { kid: 'x25519' }),
      jwk(rsa(), { kid: 'dup' }),
      jwk(rsa(), { kid: 'dup' }),
      { ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kid: 'private' },
      'junk',
      null,
    ];
    expect(usableJwks(keys).map((k) => k.kid)).toEqual(['good', 'p256', 'ed25519', 'ed448']);
    expect(usableJwks({ keys: [] })).toEqual([]);
  });
});

describe('keyFitsAlgorithm', () => {
  it('matches family, curve and the JWK alg', () => {
    const r = { key: rsa() };
    expect(keyFitsAlgorithm(r, 'RS256')).toBe(true);
    expect(keyFitsAlgorithm(r, 'PS256')).toBe(true);
    expect(keyFitsAlgorithm(r, 'ES256')).toBe(false);
    expect(keyFitsAlgorithm({ ...r, alg: 'RS256' }, 'PS256')).toBe(false);
    expect(keyFitsAlgorithm({ key: ec('prime256v1') }, 'ES256')).toBe(true);
    expect(keyFitsAlgorithm({ key: ec('secp384r1') }, 'ES256')).toBe(false);
    expect(keyFitsAlgorithm({ key: ec('secp384r1') }, 'ES384')).toBe(true);
    const ed = { key: generateKeyPairSync('ed25519').publicKey };
    expect(keyFitsAlgorithm(ed, 'EdDSA')).toBe(true);
    expect(keyFitsAlgorithm({ key: generateKeyPairSync('ed448').publicKey }, 'EdDSA')).toBe(true);
    expect(keyFitsAlgorithm(ed, 'ES256')).toBe(false);
    expect(keyFitsAlgorithm(r, 'EdDSA')).toBe(false);
    expect(keyFitsAlgorithm({ key: generateKeyPairSync('x25519').publicKey }, 'EdDSA')).toBe(false);
    // RFC 9864 names on the JWK: Ed25519 fits EdDSA with an Ed25519 key only.
    expect(keyFitsAlgorithm({ ...ed, alg: 'Ed25519' }, 'EdDSA')).toBe(true);
    expect(keyFitsAlgorithm({ ...ed, alg: 'Ed448' }, 'EdDSA')).toBe(false);
    expect(keyFitsAlgorithm({ ...ed, alg: 'ES256' }, 'EdDSA')).toBe(false);
    expect(keyFitsAlgorithm({ ...ed, alg: 'Ed25519' }, 'ES256')).toBe(false);
  });
});

describe('toVerificationKeys', () => {
  const entry = (kid: string, key: ReturnType<typeof rsa>) => ({ kid, getPublicKey: () => key.export({ format: 'pem', type: 'spki' }) as string });

  it('judges strength on the parsed key: a zero-padded 1024-bit modulus and e = 1 are skipped', () => {
    const short = jwk(rsa(1024));
    const padded = { ...short, n: Buffer.concat([Buffer.alloc(128), Buffer.from(short.n as string, 'base64url')]).toString('base64url'), kid: 'padded' };
    // The JWK filter sees 256 octets and lets it through; the parsed key shows 1024 bits.
    expect(usableJwks([padded]).map((k) => k.kid)).toEqual(['padded']);
    const parsedPadded = createPublicKey({ key: padded as never, format: 'jwk' });
    const eOne = createPublicKey({ key: { ...jwk(rsa()), e: 'AQ' } as never, format: 'jwk' });
    const good = rsa();
    const ed = generateKeyPairSync('ed25519').publicKey;
    const x = generateKeyPairSync('x25519').publicKey;
    const keys = toVerificationKeys([entry('padded', parsedPadded), entry('e1', eOne), entry('good', good), entry('ed', ed), entry('x', x), { kid: 'junk', getPublicKey: () => 'not a key' }]);
    expect(keys.map((k) => k.kid)).toEqual(['good', 'ed']);
  });

  it('never treats a prototype name as a curve', () => {
    expect(usableJwks([{ kty: 'EC', crv: 'constructor', x: 'AA', y: 'AA', kid: 'proto' }, { kty: 'EC', crv: 'toString', kid: 'proto2' }])).toEqual([]);
  });
});
