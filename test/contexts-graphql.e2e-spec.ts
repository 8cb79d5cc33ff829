import 'reflect-metadata';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { identityMercuriusSubscription, identitySubscriptions } from '../src/access/contexts/identity-subscriptions.js';
import { IdentityModule, TokenAuthenticator } from '../src/index.js';
import { RevocationService } from '../src/revocation/revocation.service.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { CONTEXTS_AUDIENCE as AUDIENCE, eventually, startListening, type ListeningApp } from './support/contexts-app.js';
import { orderEvents, OrdersResolver } from './support/contexts-graphql-fixtures.js';
import { PLATFORMS } from './support/platforms.js';

/**
 * GraphQL with the one IdentityGuard: Apollo (Express and Fastify) over HTTP and graphql-ws
 * subscriptions, Mercurius on Fastify. Real clients, tokens from the development provider.
 */

let idp: DevelopmentIdentityProvider;

beforeAll(async () => {
  idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
});
afterAll(async () => {
  await idp?.stop();
});

const identityModule = () => IdentityModule.forRootAsync({ useFactory: () => ({ url: idp.issuer, audience: AUDIENCE, metrics: false }) });

interface GraphqlAnswer {
  status: number;
  data?: Record<string, unknown> | null;
  errors?: Array<{ message: string; path?: string[]; extensions?: Record<string, unknown> }>;
}

async function graphql(base: string, query: string, authorization?: string): Promise<GraphqlAnswer> {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) },
    body: JSON.stringify({ query }),
  });
  return { status: response.status, ...((await response.json()) as object) };
}

/** A service token with exactly these scopes and its own client id (so a revocation hits only it). */
function serviceToken(scopes: string[], expiresIn?: number, clientId = `svc-${randomUUID().slice(0, 8)}`): Promise<string> {
  return idp.mintToken({
    expiresIn,
    claims: {
      sub: `sa:${clientId}`,
      client_id: clientId,
      scope: scopes.join(' '),
      jti: randomUUID(),
      service_account: { clientId, client_id: clientId, name: clientId, scopes, audiences: [AUDIENCE] },
    },
  });
}

function expectRefusal(answer: GraphqlAnswer, code: string, error: string, description?: string): void {
  // Never a 500: the HTTP answer is 200, the refusal is a GraphQL error with the RFC 6750 reason.
  expect(answer.status, JSON.stringify(answer)).toBe(200);
  const [first] = answer.errors ?? [];
  expect(first?.extensions).toMatchObject({ code, error, ...(description ? { error_description: description } : {}) });
}

/** The queries and mutations every driver answers the same way. */
function httpCases(get: () => ListeningApp) {
  it('answers queries with the caller from @CurrentIdentity(), and public fields without a token', async () => {
    const token = await idp.serviceAccountToken({ scopes: ['orders:read'] });
    const me = await graphql(get().url, '{ me { kind subject scopes } }', `Bearer ${token}`);
    expect(me.errors).toBeUndefined();
    expect(me.data?.me).toMatchObject({ kind: 'service', subject: 'sa:dev-service-account', scopes: ['orders:read'] });
    expect((await graphql(get().url, '{ hello }')).data).toEqual({ hello: 'hello' });
  });

  it('refuses without a token (UNAUTHENTICATED), an expired token and a malformed header', async () => {
    expectRefusal(await graphql(get().url, '{ orders { id } }'), 'UNAUTHENTICATED', 'unauthorized', 'A Bearer access token is required');
    const expired = await idp.mintToken({ expiresIn: -60 });
    expectRefusal(await graphql(get().url, '{ orders { id } }', `Bearer ${expired}`), 'UNAUTHENTICATED', 'invalid_token', 'The access token expired');
    expectRefusal(await graphql(get().url, '{ orders { id } }', 'Bearer'), 'UNAUTHENTICATED', 'invalid_request');
    expectRefusal(await graphql(get().url, '{ orders { id } }', 'Bearer not a token'), 'UNAUTHENTICATED', 'invalid_request');
  });

  it('answers FORBIDDEN insufficient_scope for a wrong scope or role, and for assertions in resolvers', async () => {
    const token = await idp.serviceAccountToken({ scopes: ['reports:read'] });
    const orders = await graphql(get().url, '{ orders { id } }', `Bearer ${token}`);
    expectRefusal(orders, 'FORBIDDEN', 'insufficient_scope', 'Missing required scope: orders:read');
    expect(orders.errors?.[0]?.extensions?.scope).toBe('orders:read');
    expectRefusal(await graphql(get().url, '{ admin }', `Bearer ${token}`), 'FORBIDDEN', 'insufficient_scope');
    expectRefusal(await graphql(get().url, '{ dispatch }', `Bearer ${token}`), 'FORBIDDEN', 'insufficient_scope', 'Missing required scope: jobs:dispatch');
    const user = await idp.userToken({ scopes: ['openid', 'orders:read'] });
    expect((await graphql(get().url, '{ admin }', `Bearer ${user}`)).data).toEqual({ admin: 'alice@example.com' });
  });

  it('guards fields, verifying the token once per request however many fields it guards', async () => {
    const authenticator = get().app.get(TokenAuthenticator);
    const both = await serviceToken(['orders:read', 'reports:read']);
    const identify = vi.spyOn(authenticator, 'identify');
    try {
      const answer = await graphql(get().url, '{ orders { id audit } me { kind } }', `Bearer ${both}`);
      expect(answer.errors).toBeUndefined();
      expect(answer.data?.orders).toEqual([
        { id: '1', audit: 'audited 1' },
        { id: '2', audit: 'audited 2' },
        { id: '3', audit: 'audited 3' },
      ]);
      expect(identify).toHaveBeenCalledTimes(1);
      identify.mockClear();
      const ordersOnly = await serviceToken(['orders:read']);
      const partial = await graphql(get().url, '{ orders { id audit } }', `Bearer ${ordersOnly}`);
      expect(partial.data?.orders).toEqual([
        { id: '1', audit: null },
        { id: '2', audit: null },
        { id: '3', audit: null },
      ]);
      expect(partial.errors).toHaveLength(3);
      for (const error of partial.errors!) expect(error.extensions).toMatchObject({ code: 'FORBIDDEN', error: 'insufficient_scope', scope: 'reports:read' });
      expect(identify).toHaveBeenCalledTimes(1);
    } finally {
      identify.mockRestore();
    }
  });

  it('guards mutations', async () => {
    const writer = await idp.serviceAccountToken({ scopes: ['orders:write'] });
    const created = await graphql(get().url, 'mutation { createOrder(item: "pen") { item } }', `Bearer ${writer}`);
    expect(created.data).toEqual({ createOrder: { item: 'pen' } });
    const reader = await idp.serviceAccountToken({ scopes: ['orders:read'] });
    expectRefusal(await graphql(get().url, 'mutation { createOrder(item: "pen") { item } }', `Bearer ${reader}`), 'FORBIDDEN', 'insufficient_scope');
  });

  it('refuses a Bearer token on a @RequireDpop() field, also when another field verified it first', async () => {
    const token = await serviceToken(['orders:read']);
    expectRefusal(await graphql(get().url, '{ bound }', `Bearer ${token}`), 'UNAUTHENTICATED', 'invalid_token');
    const both = await graphql(get().url, '{ me { kind } bound }', `Bearer ${token}`);
    expect(both.data?.bound ?? null).toBeNull();
    expect(both.errors?.map((error) => error.extensions?.error)).toEqual(['invalid_token']);
  });

  it('refuses a revoked token', async () => {
    const clientId = `revoked-${randomUUID().slice(0, 8)}`;
    const token = await serviceToken(['orders:read'], undefined, clientId);
    expect((await graphql(get().url, '{ orders { id } }', `Bearer ${token}`)).errors).toBeUndefined();
    await get().app.get(RevocationService).revoke({ clientId }, 'test');
    expectRefusal(await graphql(get().url, '{ orders { id } }', `Bearer ${token}`), 'UNAUTHENTICATED', 'invalid_token', 'The access token was revoked');
  });
}

describe.each(PLATFORMS)('GraphQL with Apollo on %s', (platform) => {
  let s: ListeningApp;
  let wsUrl: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    s = await startListening(platform, {
      imports: [
        identityModule(),
        GraphQLModule.forRootAsync<ApolloDriverConfig>({
          driver: ApolloDriver,
          inject: [TokenAuthenticator, RevocationService],
          useFactory: (authenticator: TokenAuthenticator, revocations: RevocationService) => ({
            autoSchemaFile: true,
            fieldResolverEnhancers: ['guards', 'filters'],
            subscriptions: identitySubscriptions(authenticator, { revocations, requireScopes: ['orders:read'] }),
          }),
        }),
      ],
      providers: [OrdersResolver],
    });
    wsUrl = `${s.url.replace('http', 'ws')}/graphql`;
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.dispose()));
    await s?.close();
  });

  httpCases(() => s);

  /** A graphql-ws client (the `graphql-ws` package over `ws`), no retries, recording how it closed. */
  function subscriptionClient(connectionParams: Record<string, unknown>) {
    const closes: Array<{ code: number; reason: string }> = [];
    let acknowledged = false;
    const client = createClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      connectionParams,
      retryAttempts: 0,
      lazy: true,
      on: {
        connected: () => (acknowledged = true),
        closed: (event) => {
          const { code, reason } = event as { code: number; reason: string };
          closes.push({ code, reason: String(reason) });
        },
      },
    });
    clients.push(client);
    const subscribe = (query: string) => {
      const events: unknown[] = [];
      const errors: unknown[] = [];
      let completed = false;
      client.subscribe({ query }, { next: (value) => void events.push(value), error: (error) => void errors.push(error), complete: () => (completed = true) });
      return { events, errors, done: () => completed || errors.length > 0 };
    };
    return { client, closes, subscribe, acknowledged: () => acknowledged };
  }

  /** connection_init with any payload over a bare socket: how does the server answer? */
  function rawConnectionInit(payload: unknown): Promise<'ack' | { code: number; reason: string }> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(wsUrl, 'graphql-transport-ws');
      socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload })));
      socket.on('message', (data) => {
        if ((JSON.parse(String(data)) as { type: string }).type === 'connection_ack') {
          resolve('ack');
          socket.close();
        }
      });
      socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      socket.on('error', reject);
    });
  }

  it('authenticates a subscription once at connection_init and serves it with the identity', async () => {
    const reader = await serviceToken(['orders:read']);
    const { subscribe, acknowledged } = subscriptionClient({ authorization: `Bearer ${reader}` });
    const stream = subscribe('subscription { orderCreated { item viewer } }');
    await eventually(() => (acknowledged() && orderEvents.subscribers > 0 ? true : undefined), 8_000, 'the subscription');
    const writer = await idp.serviceAccountToken({ scopes: ['orders:write'] });
    await graphql(s.url, 'mutation { createOrder(item: "chair") { id } }', `Bearer ${writer}`);
    await eventually(() => (stream.events.length > 0 ? true : undefined), 8_000, 'an event');
    expect(stream.events[0]).toMatchObject({ data: { orderCreated: { item: 'chair', viewer: expect.stringMatching(/^sa:svc-/) } } });
    expect(stream.errors).toEqual([]);
  });

  it('refuses an operation the connection may not run (FORBIDDEN) and keeps the connection', async () => {
    const reader = await serviceToken(['orders:read']);
    const { subscribe, closes } = subscriptionClient({ authorization: `Bearer ${reader}` });
    const orders = subscribe('subscription { orderCreated { id } }');
    const audit = subscribe('subscription { auditTrail { id } }');
    await eventually(() => (audit.done() ? true : undefined), 8_000, 'the refusal');
    // graphql-js answers a failed subscribe with one result carrying the error, then completes.
    expect(audit.events).toEqual([
      expect.objectContaining({ errors: [expect.objectContaining({ extensions: expect.objectContaining({ code: 'FORBIDDEN', error: 'insufficient_scope', scope: 'identity:admin' }) })] }),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(orders.errors).toEqual([]);
    expect(orders.done()).toBe(false);
    expect(closes).toEqual([]);
  });

  it('closes with 4401 without a token, with an expired token, and 4403 without the connection scope', async () => {
    expect(await rawConnectionInit({})).toEqual({ code: 4401, reason: 'A Bearer access token is required' });
    expect(await rawConnectionInit(undefined)).toEqual({ code: 4401, reason: 'A Bearer access token is required' });
    const expired = await idp.mintToken({ expiresIn: -60 });
    expect(await rawConnectionInit({ authorization: `Bearer ${expired}` })).toEqual({ code: 4401, reason: 'The access token expired' });
    const other = await serviceToken(['reports:read']);
    expect(await rawConnectionInit({ authorization: `Bearer ${other}` })).toEqual({ code: 4403, reason: 'Missing required scope: orders:read' });
    expect(await rawConnectionInit({ authorization: `Bearer ${await serviceToken(['orders:read'])}` })).toBe('ack');
  });

  it('refuses hostile connectionParams: not a string, huge, several tokens, malformed', async () => {
    const token = await serviceToken(['orders:read']);
    expect(await rawConnectionInit({ authorization: 42 })).toMatchObject({ code: 4400 });
    expect(await rawConnectionInit({ authorization: { token } })).toMatchObject({ code: 4400 });
    expect(await rawConnectionInit({ authorization: [`Bearer ${token}`, `Bearer ${token}`] })).toMatchObject({ code: 4400, reason: expect.stringContaining('exactly one') });
    expect(await rawConnectionInit({ authorization: `Bearer ${token}`, Authorization: `Bearer ${token}` })).toMatchObject({ code: 4400, reason: expect.stringContaining('exactly one') });
    expect(await rawConnectionInit({ authorization: `Bearer ${'a'.repeat(200_000)}` })).toEqual({ code: 4401, reason: 'The access token is too large' });
    expect(await rawConnectionInit({ authorization: token })).toEqual({ code: 4401, reason: 'A Bearer access token is required' });
    expect(await rawConnectionInit({ authorization: 'Bearer' })).toMatchObject({ code: 4400 });
    expect(await rawConnectionInit({ authorization: `Bearer ${token}x.y` })).toMatchObject({ code: 4401 });
    // Not an object at all: graphql-ws itself refuses the message.
    expect(await rawConnectionInit(`Bearer ${token}`)).toMatchObject({ code: 4400 });
    // And the server still serves.
    expect(await rawConnectionInit({ authorization: `Bearer ${token}` })).toBe('ack');
  });

  it('closes an open subscription with 4401 when its token expires', async () => {
    const shortLived = await serviceToken(['orders:read'], 2);
    const { subscribe, closes } = subscriptionClient({ authorization: `Bearer ${shortLived}` });
    const stream = subscribe('subscription { orderCreated { id } }');
    const closed = await eventually(() => closes[0], 8_000, 'the close');
    expect(closed).toEqual({ code: 4401, reason: 'The access token expired' });
    expect(stream.events).toEqual([]);
  });

  it('closes an open subscription with 4401 as soon as its token is revoked', async () => {
    const clientId = `revoked-${randomUUID().slice(0, 8)}`;
    const token = await serviceToken(['orders:read'], undefined, clientId);
    const { subscribe, closes, acknowledged } = subscriptionClient({ authorization: `Bearer ${token}` });
    subscribe('subscription { orderCreated { id } }');
    await eventually(() => (acknowledged() ? true : undefined), 8_000, 'the connection');
    await s.app.get(RevocationService).revoke({ clientId }, 'test');
    expect(await eventually(() => closes[0], 2_000, 'the close')).toEqual({ code: 4401, reason: 'The access token was revoked' });
    // A new connection with it is refused too.
    expect(await rawConnectionInit({ authorization: `Bearer ${token}` })).toEqual({ code: 4401, reason: 'The access token was revoked' });
  });
});

describe('GraphQL with Mercurius on fastify', () => {
  let s: ListeningApp;

  beforeAll(async () => {
    s = await startListening('fastify', {
      imports: [
        identityModule(),
        GraphQLModule.forRootAsync<MercuriusDriverConfig>({
          driver: MercuriusDriver,
          inject: [TokenAuthenticator],
          useFactory: (authenticator: TokenAuthenticator) => ({
            autoSchemaFile: true,
            fieldResolverEnhancers: ['guards', 'filters'],
            subscription: { ...identityMercuriusSubscription(authenticator) },
          }),
        }),
      ],
      providers: [OrdersResolver],
    });
  });

  afterAll(async () => {
    await s?.close();
  });

  httpCases(() => s);

  /** A graphql-transport-ws session by hand: connection_init, then one subscription. */
  function session(payload: unknown) {
    const messages: Array<{ type: string; id?: string; payload?: unknown }> = [];
    let closed: number | undefined;
    const socket = new WebSocket(`${s.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload })));
    socket.on('message', (data) => messages.push(JSON.parse(String(data)) as { type: string }));
    socket.on('close', (code) => (closed = code));
    return {
      messages,
      closed: () => closed,
      subscribe: (id: string, query: string) => socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query } })),
      close: () => socket.close(),
    };
  }

  it('authenticates a subscription at connection_init and serves it with the identity', async () => {
    const client = session({ authorization: `Bearer ${await serviceToken(['orders:read'])}` });
    try {
      await eventually(() => client.messages.find((m) => m.type === 'connection_ack'), 8_000, 'the ack');
      const before = orderEvents.subscribers;
      client.subscribe('1', 'subscription { orderCreated { item viewer } }');
      client.subscribe('2', 'subscription { auditTrail { id } }');
      await eventually(() => (orderEvents.subscribers > before ? true : undefined), 8_000, 'the subscription');
      const writer = await idp.serviceAccountToken({ scopes: ['orders:write'] });
      await graphql(s.url, 'mutation { createOrder(item: "stool") { id } }', `Bearer ${writer}`);
      const next = await eventually(() => client.messages.find((m) => m.type === 'next' && m.id === '1'), 8_000, 'an event');
      expect(next.payload).toMatchObject({ data: { orderCreated: { item: 'stool', viewer: expect.stringMatching(/^sa:svc-/) } } });
      const refused = client.messages.filter((m) => m.id === '2');
      expect(JSON.stringify(refused)).toContain('FORBIDDEN');
    } finally {
      client.close();
    }
  });

  it('refuses connection_init without a token, with an expired token, or with hostile parameters', async () => {
    for (const payload of [{}, { authorization: `Bearer ${await idp.mintToken({ expiresIn: -60 })}` }, { authorization: 42 }, { authorization: ['a', 'b'] }]) {
      const client = session(payload);
      await eventually(() => client.closed() ?? client.messages.find((m) => m.type === 'connection_error'), 8_000, 'the refusal');
      expect(client.messages.find((m) => m.type === 'connection_ack')).toBeUndefined();
      client.close();
    }
  });
});
