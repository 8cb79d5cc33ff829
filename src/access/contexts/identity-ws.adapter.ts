import { Logger, type INestApplicationContext, type WebSocketAdapter, type WsMessageHandler } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { InvalidRequestError } from '../../errors/invalid-request.error.js';
import { IdentityUnavailableError } from '../../errors/identity-unavailable.error.js';
import type { IdentityHttpError } from '../../errors/identity-http.error.js';
import { Identity } from '../../identity/identity.js';
import { IDENTITY_OPTIONS } from '../../identity-options.token.js';
import type { ResolvedIdentityOptions } from '../../identity-options.js';
import { RevocationService } from '../../revocation/revocation.service.js';
import type { RequestWithHeaders } from '../../tokens/bearer-token.js';
import { TokenAuthenticator } from '../../tokens/token-authenticator.service.js';
import { IDENTITY_ON_REQUEST } from '../identity-on-request.js';
import { authorizationCredentials, socketIoCredentials, type SocketIoHandshake } from './credentials.js';
import { isObject } from './credential-reader.js';
import { closeCode, closeReason, identityErrorBody, isIdentityError } from './identity-error-body.js';
import { expiresAt, type RevocationCheck } from './identity-liveness.js';
import { LiveConnections, type LiveConnection } from './live-connections.js';

/** A client sends `{ token }` on this event to replace its token before it expires. */
export const IDENTITY_REFRESH_EVENT = 'identity:refresh';
/** The answer to an accepted refresh: `{ expiresAt }` (ISO). */
export const IDENTITY_REFRESHED_EVENT = 'identity:refreshed';
/**
 * An RFC 6750 answer (`{ statusCode, error, error_description, message }`): to a refused refresh,
 * and just before the server disconnects a client whose token expired or was revoked.
 */
export const IDENTITY_ERROR_EVENT = 'identity:error';

export interface IdentityWsAdapterOptions {
  /**
   * Admit handshakes without credentials: such clients have no identity, so guarded handlers refuse
   * them, and they may authenticate later with `identity:refresh`. A token that is presented is
   * always verified. Default false: no token, no connection.
   */
  allowAnonymous?: boolean;
}

type Client = Record<PropertyKey, unknown> & { [IDENTITY_ON_REQUEST]?: Identity };
type Server = Record<string, unknown>;
type VerifyClient = (info: { req: RequestWithHeaders }, done: (verified: boolean, code?: number, message?: string, headers?: Record<string, string>) => void) => void;
type Forceful = { forceCloseConnections?: boolean; dispose?(): unknown };

/**
 * Authenticates WebSocket connections at the handshake, where Nest guards never run: wraps the
 * adapter you would use (socket.io's `IoAdapter` or ws's `WsAdapter`) and
 *
 * - verifies the token of every handshake (socket.io: `auth: { token }` or the Authorization
 *   header; ws: the Authorization header of the upgrade request). A refused socket.io handshake
 *   gets a `connect_error` whose `data` is the RFC 6750 answer; a refused ws upgrade an HTTP 401 /
 *   400 / 403 with WWW-Authenticate. Either way there is no connection;
 * - keeps the identity on the client, for the guards and `@CurrentIdentity()`;
 * - re-checks expiry and revocation before every message (in memory, no I/O) and disconnects the
 *   client at its token's `exp` (a timer) or as soon as its token is revoked, after an
 *   `identity:error` message saying why (ws: close code 4401 with the reason);
 * - lets a client send a fresh token of the same caller on `identity:refresh` (`{ token }`) to
 *   stay connected; it answers `identity:refreshed` (`{ expiresAt }`) or `identity:error`.
 *
 * ```ts
 * app.useWebSocketAdapter(new IdentityWsAdapter(new IoAdapter(app), app));
 * ```
 */
export class IdentityWsAdapter implements WebSocketAdapter {
  private readonly logger = new Logger('IdentityWebSockets');
  private readonly protectedServers = new WeakSet<object>();
  private readonly connections = new WeakMap<object, LiveConnection>();
  private readonly refreshBound = new WeakSet<object>();
  /** ws: the identity verified in verifyClient, until the connection event hands over the client. */
  private readonly upgraded = new WeakMap<object, Identity>();
  private services?: { authenticator: TokenAuthenticator; options: ResolvedIdentityOptions; live: LiveConnections };

  constructor(
    private readonly inner: WebSocketAdapter,
    private readonly app: INestApplicationContext,
    private readonly settings: IdentityWsAdapterOptions = {},
  ) {}

  set forceCloseConnections(value: boolean | undefined) {
    (this.inner as Forceful).forceCloseConnections = value;
  }

  get forceCloseConnections(): boolean | undefined {
    return (this.inner as Forceful).forceCloseConnections;
  }

  create(port: number, options?: unknown): unknown {
    const server: unknown = this.inner.create(port, options);
    this.protect(server);
    return server;
  }

  bindClientConnect(server: unknown, callback: (...args: unknown[]) => unknown): unknown {
    return this.inner.bindClientConnect(server, callback);
  }

  bindClientDisconnect(client: unknown, callback: (...args: unknown[]) => unknown): unknown {
    return this.inner.bindClientDisconnect?.(client, callback);
  }

  closeClient(client: unknown): unknown {
    return this.inner.closeClient?.(client);
  }

  bindMessageHandlers(client: Client, handlers: WsMessageHandler[], transform: (data: unknown) => Observable<unknown>): unknown {
    const guarded: WsMessageHandler[] = handlers.map((handler) => ({
      ...handler,
      callback: ((...args: unknown[]) => (this.stillValid(client) ? handler.callback(...args) : undefined)) as WsMessageHandler['callback'],
    }));
    if (!this.refreshBound.has(client) && !handlers.some((handler) => handler.message === IDENTITY_REFRESH_EVENT)) {
      this.refreshBound.add(client);
      guarded.push({
        message: IDENTITY_REFRESH_EVENT,
        isAckHandledManually: false,
        callback: ((data: unknown) => (this.stillValid(client) ? this.refresh(client, data) : undefined)) as WsMessageHandler['callback'],
      });
    }
    return this.inner.bindMessageHandlers(client, guarded, transform);
  }

  close(server: unknown): unknown {
    return this.inner.close(server);
  }

  async dispose(): Promise<void> {
    this.services?.live.close();
    await (this.inner as Forceful).dispose?.();
  }

  private resolve(): NonNullable<IdentityWsAdapter['services']> {
    if (this.services) return this.services;
    const authenticator = this.app.get(TokenAuthenticator, { strict: false });
    const options = this.app.get<ResolvedIdentityOptions>(IDENTITY_OPTIONS, { strict: false });
    let revocations: RevocationCheck | undefined;
    try {
      revocations = this.app.get(RevocationService, { strict: false });
    } catch {
      revocations = undefined;
    }
    this.services = { authenticator, options, live: new LiveConnections(revocations) };
    return this.services;
  }

  /** Installs the handshake check on a server the inner adapter created (once per server). */
  private protect(server: unknown): void {
    if (!isObject(server) || this.protectedServers.has(server)) return;
    this.resolve();
    if (typeof server.handleUpgrade === 'function' && isObject(server.options)) this.protectWs(server as Server);
    else if (typeof server.use === 'function') this.protectIo(server as Server);
    else throw new Error('IdentityWsAdapter cannot verify handshakes on this server (neither a socket.io nor a ws server): refusing to serve it unauthenticated');
    this.protectedServers.add(server);
  }

  // socket.io: a namespace middleware runs before the connection exists; next(error) refuses it.
  // The identity is watched from the connection event on (registered before Nest's own listener),
  // so a client that leaves mid-handshake leaves nothing behind.
  private protectIo(server: Server): void {
    (server.use as (middleware: (socket: Client, next: (error?: Error) => void) => void) => void).call(server, (socket, next) => {
      this.handshakeIo(socket).then(
        () => next(),
        (error: unknown) => next(this.handshakeError(error)),
      );
    });
    (server.on as (event: string, listener: (socket: Client) => void) => void).call(server, 'connection', (socket) => {
      const identity = socket[IDENTITY_ON_REQUEST];
      if (!(identity instanceof Identity)) return;
      this.attach(socket, identity);
      (socket.once as (event: string, listener: () => void) => void).call(socket, 'disconnect', () => this.detach(socket));
    });
  }

  private async handshakeIo(socket: Client): Promise<void> {
    const { authenticator, options } = this.resolve();
    const request = isObject(socket.request) ? (socket.request as unknown as RequestWithHeaders) : undefined;
    const credentials = socketIoCredentials(socket.handshake as SocketIoHandshake | undefined, request, options.maxTokenLength);
    if (this.settings.allowAnonymous && credentials.headers.authorization === undefined) return;
    socket[IDENTITY_ON_REQUEST] = await authenticator.identify(credentials);
  }

  /** What a refused socket.io client gets as `connect_error`: the description as message, the answer as `data`. */
  private handshakeError(error: unknown): Error {
    const refusal = this.asIdentityError(error);
    return Object.assign(new Error(refusal.description), { data: identityErrorBody(refusal) });
  }

  // ws: verifyClient answers a refused upgrade with an HTTP status, WWW-Authenticate and the reason.
  private protectWs(server: Server): void {
    const options = server.options as { verifyClient?: VerifyClient | ((info: unknown) => boolean) };
    const previous = options.verifyClient;
    const verifyClient: VerifyClient = (info, done) => {
      this.handshakeWs(info.req).then(
        () => {
          if (typeof previous !== 'function') return done(true);
          if (previous.length >= 2) return (previous as VerifyClient)(info, done);
          return done(Boolean((previous as (info: unknown) => boolean)(info)), 401);
        },
        (error: unknown) => {
          const refusal = this.asIdentityError(error);
          done(false, refusal.getStatus(), refusal.description, refusal.headers(this.resolve().options.challenge));
        },
      );
    };
    options.verifyClient = verifyClient;
    (server.on as (event: string, listener: (client: Client, request: object) => void) => void).call(server, 'connection', (client, request) => {
      const identity = this.upgraded.get(request);
      this.upgraded.delete(request);
      if (!identity) return;
      this.attach(client, identity);
      (client.once as (event: string, listener: () => void) => void).call(client, 'close', () => this.detach(client));
    });
  }

  private async handshakeWs(request: RequestWithHeaders): Promise<void> {
    if (this.settings.allowAnonymous && request.headers.authorization === undefined) return;
    const identity = await this.resolve().authenticator.identify(request);
    this.upgraded.set(request, identity);
  }

  private attach(client: Client, identity: Identity): void {
    client[IDENTITY_ON_REQUEST] = identity;
    this.connections.get(client)?.stop();
    this.connections.set(client, this.resolve().live.track(identity, (error) => this.disconnect(client, error)));
  }

  private detach(client: Client): void {
    this.connections.get(client)?.stop();
    this.connections.delete(client);
  }

  /** Before every message: does the client's identity still hold? If not, the client is disconnected with the reason. */
  private stillValid(client: Client): boolean {
    const connection = this.connections.get(client);
    if (!connection) return true; // an anonymous client: the guards decide per handler
    const ended = connection.check();
    if (!ended) return true;
    connection.end(ended);
    return false;
  }

  /** `identity:refresh`: a fresh token of the same caller replaces the current one. */
  private async refresh(client: Client, data: unknown): Promise<{ event: string; data: unknown }> {
    try {
      const token = isObject(data) ? data.token : undefined;
      if (typeof token !== 'string' || token === '') throw new InvalidRequestError(`${IDENTITY_REFRESH_EVENT} takes { token: '<access token>' }`);
      const { authenticator, options } = this.resolve();
      const identity = await authenticator.identify(authorizationCredentials(/^bearer /i.test(token) ? token : `Bearer ${token}`, options.maxTokenLength, 'token'));
      const current = client[IDENTITY_ON_REQUEST];
      if (current instanceof Identity && (current.kind !== identity.kind || current.subject !== identity.subject)) {
        throw new InvalidRequestError('A refresh must carry a token of the same caller');
      }
      this.attach(client, identity);
      if (!current) (client.once as (event: string, listener: () => void) => void).call(client, isObject(client.handshake) ? 'disconnect' : 'close', () => this.detach(client));
      return { event: IDENTITY_REFRESHED_EVENT, data: { expiresAt: new Date(expiresAt(identity)).toISOString() } };
    } catch (error) {
      return { event: IDENTITY_ERROR_EVENT, data: identityErrorBody(this.asIdentityError(error)) };
    }
  }

  /** Ends a connection for its token: says why (identity:error), then disconnects (ws: with a close code). */
  private disconnect(client: Client, error: IdentityHttpError): void {
    const body = identityErrorBody(error);
    if (isObject(client.handshake) && typeof client.disconnect === 'function') {
      (client.emit as (event: string, data: unknown) => void).call(client, IDENTITY_ERROR_EVENT, body);
      (client.disconnect as (close: boolean) => void).call(client, true);
      return;
    }
    if (client.readyState !== 1) return;
    (client.send as (data: string) => void).call(client, JSON.stringify({ event: IDENTITY_ERROR_EVENT, data: body }));
    (client.close as (code: number, reason: string) => void).call(client, closeCode(error), closeReason(error));
  }

  /** Our answer for a refusal; anything unexpected is logged (never with a token) and answered 503. */
  private asIdentityError(error: unknown): IdentityHttpError {
    if (isIdentityError(error)) return error;
    this.logger.error(`A WebSocket handshake or refresh failed unexpectedly: ${error instanceof Error ? error.name : typeof error}`);
    return new IdentityUnavailableError('Authentication is not possible right now; try again later');
  }
}
