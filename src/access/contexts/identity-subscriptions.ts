import type { IdentityHttpError } from '../../errors/identity-http.error.js';
import { InsufficientScopeError } from '../../errors/insufficient-scope.error.js';
import type { InvalidTokenError } from '../../errors/invalid-token.error.js';
import type { Identity } from '../../identity/identity.js';
import type { TokenAuthenticator } from '../../tokens/token-authenticator.service.js';
import { IDENTITY_ON_REQUEST } from '../identity-on-request.js';
import { connectionParamsCredentials } from './credentials.js';
import { isObject } from './credential-reader.js';
import { closeCode, closeReason, graphqlCode, identityErrorBody, isIdentityError } from './identity-error-body.js';
import type { RevocationCheck } from './identity-liveness.js';
import { LiveConnections, type LiveConnection } from './live-connections.js';
import { graphqlPackage } from './optional-package.js';

/** The graphql-ws connection context, as far as we use it. */
export interface GraphqlWsConnection {
  connectionParams?: Readonly<Record<string, unknown>>;
  extra?: unknown;
  [IDENTITY_ON_REQUEST]?: Identity;
}

/** The graphql-ws server hooks identitySubscriptions() provides. */
export interface IdentityGraphqlWsHooks {
  onConnect(ctx: GraphqlWsConnection): Promise<boolean>;
  /** Resolves to GraphQLErrors when the connection's identity no longer holds (typed loosely, so `graphql` stays an optional peer). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  onSubscribe(ctx: GraphqlWsConnection, id: string, payload: unknown): Promise<readonly any[] | undefined>;
  onClose(ctx: GraphqlWsConnection, code?: number, reason?: string): void;
}

export interface IdentitySubscriptionsOptions {
  /**
   * The synchronous revocation check, e.g. `RevocationService` (inject it beside TokenAuthenticator):
   * a connection whose token is revoked is closed at once, and every operation is checked against it.
   */
  revocations?: RevocationCheck;
  /** Scopes every connection must hold (all of them); without them it is closed with 4403. */
  requireScopes?: readonly string[];
  /** Admit connections without credentials (they have no identity: guarded fields refuse them). Default false. */
  allowAnonymous?: boolean;
}

/** connectionParams values longer than this are refused unread; the authenticator applies the module's maxTokenLength. */
const PARAMETER_CAP = 64 * 1024;

/**
 * Authentication for GraphQL subscriptions over graphql-ws (`@nestjs/graphql` with Apollo): the
 * `subscriptions` option of `GraphQLModule.forRoot(Async)`.
 *
 * - `connection_init` is authenticated once, from `connectionParams.authorization`
 *   (`'Bearer <token>'`); a refusal closes the socket with 4401 (no, invalid, expired token), 4400
 *   (malformed parameters), 4403 (missing `requireScopes`) or 1013 (provider unavailable).
 * - The identity is kept on the connection: resolvers' guards and `@CurrentIdentity()` find it.
 * - The connection is closed with 4401 at the token's `exp` (a timer) and as soon as it is revoked;
 *   every new operation re-checks both first (in memory, no I/O).
 *
 * ```ts
 * GraphQLModule.forRootAsync<ApolloDriverConfig>({
 *   driver: ApolloDriver,
 *   inject: [TokenAuthenticator, RevocationService],
 *   useFactory: (authenticator: TokenAuthenticator, revocations: RevocationService) => ({
 *     autoSchemaFile: true,
 *     subscriptions: identitySubscriptions(authenticator, { revocations }),
 *   }),
 * });
 * ```
 *
 * Without `revocations`, each operation re-verifies the connection's token through the
 * authenticator (a verified-token cache hit in memory), which applies its revocation check; an
 * open subscription is then not closed the moment a revocation arrives.
 */
export function identitySubscriptions(authenticator: TokenAuthenticator, options: IdentitySubscriptionsOptions = {}): { 'graphql-ws': IdentityGraphqlWsHooks } {
  const live = new LiveConnections(options.revocations);
  const connections = new WeakMap<GraphqlWsConnection, { connection: LiveConnection; token: string }>();

  const close = (ctx: GraphqlWsConnection, error: IdentityHttpError): void => {
    const socket = isObject(ctx.extra) ? ctx.extra.socket : undefined;
    if (isObject(socket) && typeof socket.close === 'function') (socket.close as (code: number, reason: string) => void).call(socket, closeCode(error), closeReason(error));
  };

  return {
    'graphql-ws': {
      async onConnect(ctx) {
        try {
          const credentials = connectionParamsCredentials(ctx.connectionParams, PARAMETER_CAP);
          const authorization = credentials.headers.authorization;
          if (authorization === undefined && options.allowAnonymous) return true;
          const identity = await authenticator.identify(credentials);
          const missing = (options.requireScopes ?? []).filter((scope) => !identity.scopes.has(scope));
          if (missing.length > 0) throw new InsufficientScopeError(options.requireScopes!.join(' '), `Missing required scope: ${missing.join(' ')}`);
          // The client may have left while the token was being verified: nothing to watch then.
          const socket = isObject(ctx.extra) ? ctx.extra.socket : undefined;
          if (isObject(socket) && typeof socket.readyState === 'number' && socket.readyState > 1) return false;
          ctx[IDENTITY_ON_REQUEST] = identity;
          const token = String(authorization).replace(/^bearer +/i, '');
          connections.set(ctx, { connection: live.track(identity, (error) => close(ctx, error)), token });
          return true;
        } catch (error) {
          if (!isIdentityError(error)) throw error;
          // Closed here with our code; graphql-ws's own close (4403) after `false` is then a no-op.
          close(ctx, error);
          return false;
        }
      },

      async onSubscribe(ctx) {
        const watched = connections.get(ctx);
        if (!watched) return undefined;
        let ended: InvalidTokenError | IdentityHttpError | undefined = watched.connection.check();
        if (!ended && !options.revocations) {
          try {
            await authenticator.verify(watched.token);
          } catch (error) {
            if (!isIdentityError(error)) throw error;
            ended = error;
          }
        }
        if (!ended) return undefined;
        watched.connection.stop();
        close(ctx, ended);
        const { GraphQLError } = await graphqlPackage.load();
        const { error: code, error_description } = identityErrorBody(ended);
        return [new GraphQLError(ended.description, { extensions: { code: graphqlCode(ended), error: code, error_description } })];
      },

      onClose(ctx) {
        connections.get(ctx)?.connection.stop();
        connections.delete(ctx);
      },
    },
  };
}

/** The Mercurius `subscription` hook identityMercuriusSubscription() provides. */
export interface IdentityMercuriusHooks {
  onConnect(data: { payload?: unknown }): Promise<boolean | { [IDENTITY_ON_REQUEST]: Identity }>;
}

/**
 * Authentication for Mercurius subscriptions (`@nestjs/mercurius`, Fastify): spread into the
 * `subscription` option. `connection_init` is authenticated once, from its payload's
 * `authorization` (`'Bearer <token>'`); a refused connection gets Mercurius' `Forbidden` and is
 * closed. The identity joins the subscription context, where the guard re-checks expiry and
 * revocation for every operation (in memory); Mercurius gives this hook no socket, so an idle
 * connection is not closed at `exp` (use Apollo with identitySubscriptions() for that).
 *
 * ```ts
 * GraphQLModule.forRootAsync<MercuriusDriverConfig>({
 *   driver: MercuriusDriver,
 *   inject: [TokenAuthenticator],
 *   useFactory: (authenticator: TokenAuthenticator) => ({ autoSchemaFile: true, subscription: { ...identityMercuriusSubscription(authenticator) } }),
 * });
 * ```
 */
export function identityMercuriusSubscription(authenticator: TokenAuthenticator, options: Pick<IdentitySubscriptionsOptions, 'requireScopes' | 'allowAnonymous'> = {}): IdentityMercuriusHooks {
  return {
    async onConnect(data) {
      try {
        const credentials = connectionParamsCredentials(isObject(data) ? data.payload : undefined, PARAMETER_CAP);
        if (credentials.headers.authorization === undefined && options.allowAnonymous) return true;
        const identity = await authenticator.identify(credentials);
        if ((options.requireScopes ?? []).some((scope) => !identity.scopes.has(scope))) return false;
        return { [IDENTITY_ON_REQUEST]: identity };
      } catch (error) {
        if (!isIdentityError(error)) throw error;
        return false;
      }
    },
  };
}
