import { Catch, type ArgumentsHost } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { IdentityExceptionFilter } from '../access/identity-exception.filter.js';
import { usesDpopScheme } from '../dpop/dpop-request.js';
import { dpopOnly, type IdentityChallenge } from '../errors/identity-challenge.js';
import { IdentityHttpError } from '../errors/identity-http.error.js';
import { InjectIdentityOptions } from '../identity-options.token.js';
import type { ResolvedIdentityOptions } from '../identity-options.js';
import type { RequestWithHeaders } from '../tokens/bearer-token.js';

/**
 * The module's exception filter: IdentityExceptionFilter, with every HTTP answer given this
 * resource's whole challenge (`resource_metadata`, the DPoP challenge and its `algs`) rather than
 * a bare realm, and a 403 told in the scheme the request used. An error that already carries the
 * challenge of its route (set on the token path) keeps it.
 */
@Catch(IdentityHttpError)
export class IdentityChallengeFilter extends IdentityExceptionFilter {
  private readonly challenge: IdentityChallenge;
  private readonly dpopChallenge: IdentityChallenge;

  constructor(adapterHost: HttpAdapterHost, @InjectIdentityOptions() options: ResolvedIdentityOptions) {
    super(adapterHost, options);
    this.challenge = options.challenge;
    this.dpopChallenge = options.challenge.schemes.includes('DPoP') ? options.challenge : dpopOnly(options.challenge);
  }

  override catch(error: IdentityHttpError, host: ArgumentsHost): ReturnType<IdentityExceptionFilter['catch']> {
    if (host.getType() === 'http') {
      const request = host.switchToHttp().getRequest<RequestWithHeaders | undefined>();
      const dpop = typeof request?.headers === 'object' && request.headers !== null && usesDpopScheme(request);
      // A 401 offers what the resource accepts (a route that demands DPoP set its own on the token
      // path); any other answer is told in the scheme the request used, DPoP even where it is only
      // accepted on @RequireDpop() routes.
      error.challengeFor(dpop && error.getStatus() !== 401 ? this.dpopChallenge : this.challenge, dpop ? 'DPoP' : 'Bearer');
    }
    return super.catch(error, host);
  }
}
