import { Catch, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { throwError, type Observable } from 'rxjs';
import { IdentityHttpError } from '../errors/identity-http.error.js';
import { InjectIdentityOptions } from '../identity-options.token.js';
import type { ResolvedIdentityOptions } from '../identity-options.js';
import { credentialReader } from './contexts/credential-readers.js';
import { identityErrorBody } from './contexts/identity-error-body.js';
import { websocketsPackage } from './contexts/optional-package.js';

/**
 * Answers our errors thrown from handlers (e.g. `identity.assertScope()`): over HTTP with their
 * headers; in a resolver as a GraphQLError, in a gateway as a WsException answer, in a message
 * handler as an RpcException answer (the same bodies the guard gives). Guards set headers
 * themselves, so this only matters past the guard.
 */
@Catch(IdentityHttpError)
export class IdentityExceptionFilter implements ExceptionFilter {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @InjectIdentityOptions() private readonly options: ResolvedIdentityOptions,
  ) {}

  catch(error: IdentityHttpError, host: ArgumentsHost): void | Observable<never> | Promise<never> {
    const type = host.getType<string>();
    if (type === 'rpc') return throwError(() => identityErrorBody(error));
    if (type === 'ws') return this.answerWs(error, host);
    if (type !== 'http') {
      const reader = credentialReader(type);
      if (!reader?.package) throw error;
      if (reader.package.loaded) throw reader.toError(error);
      return reader.package.load().then(() => {
        throw reader.toError(error);
      });
    }
    const adapter = this.adapterHost.httpAdapter;
    const response = host.switchToHttp().getResponse();
    for (const [name, value] of Object.entries(error.headers(this.options.challenge))) adapter.setHeader(response, name, value);
    adapter.reply(response, error.getResponse(), error.getStatus());
  }

  /** As Nest's own WebSocket filter answers a WsException: an `exception` event to the client. */
  private answerWs(error: IdentityHttpError, host: ArgumentsHost): void {
    const answer = (module: NonNullable<typeof websocketsPackage.loaded>) =>
      new module.BaseWsExceptionFilter().catch(new module.WsException({ status: 'error', ...identityErrorBody(error) }), host);
    if (websocketsPackage.loaded) return answer(websocketsPackage.loaded);
    void websocketsPackage.load().then(answer, () => undefined);
  }
}
