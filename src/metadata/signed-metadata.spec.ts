import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metadataFromDocument, MetadataValidationError } from './metadata-document.js';
import type { OutboundPolicy } from './safe-fetch.js';
import { applySignedMetadata } from './signed-metadata.js';

let server: Server;
let issuer: string;
let policy: OutboundPolicy;
let signingKey: CryptoKey;
let strangerKey: CryptoKey;
let publicJwk: JWK;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  signingKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  strangerKey = (await generateKeyPair('RS256')).privateKey;
  server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [publicJwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  issuer = `http://127.0.0.1:${port}`;
  policy = { timeoutMs: 2000, maxBytes: 64 * 1024, allowInsecureHttp: false, allowedHosts: [], issuerHost: `127.0.0.1:${port}` };
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function unsigned(): Record<string, unknown> {
  return {
    issuer,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    token_endpoint: `${issuer}/plain/token`,
    scopes_supported: ['openid'],
  };
}

async function sign(claims: Record<string, unknown>, key: CryptoKey = signingKey, kid = 'k1'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).setIssuer(issuer).setIssuedAt().sign(key);
}

async function rejection(promise: Promise<unknown>): Promise<MetadataValidationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MetadataValidationError);
  return error as MetadataValidationError;
}

describe('applySignedMetadata', () => {
  it('verifies signed_metadata and prefers its values', async () => {
    const jwt = await sign({ issuer, token_endpoint: `${issuer}/signed/token`, scopes_supported: ['openid', 'orders:read'] });
    const result = await applySignedMetadata('oidc-discovery', { ...unsigned(), signed_metadata: jwt }, { issuer, policy, required: false });
    expect(result.signed).toBe(true);
    expect(result.document.token_endpoint).toBe(`${issuer}/signed/token`);
    expect(result.document).not.toHaveProperty('signed_metadata');
    expect(result.document).not.toHaveProperty('iat');
    const m = metadataFromDocument('oidc-discovery', result.document, { issuer, policy, signed: result.signed });
    expect(m).toMatchObject({ signed: true, tokenUrl: `${issuer}/signed/token`, supportedScopes: ['openid', 'orders:read'] });
  });

  it('refuses a tampered JWT', async () => {
    const jwt = await sign({ token_endpoint: `${issuer}/signed/token` });
    const [header, , signature] = jwt.split('.');
    const forged = Buffer.from(JSON.stringify({ iss: issuer, token_endpoint: 'https://attacker.example.net/token' })).toString('base64url');
    const e = await rejection(applySignedMetadata('rfc8414', { ...unsigned(), signed_metadata: `${header}.${forged}.${signature}` }, { issuer, policy, required: false }));
    expect(e.field).toBe('signed_metadata');
    expect(e.message).toMatch(/signature/);
    expect(e.message).not.toContain('attacker');
  });

  it('refuses a JWT from another issuer', async () => {
    const jwt = await new SignJWT({ token_endpoint: `${issuer}/t` }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer('https://evil.example.net').sign(signingKey);
    const e = await rejection(applySignedMetadata('rfc8414', { ...unsigned(), signed_metadata: jwt }, { issuer, policy, required: false }));
    expect(e.message).toMatch(/issuer/);
    expect(e.message).not.toContain('evil');
  });

  it('refuses a JWT signed by a key outside the issuer JWKS', async () => {
    const e = await rejection(applySignedMetadata('rfc8414', { ...unsigned(), signed_metadata: await sign({}, strangerKey, 'k1') }, { issuer, policy, required: false }));
    expect(e.message).toMatch(/signature/);
    const unknownKid = await rejection(applySignedMetadata('rfc8414', { ...unsigned(), signed_metadata: await sign({}, strangerKey, 'k9') }, { issuer, policy, required: false }));
    expect(unknownKid.message).toMatch(/not in the issuer's JWKS/);
  });

  it('refuses symmetric algorithms', async () => {
    const hs = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer(issuer).sign(new TextEncoder().encode('x'.repeat(32)));
    const e = await rejection(applySignedMetadata('rfc8414', { ...unsigned(), signed_metadata: hs }, { issuer, policy, required: false }));
    expect(e.message).toMatch(/algorithm/);
  });

  it('refuses a JWKS URL outside the policy as a document problem', async () => {
    const doc = { ...unsigned(), jwks_uri: 'https://keys.example.net/jwks', signed_metadata: await sign({}) };
    const e = await rejection(applySignedMetadata('oidc-discovery', doc, { issuer, policy, required: false }));
    expect(e.field).toBe('jwks_uri');
  });

  it('passes unsigned documents through unless signatures are required', async () => {
    const plain = await applySignedMetadata('s3db', { issuer, jwksUrl: `${issuer}/jwks` }, { issuer, policy, required: false });
    expect(plain.signed).toBe(false);
    const e = await rejection(applySignedMetadata('s3db', { issuer, jwksUrl: `${issuer}/jwks` }, { issuer, policy, required: true }));
    expect(e.field).toBe('signed_metadata');
    expect(e.message).toMatch(/requireSignedMetadata/);
  });

  it('reads the s3db jwksUrl to verify an s3db document', async () => {
    const doc = { issuer, jwksUrl: `${issuer}/.well-known/jwks.json`, tokenUrl: `${issuer}/plain`, signed_metadata: await sign({ tokenUrl: `${issuer}/signed` }) };
    const result = await applySignedMetadata('s3db', doc, { issuer, policy, required: true });
    expect(result.document.tokenUrl).toBe(`${issuer}/signed`);
  });
});
