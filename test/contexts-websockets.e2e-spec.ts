import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { WsAdapter } from '@nestjs/platform-ws';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { IdentityWsAdapter } from '../src/access/contexts/identity-ws.adapter.js';
import { IdentityModule } from '../src/index.js';
import { RevocationService } from '../src/revocation/revocation.service.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { CONTEXTS_AUDIENCE as AUDIENCE, eventually, startListening, type ListeningApp } from './support/contexts-app.js';
import { connect, OrdersGateway, type Handshake, type HandshakeCredentials, type Received, type SocketKind, type TestSocket } from './support/contexts-ws-fixtures.js';
import type { PlatformName } from './support/platforms.js';

/**
 * WebSocket gateways behind IdentityWsAdapter: socket.io and ws, on Express and Fastify, with real
 * clients (socket.io-client, ws) and tokens from the development provider.
 */

let idp: DevelopmentIdentityProvider;

beforeAll(async () => {
  idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
});
afterAll(async () => {
  await idp?.stop();
});

function serviceToken(scopes: string[], options: { expiresIn?: number; clientId?: string } = {}): Promise<string> {
  const clientId = options.clientId ?? `svc-${randomUUID().slice(0, 8)}`;
  return idp.mintToken({
    expiresIn: options.expiresIn,
    claims: {
      sub: `sa:${clientId}`,
      client_id: clientId,
      scope: scopes.join(' '),
      jti: randomUUID(),
      service_account: { clientId, client_id: clientId, name: clientId, scopes, audiences: [AUDIENCE] },
    },
  });
}

const COMBINATIONS: Array<[SocketKind, PlatformName]> = [
  ['socket.io', 'express'],
  ['socket.io', 'fastify'],
  ['ws', 'express'],
  ['ws', 'fastify'],
];

describe.each(COMBINATIONS)('%s gateways on %s', (kind, platform) => {
  let s: ListeningApp;
  const open: TestSocket[] = [];

  beforeAll(async () => {
    s = await startListening(
      platform,
      {
        imports: [IdentityModule.forRootAsync({ useFactory: () => ({ url: idp.issuer, audience: AUDIENCE, metrics: false }) })],
        providers: [OrdersGateway],
      },
      (app: INestApplication) => {
        app.useWebSocketAdapter(new IdentityWsAdapter(kind === 'socket.io' ? new IoAdapter(app) : new WsAdapter(app), app));
      },
    );
  });

  afterAll(async () => {
    for (const socket of open) socket.close();
    await s?.close();
  });

  async function connected(credentials: HandshakeCredentials): Promise<TestSocket> {
    const handshake = await connect(kind, s.url, credentials);
    if (!handshake.ok) throw new Error(`handshake refused: ${JSON.stringify(handshake)}`);
    open.push(handshake.socket);
    return handshake.socket;
  }

  /** Sends and waits for the next message of that event (or an `exception`). */
  async function ask(socket: TestSocket, event: string, answer: string, data?: unknown): Promise<Received> {
    const before = socket.received.length;
    socket.send(event, data);
    const answers = [answer, 'exception', 'identity:error'];
    return eventually(() => socket.received.slice(before).find((message) => answers.includes(message.event)), 5_000, `${answer} after ${event}`);
  }

  /** The handshake token the client sends: socket.io's auth.token; ws's Authorization header. */
  const withToken = (token: string): HandshakeCredentials => (kind === 'socket.io' ? { authToken: token } : { authorization: `Bearer ${token}` });

  function expectRefused(handshake: Handshake, status: number, error: string, description?: string): void {
    expect(handshake.ok, JSON.stringify(handshake)).toBe(false);
    if (handshake.ok) return;
    if (kind === 'socket.io') {
      expect(handshake.data).toMatchObject({ statusCode: status, error, ...(description ? { error_description: description } : {}) });
      if (description) expect(handshake.message).toBe(description);
    } else {
      expect(handshake.status).toBe(status);
      if (status === 401) expect(handshake.challenge).toMatch(/^Bearer realm="https:\/\/api\.example\.com"/);
      if (description) expect(handshake.body).toBe(description);
      if (error !== 'unauthorized') expect(handshake.challenge).toContain(`error="${error}"`);
    }
  }

  it('admits a valid token at the handshake and keeps the identity on the client', async () => {
    const socket = await connected(withToken(await serviceToken(['orders:read'])));
    expect((await ask(socket, 'whoami', 'whoami')).data).toMatchObject({ kind: 'service', subject: expect.stringMatching(/^sa:svc-/) });
    expect((await ask(socket, 'orders', 'orders')).data).toEqual([{ id: '1' }]);
    expect((await ask(socket, 'ping', 'pong')).data).toBe('pong');
  });

  it('also reads the Authorization header (a token from the provider)', async () => {
    const socket = await connected({ authorization: `Bearer ${await idp.serviceAccountToken({ scopes: ['orders:read'] })}` });
    expect((await ask(socket, 'whoami', 'whoami')).data).toEqual({ kind: 'service', subject: 'sa:dev-service-account' });
  });

  it('refuses handshakes without a token, with an expired or forged token, and with a malformed header', async () => {
    expectRefused(await connect(kind, s.url, {}), 401, 'unauthorized', 'A Bearer access token is required');
    expectRefused(await connect(kind, s.url, withToken(await idp.mintToken({ expiresIn: -60 }))), 401, 'invalid_token', 'The access token expired');
    const valid = await serviceToken(['orders:read']);
    expectRefused(await connect(kind, s.url, withToken(`${valid.slice(0, -4)}AAAA`)), 401, 'invalid_token');
    expectRefused(await connect(kind, s.url, { authorization: 'Bearer' }), 400, 'invalid_request');
    expectRefused(await connect(kind, s.url, { authorization: `Basic ${valid}` }), 401, 'unauthorized');
  });

  if (kind === 'socket.io') {
    it('refuses a socket.io auth.token that is not a string, or a token sent twice', async () => {
      expectRefused(await connect(kind, s.url, { authToken: 42 }), 400, 'invalid_request');
      expectRefused(await connect(kind, s.url, { authToken: { token: 'x' } }), 400, 'invalid_request');
      const token = await serviceToken(['orders:read']);
      expectRefused(await connect(kind, s.url, { authToken: token, authorization: `Bearer ${token}` }), 400, 'invalid_request', 'Send the token once: in auth.token or in the Authorization header');
      expectRefused(await connect(kind, s.url, { authToken: 'a'.repeat(100_000) }), 401, 'invalid_token', 'The access token is too large');
    });
  }

  it('answers a wrong scope, and a failed assertion in a handler, with a WsException (403 insufficient_scope)', async () => {
    const socket = await connected(withToken(await serviceToken(['reports:read'])));
    expect(await ask(socket, 'orders', 'orders')).toEqual({
      event: 'exception',
      data: { status: 'error', statusCode: 403, error: 'insufficient_scope', error_description: 'Missing required scope: orders:read', message: 'Missing required scope: orders:read', scope: 'orders:read' },
    });
    expect(await ask(socket, 'dispatch', 'dispatched')).toMatchObject({ event: 'exception', data: { statusCode: 403, error: 'insufficient_scope', scope: 'jobs:dispatch' } });
    // The connection stays: only that message was refused.
    expect((await ask(socket, 'whoami', 'whoami')).event).toBe('whoami');
  });

  it('refuses a @RequireDpop() handler to a Bearer connection (no proof per message), and keeps the connection', async () => {
    const socket = await connected(withToken(await serviceToken(['orders:read'])));
    expect(await ask(socket, 'bound', 'bound')).toMatchObject({ event: 'exception', data: { statusCode: 401, error: 'invalid_token' } });
    expect((await ask(socket, 'whoami', 'whoami')).event).toBe('whoami');
  });

  it('disconnects a client when its token expires, with the reason; a client that refreshed stays', async () => {
    const clientId = `svc-${randomUUID().slice(0, 8)}`;
    const expiring = await connected(withToken(await serviceToken(['orders:read'], { expiresIn: 2 })));
    const refreshing = await connected(withToken(await serviceToken(['orders:read'], { expiresIn: 2, clientId })));
    const refreshed = await ask(refreshing, 'identity:refresh', 'identity:refreshed', { token: await serviceToken(['orders:read'], { clientId }) });
    expect(refreshed).toMatchObject({ event: 'identity:refreshed', data: { expiresAt: expect.any(String) } });
    expect(Date.parse((refreshed.data as { expiresAt: string }).expiresAt)).toBeGreaterThan(Date.now() + 60_000);

    const ended = await eventually(() => expiring.ended, 6_000, 'the disconnect');
    expect(expiring.received).toContainEqual({ event: 'identity:error', data: expect.objectContaining({ statusCode: 401, error: 'invalid_token', error_description: 'The access token expired' }) });
    if (kind === 'ws') expect(ended).toEqual({ code: 4401, reason: 'The access token expired' });
    else expect(ended.reason).toBe('io server disconnect');

    expect(refreshing.ended).toBeUndefined();
    expect((await ask(refreshing, 'whoami', 'whoami')).data).toEqual({ kind: 'service', subject: `sa:${clientId}` });
  });

  it('refuses a refresh with another caller\'s, an expired or no token, and keeps the connection', async () => {
    const socket = await connected(withToken(await serviceToken(['orders:read'])));
    expect(await ask(socket, 'identity:refresh', 'identity:refreshed', { token: await serviceToken(['orders:read']) })).toMatchObject({
      event: 'identity:error',
      data: { statusCode: 400, error: 'invalid_request', error_description: 'A refresh must carry a token of the same caller' },
    });
    expect(await ask(socket, 'identity:refresh', 'identity:refreshed', { token: await idp.mintToken({ expiresIn: -60 }) })).toMatchObject({
      event: 'identity:error',
      data: { error: 'invalid_token', error_description: 'The access token expired' },
    });
    expect(await ask(socket, 'identity:refresh', 'identity:refreshed', { token: 42 })).toMatchObject({ event: 'identity:error', data: { error: 'invalid_request' } });
    expect((await ask(socket, 'whoami', 'whoami')).event).toBe('whoami');
  });

  it('re-checks expiry before every message, without waiting for the timer', async () => {
    const socket = await connected(withToken(await serviceToken(['orders:read'], { expiresIn: 600 })));
    expect((await ask(socket, 'echo', 'echo', 'first')).data).toBe('first');
    // The clock passes exp while the timer is still far away: the next message finds out.
    // (Sent before the clock moves: socket.io's client checks its own heartbeat against Date.now.)
    socket.send('echo', 'second');
    const later = Date.now() + 601_000;
    const now = vi.spyOn(Date, 'now').mockImplementation(() => later);
    try {
      const deadline = performance.now() + 5_000;
      while (!socket.received.some((message) => message.event === 'identity:error') && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    } finally {
      now.mockRestore();
    }
    expect(socket.received).toContainEqual({ event: 'identity:error', data: expect.objectContaining({ error: 'invalid_token', error_description: 'The access token expired' }) });
    expect(socket.received.filter((message) => message.event === 'echo')).toHaveLength(1);
    await eventually(() => socket.ended, 5_000, 'the disconnect');
  });

  it('disconnects a client as soon as its token is revoked', async () => {
    const clientId = `revoked-${randomUUID().slice(0, 8)}`;
    const token = await serviceToken(['orders:read'], { clientId });
    const socket = await connected(withToken(token));
    expect((await ask(socket, 'whoami', 'whoami')).event).toBe('whoami');
    await s.app.get(RevocationService).revoke({ clientId }, 'test');
    const ended = await eventually(() => socket.ended, 2_000, 'the disconnect');
    expect(socket.received).toContainEqual({ event: 'identity:error', data: expect.objectContaining({ error: 'invalid_token', error_description: 'The access token was revoked' }) });
    if (kind === 'ws') expect(ended).toEqual({ code: 4401, reason: 'The access token was revoked' });
    expectRefused(await connect(kind, s.url, withToken(token)), 401, 'invalid_token', 'The access token was revoked');
  });
});
