import { UseFilters } from '@nestjs/common';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { Authenticated, CurrentIdentity, IdentityExceptionFilter, Public, RequireDpop, RequireScope, type Identity } from '../../src/index.js';

/**
 * Every decorator, in a gateway. Each answer is an `{ event, data }` message. Nest applies no
 * global filter to gateways, hence @UseFilters for the assertions made in handlers.
 */
@WebSocketGateway()
@UseFilters(IdentityExceptionFilter)
export class OrdersGateway {
  @SubscribeMessage('whoami')
  @Authenticated()
  whoami(@CurrentIdentity() identity: Identity) {
    return { event: 'whoami', data: { kind: identity.kind, subject: identity.subject } };
  }

  @SubscribeMessage('orders')
  @RequireScope('orders:read')
  orders() {
    return { event: 'orders', data: [{ id: '1' }] };
  }

  @SubscribeMessage('ping')
  @Public()
  ping() {
    return { event: 'pong', data: 'pong' };
  }

  @SubscribeMessage('dispatch')
  @Authenticated()
  dispatch(@CurrentIdentity() identity: Identity) {
    identity.assertScope('jobs:dispatch');
    return { event: 'dispatched', data: true };
  }

  /** DPoP only: a handshake cannot carry a proof per message, so it is refused. */
  @SubscribeMessage('bound')
  @RequireDpop()
  bound() {
    return { event: 'bound', data: true };
  }

  @SubscribeMessage('echo')
  echo(@MessageBody() data: unknown) {
    return { event: 'echo', data };
  }
}

export type SocketKind = 'socket.io' | 'ws';

export interface Received {
  event: string;
  data: unknown;
}

/** One connected client, socket.io or ws, with the same small API. */
export interface TestSocket {
  readonly received: Received[];
  /** How it ended: socket.io's disconnect reason, ws's close code and reason. */
  readonly ended: { reason: string; code?: number } | undefined;
  send(event: string, data?: unknown): void;
  close(): void;
}

export type Handshake =
  | { ok: true; socket: TestSocket }
  /** socket.io: connect_error's message and data; ws: the HTTP status, WWW-Authenticate and body of the refused upgrade. */
  | { ok: false; message?: string; data?: unknown; status?: number; challenge?: string; body?: string };

export interface HandshakeCredentials {
  /** socket.io `auth: { token }` */
  authToken?: unknown;
  /** The Authorization header. */
  authorization?: string;
}

export function connect(kind: SocketKind, base: string, credentials: HandshakeCredentials): Promise<Handshake> {
  return kind === 'socket.io' ? connectIo(base, credentials) : connectWs(base, credentials);
}

function connectIo(base: string, credentials: HandshakeCredentials): Promise<Handshake> {
  const socket: Socket = io(base, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    ...(credentials.authToken === undefined ? {} : { auth: { token: credentials.authToken } }),
    ...(credentials.authorization === undefined ? {} : { extraHeaders: { authorization: credentials.authorization } }),
  });
  const received: Received[] = [];
  let ended: TestSocket['ended'];
  socket.onAny((event: string, data: unknown) => received.push({ event, data }));
  socket.on('disconnect', (reason) => (ended = { reason }));
  const client: TestSocket = {
    received,
    get ended() {
      return ended;
    },
    send: (event, data) => void socket.emit(event, data),
    close: () => void socket.disconnect(),
  };
  return new Promise((resolve) => {
    socket.once('connect', () => resolve({ ok: true, socket: client }));
    socket.once('connect_error', (error: Error & { data?: unknown }) => {
      socket.close();
      resolve({ ok: false, message: error.message, data: error.data });
    });
  });
}

function connectWs(base: string, credentials: HandshakeCredentials): Promise<Handshake> {
  const socket = new WebSocket(base.replace(/^http/, 'ws'), { headers: credentials.authorization === undefined ? {} : { authorization: credentials.authorization } });
  const received: Received[] = [];
  let ended: TestSocket['ended'];
  socket.on('message', (raw) => received.push(JSON.parse(String(raw)) as Received));
  socket.on('close', (code, reason) => (ended = { code, reason: reason.toString() }));
  const client: TestSocket = {
    received,
    get ended() {
      return ended;
    },
    send: (event, data) => socket.send(JSON.stringify({ event, data })),
    close: () => socket.close(),
  };
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve({ ok: true, socket: client }));
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => {
        socket.terminate();
        resolve({ ok: false, status: response.statusCode, challenge: response.headers['www-authenticate'] as string | undefined, body });
      });
    });
    socket.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}
