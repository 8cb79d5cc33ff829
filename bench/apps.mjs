// The benchmark apps: `GET /hello` on Express or Fastify, guarded (or not) by one of the modes
// below. Used by bench/app.mjs (one app per process, over HTTP) and bench/inject.mjs (several apps
// in one process, without sockets). Every call builds fresh classes, so apps do not share
// decorator metadata. The module is imported from the COMPILED tree (dist/, or `dist` given).
import 'reflect-metadata';
import { Controller, Get, Injectable, Module, UseGuards } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { pathToFileURL } from 'node:url';

/** Applies TypeScript-style decorators to a plain class (these files are plain ESM, no compiler). */
function decorateMethod(target, name, decorators) {
  const descriptor = Object.getOwnPropertyDescriptor(target.prototype, name);
  Reflect.decorate(decorators, target.prototype, name, descriptor);
}

/** The same handler body in every case: the cost measured is the guard's, not the handler's. */
function helloController(decorators) {
  class HelloController {
    hello() {
      return 'hello';
    }
  }
  decorateMethod(HelloController, 'hello', [Get('hello'), ...decorators]);
  Reflect.decorate([Controller()], HelloController);
  return HelloController;
}

function appModule(metadata) {
  class AppModule {}
  Reflect.decorate([Module(metadata)], AppModule);
  return AppModule;
}

const modes = {
  /** No authentication: the baseline. */
  none: async () => appModule({ controllers: [helloController([])] }),

  /** The floor of any guard: an APP_GUARD that admits everything (what Nest's guard machinery costs). */
  noop: async () => {
    class AllowAll {
      canActivate() {
        return true;
      }
    }
    Reflect.decorate([Injectable()], AllowAll);
    return appModule({ controllers: [helloController([])], providers: [{ provide: APP_GUARD, useClass: AllowAll }] });
  },

  /** nestjs-identity: the APP_GUARD enforces `@Authenticated()` on the route. `revocation: false` turns the revocation check off. */
  module: async (config) => {
    const { IdentityModule, Authenticated } = await import(moduleEntry(config));
    const options = { url: config.issuer, audience: config.audience, tokenCache: config.tokenCache, jwksCooldown: config.jwksCooldown };
    if (config.revocation === false) options.revocation = { enabled: false };
    if (config.dpop) options.dpop = { mode: 'allowed' };
    return appModule({ imports: [IdentityModule.forRoot(options)], controllers: [helloController([Authenticated()])] });
  },

  /**
   * The classic recipe most NestJS apps use: @nestjs/passport + passport-jwt, keys from jwks-rsa's
   * passportJwtSecret (cached, rate limited). jsonwebtoken gets a PEM string and parses it per request.
   */
  classic: async (config) => {
    const { PassportModule, PassportStrategy, AuthGuard } = await import('@nestjs/passport');
    const { Strategy, ExtractJwt } = await import('passport-jwt');
    const { passportJwtSecret } = await import('jwks-rsa');
    const jwksUri = `${config.issuer}/.well-known/jwks.json`;
    class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
      constructor() {
        super({
          jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
          secretOrKeyProvider: passportJwtSecret({ jwksUri, cache: true, rateLimit: true, jwksRequestsPerMinute: 5 }),
          issuer: config.issuer,
          audience: config.audience,
          algorithms: ['RS256'],
        });
      }
      validate(payload) {
        return payload;
      }
    }
    Reflect.decorate([Injectable()], JwtStrategy);
    return appModule({ imports: [PassportModule], controllers: [helloController([UseGuards(AuthGuard('jwt'))])], providers: [JwtStrategy] });
  },
};

/** `dist` (an absolute path) lets run.mjs --ab compare another build in the same rounds. */
export function moduleEntry(config) {
  return config.dist ? pathToFileURL(`${config.dist}/src/index.js`).href : new URL('../dist/src/index.js', import.meta.url).href;
}

/**
 * Builds and initialises (not listening) the app for config = { adapter, mode, issuer, audience,
 * tokenCache, jwksCooldown, revocation, revocations, dpop, dist }.
 */
export async function createBenchApp(config) {
  const mode = modes[config.mode];
  if (!mode) throw new Error(`unknown mode ${config.mode}; known: ${Object.keys(modes).join(', ')}`);
  const AppModule = await mode(config);
  let app;
  if (config.adapter === 'fastify') {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    app = await NestFactory.create(AppModule, new FastifyAdapter(), { logger: false });
  } else {
    app = await NestFactory.create(AppModule, { logger: false });
  }
  await app.init();
  if (config.adapter === 'fastify') await app.getHttpAdapter().getInstance().ready();
  // Revocations that match nobody the bench sends: the cost measured is the lookup on every request.
  if (config.revocations > 0) {
    const { RevocationService } = await import(moduleEntry(config));
    const revocations = app.get(RevocationService);
    for (let i = 0; i < config.revocations; i++) await revocations.revoke({ subject: `bench-revoked-${i}` }, 'bench');
  }
  return app;
}
