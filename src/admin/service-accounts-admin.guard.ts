import { Injectable, NotFoundException, type ExecutionContext } from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import { IDENTITY_ON_REQUEST } from '../access/identity-on-request.js';
import { IdentityGuard } from '../access/identity.guard.js';
import { IdentityAudit } from '../audit/identity-audit.service.js';
import { IdentityHttpError } from '../errors/identity-http.error.js';
import { InsufficientScopeError } from '../errors/insufficient-scope.error.js';
import type { Identity } from '../identity/identity.js';
import { InjectIdentityOptions } from '../identity-options.token.js';
import type { ResolvedIdentityOptions } from '../identity-options.js';
import { TokenAuthenticator } from '../tokens/token-authenticator.service.js';

/**
 * The admin routes' guard: 404 unless `admin.enabled`; then the module's own authentication
 * (IdentityGuard); then the admin scope (`admin.scope`, default `identity:admin`) or, when
 * configured, the admin role. Both come from options, so they are checked here at runtime rather
 * than by a decorator. Every refusal is audited.
 */
@Injectable()
export class ServiceAccountsAdminGuard extends IdentityGuard {
  constructor(
    reflector: Reflector,
    authenticator: TokenAuthenticator,
    adapterHost: HttpAdapterHost,
    @InjectIdentityOptions() options: ResolvedIdentityOptions,
    private readonly audit: IdentityAudit,
  ) {
    super(reflector, authenticator, adapterHost, options);
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    // Disabled admin routes look like routes that do not exist.
    if (!this.options.admin.enabled) throw new NotFoundException();
    try {
      if (!(await super.canActivate(context))) return false;
      const identity = this.identityOf(context)!;
      const { scope, role } = this.options.admin;
      if (identity.hasScope(scope) || (role !== undefined && identity.hasRole(role))) return true;
      const description = role ? `Requires the scope ${scope} or the role ${role}` : `Missing required scope: ${scope}`;
      return this.reject(new InsufficientScopeError(scope, description), context);
    } catch (error) {
      // Awaited: the refusal is on record before the caller hears of it.
      const why = error instanceof IdentityHttpError ? `${error.getStatus()} ${error.code ?? 'no bearer token'}` : 'refused';
      await this.audit.record({ action: 'admin.denied', actor: this.identityOf(context)?.describe() ?? 'anonymous', outcome: 'denied', detail: `${context.getHandler().name}: ${why}` });
      throw error;
    }
  }

  private identityOf(context: ExecutionContext): Identity | undefined {
    return this.getRequest(context)?.[IDENTITY_ON_REQUEST];
  }
}
