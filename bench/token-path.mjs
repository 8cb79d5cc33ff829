// The token path of one build of the module, without HTTP, for the in-process tools (micro.mjs,
// compare.mjs): two apps (default verified-token cache, and tokenCache: false) with the guard
// wired as Nest wires it, an execution context for a `GET /hello` route decorated
// @Authenticated(), and requests as Node builds them.
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
  const build = async (tokenCache) => {
    class AppModule {}
    Reflect.decorate([Module({ imports: [lib.IdentityModule.forRoot({ url: issuer, audience, tokenCache })], controllers: [Hello] })], AppModule);
    const app = await NestFactory.create(AppModule, { logger: false });
    await app.init();
    const authenticator = app.get(lib.TokenAuthenticator);
    const guard = new lib.IdentityAppGuard(app.get(Reflector), authenticator, app.get(HttpAdapterHost), app.get(lib.IDENTITY_OPTIONS));
    return { app, authenticator, guard };
  };
  const cached = await build(undefined);
  const uncached = await build(false);
  return { cached, uncached, context, close: () => Promise.all([cached.app.close(), uncached.app.close()]) };
}
