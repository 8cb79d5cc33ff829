import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContextsModule } from '../sample/contexts/contexts.module.js';
import { wireContexts } from '../sample/contexts/contexts.wiring.js';
import { IdentityModule } from '../src/index.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { CONTEXTS_AUDIENCE as AUDIENCE, startListening, type ListeningApp } from './support/contexts-app.js';
import { freePort } from './support/free-port.js';

const run = promisify(execFile);

/** The sample's resolver, gateway and message handler, tried the way the sample's printout says. */
describe('sample/contexts', () => {
  let idp: DevelopmentIdentityProvider;
  let s: ListeningApp;
  let tcpPort: number;

  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
    tcpPort = await freePort();
    s = await startListening(
      'express',
      { imports: [IdentityModule.forRootAsync({ useFactory: () => ({ url: idp.issuer, audience: AUDIENCE, metrics: false, global: true }) }), ContextsModule] },
      (app) => wireContexts(app, tcpPort),
    );
  });

  afterAll(async () => {
    await s?.close();
    await idp?.stop();
  });

  const script = async (name: string, ...args: string[]) => (await run(process.execPath, [`sample/contexts/${name}`, ...args], { timeout: 15_000 })).stdout;

  it('answers a GraphQL query with a token and refuses it without', async () => {
    const token = await idp.serviceAccountToken({ scopes: ['orders:read'] });
    const query = (authorization?: string) =>
      fetch(`${s.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, body: JSON.stringify({ query: '{ sampleOrders { id item } }' }) }).then((r) => r.json());
    expect(await query(`Bearer ${token}`)).toEqual({ data: { sampleOrders: [{ id: '1', item: 'book' }] } });
    expect(await query()).toMatchObject({ errors: [{ extensions: { code: 'UNAUTHENTICATED' } }] });
  });

  it('try-socket.mjs: admitted with a token, refused without', async () => {
    const token = await idp.serviceAccountToken({ scopes: ['orders:read'] });
    expect(await script('try-socket.mjs', token, 'whoami', s.url)).toContain('whoami "service-account:dev-service-account');
    expect(await script('try-socket.mjs', '', 'whoami', s.url)).toContain('refused: A Bearer access token is required');
  });

  it('try-message.mjs: answered with a token, refused without', async () => {
    const token = await idp.serviceAccountToken({ scopes: ['orders:read'] });
    expect(await script('try-message.mjs', token, String(tcpPort))).toContain('answer {"count":1');
    expect(await script('try-message.mjs', '', String(tcpPort))).toContain('refused {"statusCode":401');
  });

  it('try-subscription.mjs: connected, then closed with 4401 when the token expires', async () => {
    const shortLived = await idp.mintToken({ expiresIn: 2, claims: { scope: 'orders:read' } });
    const output = await script('try-subscription.mjs', shortLived, s.url);
    expect(output).toContain('connected');
    expect(output).toContain('closed 4401 The access token expired');
  });
});
