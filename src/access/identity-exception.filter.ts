import { Catch, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { IdentityHttpError } from '../errors/identity-http.error.js';
import { InjectIdentityOptions } from '../identity-options.token.js';
import type { ResolvedIdentityOptions } from '../identity-options.js';

/**
 * Answers our errors thrown from handlers (e.g. `identity.assertScope()`) with their headers.
 * Guards set headers themselves, so this only matters past the guard.
 */
@Catch(IdentityHttpError)
export class IdentityExceptionFilter implements ExceptionFilter {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @InjectIdentityOptions() private readonly options: ResolvedIdentityOptions,
  ) {}

  catch(error: IdentityHttpError, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw error;
    const adapter = this.adapterHost.httpAdapter;
    const response = host.switchToHttp().getResponse();
    for (const [name, value] of Object.entries(error.headers(this.options.realm))) adapter.setHeader(response, name, value);
    adapter.reply(response, error.getResponse(), error.getStatus());
  }
}
