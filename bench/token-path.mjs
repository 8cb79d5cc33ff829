// The token path of one build of the module, without HTTP, for the in-process tools (micro.mjs,
// compare.mjs): two apps (default verified-token cache, and tokenCache: false) with the guard
// wired as Nest wires it, an execution context for a `GET /hello` route decorated
// @Authenticated(), and requests as Node builds them. revocationApps() adds the cached app with
// revocations off, and on with a given number of revocations loaded (none matching the tokens).
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory, Reflector, HttpAdapterHost } from '@nestjs/core';

export const requestFor = (token) => ({ headers: { host: '127.0.0.1', authorization: `Bearer ${token}` }, rawHeaders: ['Host', '127.0.0.1', 'Authorization', `Bearer ${token}`] });

/** `lib` is the build's index module (dist/src/index.js). */
export async function tokenPathApps(lib, { issuer, audience }) {
  class Hello {
    hello() {
      return 'hello';
    }
  }
  Reflect.decorate([Get('hello'), lib.Authenticated()], Hello.prototype, 'hello', Object.getOwnPropertyDescriptor(Hello.prototype, 'hello'));
  Reflect.decorate([Controller()], Hello);
  const context = (request) => ({
    getClass: () => Hello,
    getHandler: () => Hello.prototype.hello,
    getType: () => 'http',
    switchToHttp: () => ({ getRequest: () => request, getResponse: () => ({}) }),
  });
  const build = async (tokenCache, extra = {}) => {
    class AppModule {}
    Reflect.decorate([Module({ imports: [lib.IdentityModule.forRoot({ url: issuer, audience, tokenCache, ...extra })], controllers: [Hello] })], AppModule);
    const app = await NestFactory.create(AppModule, { logger: false });
    await app.init();
    const authenticator = app.get(lib.TokenAuthenticator);
    const guard = new lib.IdentityAppGuard(app.get(Reflector), authenticator, app.get(HttpAdapterHost), app.get(lib.IDENTITY_OPTIONS));
    return { app, authenticator, guard };
  };
  const cached = await build(undefined);
  const uncached = await build(false);
  return { cached, uncached, context, build, close: () => Promise.all([cached.app.close(), uncached.app.close()]) };
}

/**
 * The cached app twice more: `off` with `revocation: { enabled: false }`, `on` with `count`
 * revocations loaded through RevocationService (a third each of client ids, subjects and jtis;
 * none names the benchmark's tokens, so every request still passes, after the list is consulted).
 * `RevocationService` is the build's class (dist/src/revocation/revocation.service.js).
 */
export async function revocationApps(paths, RevocationService, count) {
  const off = await paths.build(undefined, { revocation: { enabled: false }, audit: false });
  const on = await paths.build(undefined, { audit: false });
  const service = on.app.get(RevocationService);
  const kinds = ['clientId', 'subject', 'jti'];
  for (let i = 0; i < count; i++) await service.revoke({ [kinds[i % 3]]: `bench-${kinds[i % 3]}-${i}` }, 'bench');
  return { off, on, service, close: () => Promise.all([off.app.close(), on.app.close()]) };
}
