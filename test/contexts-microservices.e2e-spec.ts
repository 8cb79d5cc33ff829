import 'reflect-metadata';
import type { INestMicroservice } from '@nestjs/common';
import { ClientProxyFactory, Transport, type ClientProxy } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { randomUUID } from 'node:crypto';
import { firstValueFrom } from 'rxjs';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationDispatchHook, type DispatchedPacket } from '../src/access/contexts/authorization-dispatch-hook.js';
import { IdentityModule } from '../src/index.js';
import { RevocationService } from '../src/revocation/revocation.service.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { CONTEXTS_AUDIENCE as AUDIENCE, eventually, startListening, type ListeningApp } from './support/contexts-app.js';
import { acceptedEvents, OrdersMessages } from './support/contexts-rpc-fixtures.js';
import { freePort } from './support/free-port.js';
import { LogGuard } from './support/log-guard.js';
import { PLATFORMS } from './support/platforms.js';
import { redisSkipReason, startRedisServer, type RedisServerHandle } from './support/redis-server.js';
import { TestController } from './support/test-controller.js';

/**
 * Message handlers with the one IdentityGuard: a hybrid app (HTTP + Redis + TCP, connected with
 * inheritAppConfig so the global guard applies), and a plain TCP microservice. The token travels in
 * the packet metadata a ClientProxy dispatch hook sets.
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

type Outcome = { ok: unknown } | { error: Record<string, unknown> };

/** Sends with this dispatch hook (the token, hostile metadata, or nothing). */
async function send(client: ClientProxy, pattern: string, data: unknown, hook: (packet: DispatchedPacket) => void = () => undefined): Promise<Outcome> {
  client.setOnDispatchHook(hook);
  try {
    return { ok: await firstValueFrom(client.send(pattern, data)) };
  } catch (error) {
    return { error: error as Record<string, unknown> };
  }
}

const bearer = (token: string) => authorizationDispatchHook(token);
const metadata = (value: Record<string, unknown>) => (packet: DispatchedPacket) => void (packet.metadata = value as Record<string, string>);

function expectRefused(outcome: Outcome, statusCode: number, error: string, description?: string): void {
  expect('error' in outcome, JSON.stringify(outcome)).toBe(true);
  if (!('error' in outcome)) return;
  expect(outcome.error).toMatchObject({ statusCode, error, ...(description ? { error_description: description, message: description } : {}) });
}

/** The cases every transport answers the same way. */
function messageCases(client: () => ClientProxy, app: () => { get: ListeningApp['app']['get'] }) {
  it('serves a valid token, with the identity in @CurrentIdentity() and the payload untouched', async () => {
    const token = await serviceToken(['orders:read']);
    const outcome = await send(client(), 'orders.list', { page: 2 }, bearer(token));
    expect(outcome).toEqual({ ok: { orders: [{ id: '1' }], caller: expect.stringMatching(/^sa:svc-/), data: { page: 2 } } });
    expect(await send(client(), 'whoami', {}, bearer(await idp.serviceAccountToken({ scopes: ['orders:read'] })))).toEqual({
      ok: { kind: 'service', subject: 'sa:dev-service-account', metadataKeys: ['authorization'] },
    });
  });

  it('refuses no token, an expired token and a wrong scope with an RpcException answer, never a 500', async () => {
    expectRefused(await send(client(), 'orders.list', {}), 401, 'unauthorized', 'A Bearer access token is required');
    expectRefused(await send(client(), 'orders.list', {}, bearer(await idp.mintToken({ expiresIn: -60 }))), 401, 'invalid_token', 'The access token expired');
    const other = await serviceToken(['reports:read']);
    const outcome = await send(client(), 'orders.list', {}, bearer(other));
    expectRefused(outcome, 403, 'insufficient_scope', 'Missing required scope: orders:read');
    expect((outcome as { error: { scope?: string } }).error.scope).toBe('orders:read');
    // An assertion in the handler leaves the same way (through the global filter).
    expectRefused(await send(client(), 'dispatch', {}, bearer(other)), 403, 'insufficient_scope', 'Missing required scope: jobs:dispatch');
  });

  it('refuses malformed and hostile metadata (400 invalid_request)', async () => {
    const token = await serviceToken(['orders:read']);
    expectRefused(await send(client(), 'orders.list', {}, metadata({ authorization: 'Bearer' })), 400, 'invalid_request');
    expectRefused(await send(client(), 'orders.list', {}, metadata({ authorization: 42 })), 400, 'invalid_request');
    expectRefused(await send(client(), 'orders.list', {}, metadata({ authorization: [`Bearer ${token}`, `Bearer ${token}`] })), 400, 'invalid_request');
    expectRefused(await send(client(), 'orders.list', {}, metadata({ authorization: `Bearer ${token}`, Authorization: `Bearer ${token}` })), 400, 'invalid_request');
    expectRefused(await send(client(), 'orders.list', {}, metadata({ authorization: `Bearer ${'a'.repeat(100_000)}` })), 401, 'invalid_token', 'The access token is too large');
    expectRefused(await send(client(), 'orders.list', {}, metadata({ authorization: token })), 401, 'unauthorized');
    // A token in the payload is not a credential.
    expectRefused(await send(client(), 'orders.list', { authorization: `Bearer ${token}` }), 401, 'unauthorized');
  });

  it('applies the global guard (global: true) to undecorated handlers; @Public() stays open', async () => {
    expectRefused(await send(client(), 'plain', {}), 401, 'unauthorized');
    expect(await send(client(), 'plain', {}, bearer(await serviceToken([])))).toEqual({ ok: 'plain' });
    expect(await send(client(), 'ping', {})).toEqual({ ok: 'pong' });
  });

  it('drops events whose sender may not send them', async () => {
    const marker = randomUUID();
    client().setOnDispatchHook(bearer(await serviceToken(['orders:read'])));
    await firstValueFrom(client().emit('order.created', { marker, allowed: false }));
    client().setOnDispatchHook(bearer(await serviceToken(['orders:write'])));
    await firstValueFrom(client().emit('order.created', { marker, allowed: true }));
    await eventually(() => (acceptedEvents.some((event) => (event as { marker?: string }).marker === marker) ? true : undefined), 5_000, 'the allowed event');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(acceptedEvents.filter((event) => (event as { marker?: string }).marker === marker)).toEqual([{ marker, allowed: true }]);
  });

  it('refuses a revoked token', async () => {
    const clientId = `revoked-${randomUUID().slice(0, 8)}`;
    const token = await serviceToken(['orders:read'], { clientId });
    expect('ok' in (await send(client(), 'orders.list', {}, bearer(token)))).toBe(true);
    await app().get(RevocationService).revoke({ clientId }, 'test');
    expectRefused(await send(client(), 'orders.list', {}, bearer(token)), 401, 'invalid_token', 'The access token was revoked');
  });
}

describe.each(PLATFORMS)('a hybrid app on %s (HTTP + TCP + Redis, inheritAppConfig)', (platform) => {
  let s: ListeningApp;
  let redis: RedisServerHandle | undefined;
  let tcp: ClientProxy;
  let overRedis: ClientProxy | undefined;

  beforeAll(async () => {
    if (!redisSkipReason) redis = await startRedisServer();
    const tcpPort = await freePort();
    s = await startListening(
      platform,
      {
        imports: [IdentityModule.forRootAsync({ useFactory: () => ({ url: idp.issuer, audience: AUDIENCE, metrics: false, global: true }) })],
        controllers: [OrdersMessages, TestController],
      },
      async (app) => {
        app.connectMicroservice({ transport: Transport.TCP, options: { host: '127.0.0.1', port: tcpPort } }, { inheritAppConfig: true });
        if (redis) app.connectMicroservice({ transport: Transport.REDIS, options: { host: '127.0.0.1', port: redis.port } }, { inheritAppConfig: true });
        await app.startAllMicroservices();
      },
    );
    tcp = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port: tcpPort } });
    if (redis) overRedis = ClientProxyFactory.create({ transport: Transport.REDIS, options: { host: '127.0.0.1', port: redis.port } });
  });

  afterAll(async () => {
    await tcp?.close();
    await overRedis?.close();
    await s?.close();
    await redis?.stop();
  });

  it('still guards its HTTP routes', async () => {
    expect((await request(s.app.getHttpServer()).get('/unguarded')).status).toBe(401);
    expect((await request(s.app.getHttpServer()).get('/public')).status).toBe(200);
  });

  describe('over TCP', () => messageCases(() => tcp, () => s.app));
  describe.skipIf(Boolean(redisSkipReason))('over Redis', () => messageCases(() => overRedis!, () => s.app));
});

describe('a TCP microservice (no HTTP)', () => {
  let microservice: INestMicroservice;
  let client: ClientProxy;

  beforeAll(async () => {
    const port = await freePort();
    const moduleRef = await Test.createTestingModule({
      imports: [IdentityModule.forRootAsync({ useFactory: () => ({ url: idp.issuer, audience: AUDIENCE, metrics: false }) })],
      controllers: [OrdersMessages],
    }).compile();
    microservice = moduleRef.createNestMicroservice({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
    microservice.useLogger(new LogGuard());
    await microservice.listen();
    client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
  });

  afterAll(async () => {
    await client?.close();
    await microservice?.close();
  });

  it('guards decorated handlers and leaves undecorated ones open (global: false)', async () => {
    expect(await send(client, 'orders.list', { page: 1 }, bearer(await serviceToken(['orders:read'])))).toMatchObject({ ok: { data: { page: 1 } } });
    expectRefused(await send(client, 'orders.list', {}), 401, 'unauthorized');
    expectRefused(await send(client, 'orders.list', {}, bearer(await serviceToken(['reports:read']))), 403, 'insufficient_scope');
    expect(await send(client, 'plain', {})).toEqual({ ok: 'plain' });
    expectRefused(await send(client, 'dispatch', {}, bearer(await serviceToken(['orders:read']))), 403, 'insufficient_scope');
  });
});
