import { constants, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { CompactSign } from 'jose';
import { describe, expect, it } from 'vitest';
import type { JwtAlgorithm } from '../identity-options.js';
import { readCompactJws } from './compact-jws.js';
import { verifyJwsSignature } from './jws-signature.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = {
  ES256: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  ES384: generateKeyPairSync('ec', { namedCurve: 'P-384' }),
  ES512: generateKeyPairSync('ec', { namedCurve: 'P-521' }),
};
const ed25519 = generateKeyPairSync('ed25519');
const keysFor = (alg: JwtAlgorithm) => (alg === 'EdDSA' ? ed25519 : alg.startsWith('ES') ? ec[alg as keyof typeof ec] : rsa);
const ALGS: JwtAlgorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** A token signed by jose (an independent JWS implementation), read back as the strategy reads it. */
async function signed(alg: JwtAlgorithm, privateKey: KeyObject = keysFor(alg).privateKey, serial = 0) {
  const payload = new TextEncoder().encode(JSON.stringify({ sub: 'x', exp: 2_000_000_000, serial }));
  const token = await new CompactSign(payload).setProtectedHeader({ alg }).sign(privateKey);
  return readCompactJws(token, ALGS, false);
}

describe('verifyJwsSignature', () => {
  it.each(ALGS)('verifies %s signatures made by jose, and refuses them under another key or with one bit flipped', async (alg) => {
    const jws = await signed(alg);
    expect(verifyJwsSignature(alg, keysFor(alg).publicKey, jws.signingInput, jws.signature)).toBe(true);
    const flipped = Buffer.from(jws.signature);
    flipped[flipped.length - 1]! ^= 1;
    expect(verifyJwsSignature(alg, keysFor(alg).publicKey, jws.signingInput, flipped)).toBe(false);
    expect(verifyJwsSignature(alg, keysFor(alg).publicKey, `${jws.signingInput}x`, jws.signature)).toBe(false);
    const other =
      alg === 'EdDSA'
        ? generateKeyPairSync('ed25519').publicKey
        : alg.startsWith('ES')
          ? generateKeyPairSync('ec', { namedCurve: keysFor(alg).publicKey.asymmetricKeyDetails!.namedCurve! }).publicKey
          : otherRsa.publicKey;
    expect(verifyJwsSignature(alg, other, jws.signingInput, jws.signature)).toBe(false);
  });

  it('binds the signature to its algorithm: an RS256 signature is not a PS256 one, nor RS384', async () => {
    const jws = await signed('RS256');
    expect(verifyJwsSignature('PS256', rsa.publicKey, jws.signingInput, jws.signature)).toBe(false);
    expect(verifyJwsSignature('RS384', rsa.publicKey, jws.signingInput, jws.signature)).toBe(false);
  });

  it('refuses PSS signatures whose salt is not as long as the hash (RFC 7518 §3.5)', async () => {
    const jws = await signed('PS256');
    for (const saltLength of [0, 20, 64]) {
      const signature = sign('sha256', Buffer.from(jws.signingInput), { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
      expect(verifyJwsSignature('PS256', rsa.publicKey, jws.signingInput, signature), `salt ${saltLength}`).toBe(false);
    }
    const right = sign('sha256', Buffer.from(jws.signingInput), { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    expect(verifyJwsSignature('PS256', rsa.publicKey, jws.signingInput, right)).toBe(true);
  });

  it('refuses an RSA signature one octet short, even when dropping its leading zero keeps it valid for OpenSSL (PSS)', async () => {
    for (const alg of ['PS256', 'RS256'] as const) {
      // About one signature in 256 starts with a zero octet.
      let jws = await signed(alg);
      for (let i = 1; jws.signature[0] !== 0 && i < 5000; i++) jws = await signed(alg, rsa.privateKey, i);
      expect(jws.signature[0], 'a signature with a leading zero octet').toBe(0);
      expect(verifyJwsSignature(alg, rsa.publicKey, jws.signingInput, jws.signature)).toBe(true);
      expect(verifyJwsSignature(alg, rsa.publicKey, jws.signingInput, jws.signature.subarray(1)), alg).toBe(false);
    }
  });

  it('reads ECDSA signatures as JWS writes them (r || s), never DER, and only at their exact length', async () => {
    const jws = await signed('ES256');
    const der = sign('sha256', Buffer.from(jws.signingInput), { key: ec.ES256.privateKey, dsaEncoding: 'der' });
    expect(verifyJwsSignature('ES256', ec.ES256.publicKey, jws.signingInput, der)).toBe(false);
    expect(verifyJwsSignature('ES256', ec.ES256.publicKey, jws.signingInput, Buffer.concat([jws.signature, Buffer.from([0])]))).toBe(false);
    expect(verifyJwsSignature('ES256', ec.ES256.publicKey, jws.signingInput, jws.signature.subarray(1))).toBe(false);
    expect(verifyJwsSignature('ES256', ec.ES256.publicKey, jws.signingInput, Buffer.alloc(64))).toBe(false);
  });

  it('verifies Ed448 EdDSA signatures too, and refuses an Ed25519 signature under an Ed448 key', async () => {
    const ed448 = generateKeyPairSync('ed448');
    // jose signs EdDSA with Ed25519 only: Node signs this one.
    const input = `${Buffer.from('{"alg":"EdDSA"}').toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}`;
    const jws = readCompactJws(`${input}.${sign(null, Buffer.from(input), ed448.privateKey).toString('base64url')}`, ALGS, false);
    expect(jws.signature).toHaveLength(114);
    expect(verifyJwsSignature('EdDSA', ed448.publicKey, jws.signingInput, jws.signature)).toBe(true);
    const short = await signed('EdDSA');
    expect(verifyJwsSignature('EdDSA', ed448.publicKey, short.signingInput, short.signature)).toBe(false);
  });

  it('answers false, never throws, for signatures Node cannot parse or keys of the wrong kind', async () => {
    const jws = await signed('RS256');
    for (const signature of [Buffer.alloc(0), Buffer.alloc(1), Buffer.alloc(512, 0xff), jws.signature.subarray(0, 255)]) {
      expect(verifyJwsSignature('RS256', rsa.publicKey, jws.signingInput, signature)).toBe(false);
    }
    expect(verifyJwsSignature('ES256', rsa.publicKey, jws.signingInput, Buffer.alloc(64, 1))).toBe(false);
    expect(verifyJwsSignature('RS256', ec.ES256.publicKey, jws.signingInput, jws.signature)).toBe(false);
    expect(verifyJwsSignature('HS256' as JwtAlgorithm, rsa.publicKey, jws.signingInput, jws.signature)).toBe(false);
  });
});
