import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import { DevelopmentIdentityProvider } from './index.js';

type Json = Record<string, any>;

const AUDIENCE = 'https://api.example.com';

async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: Json }> {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Json) : {} };
}

function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;
}

async function jwks(idp: DevelopmentIdentityProvider): Promise<JWK[]> {
  return ((await getJson(`${idp.issuer}/.well-known/jwks.json`)).body as { keys: JWK[] }).keys;
}

async function kids(idp: DevelopmentIdentityProvider): Promise<string[]> {
  return (await jwks(idp)).map((key) => key.kid!);
}

/** Verifies against the JWKS a resource server would fetch now; `issuer` is the one the token was issued by. */
async function verifyAt(idp: DevelopmentIdentityProvider, token: string, issuer: string) {
  return (await jwtVerify(token, createLocalJWKSet({ keys: await jwks(idp) }), { issuer, audience: AUDIENCE })).payload;
}

function clientCredentials(idp: DevelopmentIdentityProvider, clientId: string, secret: string) {
  return getJson(`${idp.issuer}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId, secret) },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'reports:read' }),
  });
}

/** The error `start()` fails with (a start that succeeds is stopped and fails the test). */
async function startError(stateFile: string): Promise<Error> {
  let idp: DevelopmentIdentityProvider;
  try {
    idp = await DevelopmentIdentityProvider.start({ stateFile });
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return error as Error;
  }
  await idp.stop();
  throw new Error(`start() accepted ${stateFile}`);
}

function stateFileOf(dir: string): string {
  return join(dir, 'nested', 'state', 'dev-provider.json');
}

describe('DevelopmentIdentityProvider stateFile', () => {
  const running: DevelopmentIdentityProvider[] = [];
  let dir: string;

  const start = async (stateFile: string, extra: Parameters<typeof DevelopmentIdentityProvider.start>[0] = {}) => {
    const idp = await DevelopmentIdentityProvider.start({ port: 0, audience: AUDIENCE, stateFile, ...extra });
    running.push(idp);
    return idp;
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'dev-idp-state-'));
  });

  afterEach(async () => {
    for (const idp of running.splice(0)) await idp.stop();
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('a new instance gets the same keys, the RFC 7591 client with its secret and RAT, and the built-in credentials', async () => {
    const stateFile = stateFileOf(join(dir, 'restart'));
    const preRegistered = { clientId: 'orders-worker', name: 'Orders Worker', scopes: ['orders:read'] };
    const first = await start(stateFile, { clients: [preRegistered] });
    const firstIssuer = first.issuer;

    const created = await getJson(`${first.issuer}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_name: 'Sample API',
        grant_types: ['client_credentials'],
        response_types: [],
        scope: 'reports:read',
        token_endpoint_auth_method: 'client_secret_basic',
      }),
    });
    expect(created.status).toBe(201);
    const { client_id: clientId, client_secret: secret, registration_access_token: rat } = created.body;

    const issued = await clientCredentials(first, clientId, secret);
    expect(issued.status).toBe(200);
    const oldToken = issued.body['access_token'] as string;
    const minted = await first.mintToken({ alg: 'ES256' });
    const firstKids = await kids(first);
    const serviceAccount = first.defaultServiceAccount;
    const ordersSecret = first.clientMetadata('orders-worker')!['client_secret'];
    await first.stop();

    const second = await start(stateFile, { clients: [preRegistered] });
    expect(await kids(second)).toEqual(firstKids);
    expect(second.signingKid).toBe(decodeProtectedHeader(oldToken).kid);
    // Tokens signed before the restart verify against the new JWKS (iss names the old port).
    expect(await verifyAt(second, oldToken, firstIssuer)).toMatchObject({ sub: `sa:${clientId}`, scope: 'reports:read' });
    expect(await verifyAt(second, minted, firstIssuer)).toMatchObject({ sub: 'sa:dev-service-account' });

    // The self-registered client still authenticates with its old secret, and can still manage itself.
    const again = await clientCredentials(second, clientId, secret);
    expect(again.status).toBe(200);
    expect(await verifyAt(second, again.body['access_token'], second.issuer)).toMatchObject({ sub: `sa:${clientId}` });
    const read = await getJson(`${second.issuer}/oauth/register/${clientId}`, { headers: { authorization: `Bearer ${rat}` } });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ client_id: clientId, client_name: 'Sample API', client_secret: secret });

    // Pre-registered clients without an explicit secret, and the built-in service account, keep theirs.
    expect(second.defaultServiceAccount).toEqual(serviceAccount);
    expect(second.clientMetadata('orders-worker')!['client_secret']).toBe(ordersSecret);
    await expect(second.serviceAccountToken()).resolves.toEqual(expect.any(String));
    await expect(second.userToken()).resolves.toEqual(expect.any(String));
    expect(second.serverErrors).toEqual([]);
  });

  it('writes the file with mode 0600 in a 0700 directory, atomically, without private data in the JWKS', async () => {
    const stateFile = stateFileOf(join(dir, 'modes'));
    const idp = await start(stateFile);
    await idp.registerClient({ clientId: 'jobs-runner', scopes: ['jobs:dispatch'] });
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'modes', 'nested', 'state')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'modes', 'nested')).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(dir, 'modes', 'nested', 'state'))).toEqual(['dev-provider.json']);

    const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as Json;
    expect(saved['keys']['signingKid']).toBe(idp.signingKid);
    expect(saved['keys']['all'].map((key: Json) => key['alg'])).toEqual(['RS256', 'ES256', 'EdDSA']);
    expect(saved['keys']['all'].map((key: Json) => key['privateJwk']['d'])).toEqual([expect.any(String), expect.any(String), expect.any(String)]);
    expect(Object.keys(saved['models']['Client']).sort()).toEqual(['dev-service-account', 'jobs-runner', 'web-app']);
    for (const key of await jwks(idp)) expect(key).not.toHaveProperty('d');
  });

  it('persists key rotation and retirement', async () => {
    const stateFile = stateFileOf(join(dir, 'rotation'));
    const first = await start(stateFile);
    const [oldKid, esKid, edKid] = await kids(first);
    const oldToken = await first.serviceAccountToken();
    const newKid = await first.rotateKeys();
    const rotatedToken = await first.serviceAccountToken();
    await first.stop();

    const second = await start(stateFile);
    expect(second.signingKid).toBe(newKid);
    expect((await kids(second)).sort()).toEqual([oldKid, esKid, edKid, newKid].sort());
    expect(decodeProtectedHeader(await second.serviceAccountToken()).kid).toBe(newKid);
    await expect(verifyAt(second, oldToken, first.issuer)).resolves.toBeDefined();
    second.retireKey(oldKid!);
    await second.stop();

    const third = await start(stateFile);
    expect(third.signingKid).toBe(newKid);
    expect((await kids(third)).sort()).toEqual([esKid, edKid, newKid].sort());
    // The EdDSA key survives restarts too: a token it signs verifies against the restored JWKS.
    await expect(verifyAt(third, await third.mintToken({ alg: 'EdDSA' }), third.issuer)).resolves.toBeDefined();
    await expect(verifyAt(third, oldToken, first.issuer)).rejects.toThrow();
    await expect(verifyAt(third, rotatedToken, first.issuer)).resolves.toBeDefined();
    // Retired keys stay available for signing test tokens.
    expect(third.signingKeyMaterial(oldKid).kid).toBe(oldKid);
  });

  it('persists RFC 7592 updates (rotated secret and RAT) and deletion', async () => {
    const stateFile = stateFileOf(join(dir, 'management'));
    // The opt-in secret rotation, so that a changed secret has to survive the restart.
    const rotating = { rotateClientSecretOnUpdate: true };
    const first = await start(stateFile, rotating);
    const created = await getJson(`${first.issuer}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Reports', grant_types: ['client_credentials'], response_types: [], scope: 'reports:read' }),
    });
    const { client_id: clientId, client_secret: oldSecret, registration_access_token: oldRat } = created.body;
    const updated = await getJson(`${first.issuer}/oauth/register/${clientId}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${oldRat}` },
      body: JSON.stringify({ client_id: clientId, client_name: 'Reports v2', grant_types: ['client_credentials'], response_types: [], scope: 'reports:read' }),
    });
    expect(updated.status).toBe(200);
    const { client_secret: newSecret, registration_access_token: newRat } = updated.body;
    await first.stop();

    const second = await start(stateFile);
    expect((await clientCredentials(second, clientId, newSecret)).status).toBe(200);
    expect((await clientCredentials(second, clientId, oldSecret)).status).toBe(401);
    expect(second.clientMetadata(clientId)).toMatchObject({ client_name: 'Reports v2' });
    const staleRat = await fetch(`${second.issuer}/oauth/register/${clientId}`, { headers: { authorization: `Bearer ${oldRat}` } });
    expect(staleRat.status).toBe(401);
    const deleted = await fetch(`${second.issuer}/oauth/register/${clientId}`, { method: 'DELETE', headers: { authorization: `Bearer ${newRat}` } });
    expect(deleted.status).toBe(204);
    await second.stop();

    const third = await start(stateFile);
    expect(third.clientMetadata(clientId)).toBeUndefined();
    expect((await clientCredentials(third, clientId, newSecret)).status).toBe(401);
  });

  it('an explicit clientSecret in the options wins over the stored one', async () => {
    const stateFile = stateFileOf(join(dir, 'explicit'));
    await (await start(stateFile, { clients: [{ clientId: 'worker', clientSecret: 'one', scopes: ['orders:read'] }] })).stop();
    const second = await start(stateFile, { clients: [{ clientId: 'worker', clientSecret: 'two', scopes: ['orders:read', 'jobs:dispatch'] }] });
    expect(second.clientMetadata('worker')).toMatchObject({ client_secret: 'two', scope: 'orders:read jobs:dispatch' });
  });

  it('refuses a corrupt state file with an error naming it and saying to delete it', async () => {
    const stateFile = join(dir, 'corrupt.json');
    writeFileSync(stateFile, '{"format": "nestjs-identity/development-identity-provider-state", "vers');
    const error = await startError(stateFile);
    expect(error.message).toContain(stateFile);
    expect(error.message).toMatch(/corrupt/);
    expect(error.message).toMatch(/Delete it/);

    // Valid JSON, wrong content.
    const valid = stateFileOf(join(dir, 'tampered'));
    await (await start(valid)).stop();
    const saved = JSON.parse(readFileSync(valid, 'utf8')) as Json;
    const damaged = structuredClone(saved);
    const n = damaged['keys']['all'][0]['privateJwk']['n'] as string;
    damaged['keys']['all'][0]['privateJwk']['n'] = `${n.slice(0, -8)}AAAAAAAA`;
    writeFileSync(valid, JSON.stringify(damaged));
    expect((await startError(valid)).message).toMatch(/state file .*dev-provider\.json is corrupt.*Delete it/s);
    writeFileSync(valid, JSON.stringify({ ...saved, keys: { ...saved['keys'], signingKid: 'nope' } }));
    expect((await startError(valid)).message).toMatch(/is corrupt \(the signing kid is not published\)/);
    writeFileSync(valid, JSON.stringify({ hello: 'world' }));
    expect((await startError(valid)).message).toMatch(/is corrupt/);
    // Nothing was overwritten by the failed starts.
    expect(readFileSync(valid, 'utf8')).toBe(JSON.stringify({ hello: 'world' }));
  });
});
