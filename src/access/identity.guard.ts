import { Injectable, Optional, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import { routeRequiresDpop } from '../dpop/require-dpop.decorator.js';
import { IdentityHttpError } from '../errors/identity-http.error.js';
import { InvalidTokenError } from '../errors/invalid-token.error.js';
import { Identity } from '../identity/identity.js';
import { InjectIdentityOptions } from '../identity-options.token.js';
import type { ResolvedIdentityOptions } from '../identity-options.js';
import { RevocationService } from '../revocation/revocation.service.js';
import type { RequestWithHeaders } from '../tokens/bearer-token.js';
import { TokenAuthenticator } from '../tokens/token-authenticator.service.js';
import type { CredentialReader, IdentityCarrier } from './contexts/credential-reader.js';
import { credentialReader } from './contexts/credential-readers.js';
import { endedBecause } from './contexts/identity-liveness.js';
import { IDENTITY_ON_REQUEST } from './identity-on-request.js';
import { authorize, routePolicy, type RoutePolicy } from './route-policy.js';

type GuardedRequest = RequestWithHeaders & { [IDENTITY_ON_REQUEST]?: Identity; user?: unknown };

/**
 * Authenticates the caller and checks the route's scope/role decorators, in every kind of Nest
 * app: HTTP controllers, GraphQL resolvers, WebSocket gateways and message handlers. It picks a
 * credential reader by `context.getType()` (see `contexts/`): each knows where the token comes
 * from and where the identity is kept, and errors leave in the context's own form (an RFC 6750
 * answer over HTTP, a GraphQLError, a WsException, an RpcException). A context type it cannot
 * read is denied, never allowed. Used with `@UseGuards(IdentityGuard)` it always demands a token.
 */
@Injectable()
export class IdentityGuard implements CanActivate {
  constructor(
    protected readonly reflector: Reflector,
    protected readonly authenticator: TokenAuthenticator,
    protected readonly adapterHost: HttpAdapterHost,
    @InjectIdentityOptions() protected readonly options: ResolvedIdentityOptions,
    /** Re-checks identities kept across calls (a socket, a subscription) for revocation, in memory. */
    @Optional() protected readonly revocations?: RevocationService,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const policy = routePolicy(this.reflector, context.getClass(), context.getHandler());
    // Other contexts go through their reader, unless a subclass reads the request itself (getRequest).
    if (context.getType() !== 'http' && this.getRequest(context) === undefined) return this.activateIn(context, policy);
    if (policy.isPublic || !this.mustAuthenticate(policy)) return true;
    const request = this.getRequest(context);
    if (!request || typeof request.headers !== 'object' || request.headers === null) return false;
    const known = request[IDENTITY_ON_REQUEST];
    if (known) return this.check(known, policy, context);
    // A verified-token cache hit is answered synchronously: no promise for Nest to await. The
    // context lets the token path see @RequireDpop() and reach the response (DPoP-Nonce).
    const result = this.authenticator.identify(request, context);
    if (!(result instanceof Promise)) return this.admit(request, result, policy, context);
    return result.then(
      (identity) => this.admit(request, identity, policy, context),
      (error: unknown) => this.reject(error, context),
    );
  }

  /** Whether a route without identity decorators still needs a token. The route guard: always. */
  protected mustAuthenticate(_policy: RoutePolicy): boolean {
    return true;
  }

  /**
   * The HTTP request carrying the headers; undefined outside HTTP, where the context's reader
   * applies. A subclass that returns a request for another context (the way GraphQL was supported
   * before readers) keeps that behaviour.
   */
  protected getRequest(context: ExecutionContext): GuardedRequest | undefined {
    return context.getType() === 'http' ? context.switchToHttp().getRequest<GuardedRequest>() : undefined;
  }

  /** Where WWW-Authenticate goes; undefined when the context has no HTTP response. */
  protected getResponse(context: ExecutionContext): unknown {
    return context.getType() === 'http' ? context.switchToHttp().getResponse() : undefined;
  }

  /**
   * Throws the error in the context's form: over HTTP with its headers (WWW-Authenticate,
   * Retry-After) set; elsewhere as the context's own exception (GraphQLError, WsException, RpcException).
   */
  protected reject(error: unknown, context: ExecutionContext): never {
    const response = this.getResponse(context);
    const adapter = this.adapterHost?.httpAdapter;
    if (error instanceof IdentityHttpError && response && adapter) {
      for (const [name, value] of Object.entries(error.headers(this.options.challenge))) adapter.setHeader(response, name, value);
    }
    if (error instanceof IdentityHttpError && context.getType() !== 'http') {
      const reader = credentialReader(context.getType());
      if (reader && (!reader.package || reader.package.loaded)) throw reader.toError(error);
    }
    throw error;
  }

  /** GraphQL, WebSockets, microservices: the same policy, through the context's credential reader. */
  private activateIn(context: ExecutionContext, policy: RoutePolicy): boolean | Promise<boolean> {
    if (policy.isPublic || !this.mustAuthenticate(policy)) return true;
    const reader = credentialReader(context.getType());
    if (!reader) return false;
    // The first call of a context type loads the package its errors come from (it is installed: Nest used it).
    if (reader.package && !reader.package.loaded) {
      return reader.package.load().then(
        () => this.activateIn(context, policy),
        () => false,
      );
    }
    const carrier = reader.carrier(context);
    if (!carrier) return false;
    // GraphQL over HTTP: the carrier is the HTTP request, where the token path checks DPoP proofs.
    const httpRequest = reader.type === 'graphql' && isHttpRequest(carrier);
    const dpopRequired = routeRequiresDpop(context);
    // A WebSocket message, an RPC message or a subscription carries no DPoP proof for the call
    // (a handshake has no route): @RequireDpop() there can never be met, so it is refused.
    if (dpopRequired && !httpRequest) return this.reject(new InvalidTokenError('dpop_required'), context);
    const known = carrier[IDENTITY_ON_REQUEST];
    if (known instanceof Identity) {
      // Another field of the same request verified the token: a Bearer one (not bound to a key,
      // hence verified without a proof) does not meet @RequireDpop().
      if (dpopRequired && !hasBoundKey(known)) return this.reject(new InvalidTokenError('dpop_required'), context);
      // Kept across calls (a socket, a subscription connection): still unexpired and unrevoked? No I/O.
      const ended = endedBecause(known, this.revocations);
      return ended ? this.reject(ended, context) : this.check(known, policy, context);
    }
    let result: Identity | Promise<Identity>;
    try {
      // The context lets @RequireDpop() apply and a DPoP nonce reach the response (GraphQL over HTTP only).
      const credentials = reader.credentials(carrier, this.options.maxTokenLength);
      result = httpRequest ? this.authenticator.identify(credentials, context) : this.authenticator.identify(credentials);
    } catch (error) {
      return this.reject(error, context);
    }
    if (!(result instanceof Promise)) return this.admitIn(reader, carrier, result, policy, context);
    return result.then(
      (identity) => this.admitIn(reader, carrier, identity, policy, context),
      (error: unknown) => this.reject(error, context),
    );
  }

  private admitIn(reader: CredentialReader, carrier: IdentityCarrier, identity: Identity, policy: RoutePolicy, context: ExecutionContext): boolean {
    carrier[IDENTITY_ON_REQUEST] = identity;
    // An HTTP request under GraphQL also gets request.user, for Passport habits.
    if (reader.type === 'graphql' && 'headers' in carrier) carrier.user = identity;
    return this.check(identity, policy, context);
  }

  private admit(request: GuardedRequest, identity: Identity, policy: RoutePolicy, context: ExecutionContext): boolean {
    request[IDENTITY_ON_REQUEST] = identity;
    request.user = identity;
    return this.check(identity, policy, context);
  }

  private check(identity: Identity, policy: RoutePolicy, context: ExecutionContext): boolean {
    try {
      authorize(identity, policy.requirements);
      return true;
    } catch (error) {
      return this.reject(error, context);
    }
  }
}

/** An HTTP request (GraphQL's `context.req`): it has headers, a method and a URL for a DPoP proof to name. */
function isHttpRequest(carrier: IdentityCarrier): boolean {
  const value = carrier as Record<string, unknown>;
  return typeof value.headers === 'object' && value.headers !== null && typeof value.method === 'string';
}

/** Whether the identity's token is bound to a key (`cnf.jkt`): the token path accepts one only with its proof. */
function hasBoundKey(identity: Identity): boolean {
  const cnf = identity.claims.cnf as { jkt?: unknown } | undefined;
  return typeof cnf === 'object' && cnf !== null && typeof cnf.jkt === 'string';
}
