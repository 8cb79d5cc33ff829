import { createHash, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type GenerateKeyPairResult, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import type { DevelopmentIdentityProvider } from '../../src/testing/index.js';

/**
 * The DPoP client side for e2e tests: oauth4webapi against the development provider (a real
 * client_credentials grant with a DPoP proof: the provider binds the token to the key), and a
 * proof builder (jose) for the negative cases of RFC 9449 §4.3 that no well-behaved client makes.
 */
export interface DpopClient {
  keyPair: GenerateKeyPairResult;
  publicJwk: JWK;
  thumbprint: string;
  handle: oauth.DPoPHandle;
  as: oauth.AuthorizationServer;
  client: oauth.Client;
  clientAuth: oauth.ClientAuth;
}

const INSECURE = { [oauth.allowInsecureRequests]: true } as const;

/** Discovers the provider and makes a DPoP key (ES256 unless said otherwise). */
export async function dpopClient(idp: DevelopmentIdentityProvider, alg: 'ES256' | 'PS256' | 'RS256' | 'Ed25519' = 'ES256'): Promise<DpopClient> {
  const issuer = new URL(idp.issuer);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...INSECURE, algorithm: 'oidc' }));
  const { clientId, clientSecret } = idp.defaultServiceAccount;
  const client: oauth.Client = { client_id: clientId };
  const keyPair = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(keyPair.publicKey);
  return {
    keyPair,
    publicJwk,
    thumbprint: await calculateJwkThumbprint(publicJwk),
    handle: oauth.DPoP(client, keyPair as Parameters<typeof oauth.DPoP>[1]),
    as,
    client,
    clientAuth: oauth.ClientSecretBasic(clientSecret!),
  };
}

/** A DPoP-bound access token from the provider's token endpoint (client_credentials, RFC 9449 §5). */
export async function dpopToken(c: DpopClient, options: { scopes?: string[]; resource?: string } = {}): Promise<string> {
  const params: Record<string, string> = {};
  if (options.scopes) params.scope = options.scopes.join(' ');
  if (options.resource) params.resource = options.resource;
  const request = () => oauth.clientCredentialsGrantRequest(c.as, c.client, c.clientAuth, params, { ...INSECURE, DPoP: c.handle });
  let response = await request();
  let result: oauth.TokenEndpointResponse;
  try {
    result = await oauth.processClientCredentialsResponse(c.as, c.client, response);
  } catch (error) {
    if (!oauth.isDPoPNonceError(error)) throw error;
    response = await request();
    result = await oauth.processClientCredentialsResponse(c.as, c.client, response);
  }
  if (result.token_type !== 'dpop') throw new Error(`expected a DPoP-bound token, got token_type ${result.token_type}`);
  return result.access_token;
}

/** A resource request the way oauth4webapi makes it (Authorization: DPoP, a fresh proof), retried once on use_dpop_nonce. */
export async function dpopFetch(c: DpopClient, token: string, method: string, url: string, retryOnNonce = true): Promise<Response> {
  try {
    return await oauth.protectedResourceRequest(token, method, new URL(url), new Headers(), null, { ...INSECURE, DPoP: c.handle });
  } catch (error) {
    if (retryOnNonce && oauth.isDPoPNonceError(error)) return oauth.protectedResourceRequest(token, method, new URL(url), new Headers(), null, { ...INSECURE, DPoP: c.handle });
    throw error;
  }
}

export const ath = (token: string) => createHash('sha256').update(token).digest('base64url');

export interface ProofOptions {
  htm?: string;
  htu?: string;
  /** Access token whose ath goes in (omit with `ath: null`). */
  token?: string;
  ath?: string | null;
  iat?: number;
  jti?: string;
  nonce?: string;
  typ?: string;
  alg?: string;
  /** Header jwk (default: the client's public key). */
  jwk?: JWK | null;
  /** Signs with this key instead of the client's. */
  signWith?: GenerateKeyPairResult['privateKey'] | Uint8Array;
  /** Extra claims merged last (undefined removes one). */
  claims?: Record<string, unknown>;
}

/** A hand-made DPoP proof: by default a valid one for (htm, htu, token). */
export async function proof(c: DpopClient, options: ProofOptions): Promise<string> {
  const payload: Record<string, unknown> = {
    jti: options.jti ?? randomUUID(),
    htm: options.htm ?? 'GET',
    htu: options.htu,
    iat: options.iat ?? Math.floor(Date.now() / 1000),
  };
  if (options.ath !== null) payload.ath = options.ath ?? (options.token ? ath(options.token) : undefined);
  if (options.nonce !== undefined) payload.nonce = options.nonce;
  for (const [name, value] of Object.entries(options.claims ?? {})) {
    if (value === undefined) delete payload[name];
    else payload[name] = value;
  }
  const header: Record<string, unknown> = { typ: options.typ ?? 'dpop+jwt', alg: options.alg ?? 'ES256' };
  if (options.jwk !== null) header.jwk = options.jwk ?? c.publicJwk;
  return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(options.signWith ?? c.keyPair.privateKey);
}
