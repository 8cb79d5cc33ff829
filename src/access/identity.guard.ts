import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import { IdentityHttpError } from '../errors/identity-http.error.js';
import type { Identity } from '../identity/identity.js';
import { InjectIdentityOptions } from '../identity-options.token.js';
import type { ResolvedIdentityOptions } from '../identity-options.js';
import type { RequestWithHeaders } from '../tokens/bearer-token.js';
import { TokenAuthenticator } from '../tokens/token-authenticator.service.js';
import { IDENTITY_ON_REQUEST } from './identity-on-request.js';
import { authorize, routePolicy, type RoutePolicy } from './route-policy.js';

type GuardedRequest = RequestWithHeaders & { [IDENTITY_ON_REQUEST]?: Identity; user?: unknown };

/**
 * Authenticates the caller and checks the route's scope/role decorators. Used on a route with
 * `@UseGuards(IdentityGuard)` it always demands a valid token. Subclass it for GraphQL or
 * WebSockets by overriding `getRequest` (and `getResponse`); an execution context it does not
 * understand is denied, never allowed.
 */
@Injectable()
export class IdentityGuard implements CanActivate {
  constructor(
    protected readonly reflector: Reflector,
    protected readonly authenticator: TokenAuthenticator,
    protected readonly adapterHost: HttpAdapterHost,
    @InjectIdentityOptions() protected readonly options: ResolvedIdentityOptions,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const policy = routePolicy(this.reflector, context.getClass(), context.getHandler());
    if (policy.isPublic || !this.mustAuthenticate(policy)) return true;
    const request = this.getRequest(context);
    if (!request || typeof request.headers !== 'object' || request.headers === null) return false;
    const known = request[IDENTITY_ON_REQUEST];
    if (known) return this.check(known, policy, context);
    // A verified-token cache hit is answered synchronously: no promise for Nest to await.
    const result = this.authenticator.identify(request);
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

  /** The request carrying the headers. Override for GraphQL (`GqlExecutionContext`) or WebSockets. */
  protected getRequest(context: ExecutionContext): GuardedRequest | undefined {
    return context.getType() === 'http' ? context.switchToHttp().getRequest<GuardedRequest>() : undefined;
  }

  /** Where WWW-Authenticate goes; undefined when the context has no HTTP response. */
  protected getResponse(context: ExecutionContext): unknown {
    return context.getType() === 'http' ? context.switchToHttp().getResponse() : undefined;
  }

  /** Sets the error's headers (WWW-Authenticate, Retry-After) and throws it. */
  protected reject(error: unknown, context: ExecutionContext): never {
    const response = this.getResponse(context);
    const adapter = this.adapterHost?.httpAdapter;
    if (error instanceof IdentityHttpError && response && adapter) {
      for (const [name, value] of Object.entries(error.headers(this.options.realm))) adapter.setHeader(response, name, value);
    }
    throw error;
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
