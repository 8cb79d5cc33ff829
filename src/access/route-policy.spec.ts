import 'reflect-metadata';
import { Reflector } from '@nestjs/core';
import { describe, expect, it } from 'vitest';
import { InsufficientScopeError } from '../errors/insufficient-scope.error.js';
import { compileClaims } from '../identity/claims-presets.js';
import { Identity } from '../identity/identity.js';
import { Authenticated } from './authenticated.decorator.js';
import { Public } from './public.decorator.js';
import { RequireRole } from './require-role.decorator.js';
import { RequireScope } from './require-scope.decorator.js';
import { authorize, routePolicy } from './route-policy.js';

@RequireScope('orders:read')
class OrdersController {
  list() {}
  @RequireScope('orders:write') create() {}
  @Public() health() {}
  @RequireRole({ any: ['admin', 'auditor'] }) audit() {}
}
@Public()
class OpenController {
  open() {}
  @Authenticated({ kind: 'service' }) machines() {}
}
class PlainController {
  plain() {}
}

const reflector = new Reflector();
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
const policy = (c: Function, h: Function) => routePolicy(reflector, c, h);
const identity = (scope: string, roles: string[] = [], use = 'user') =>
  Identity.fromClaims({ sub: use === 'user' ? 'u1' : 'sa:w', token_use: use, scope, user: use === 'user' ? { roles } : undefined }, compileClaims('s3db'))!;

describe('route policy', () => {
  it('accumulates class and method requirements (both must hold)', () => {
    const p = policy(OrdersController, OrdersController.prototype.create);
    expect(p.requirements.map((r) => ('values' in r ? r.values.join() : r.type))).toEqual(['orders:read', 'orders:write']);
    expect(() => authorize(identity('orders:read orders:write'), p.requirements)).not.toThrow();
    expect(() => authorize(identity('orders:write'), p.requirements)).toThrow(InsufficientScopeError);
  });

  it('a public method overrides its controller; a public controller yields to a method demand', () => {
    expect(policy(OrdersController, OrdersController.prototype.health)).toEqual({ isPublic: true, requirements: [] });
    expect(policy(OpenController, OpenController.prototype.open).isPublic).toBe(true);
    expect(policy(OpenController, OpenController.prototype.machines).isPublic).toBe(false);
    expect(policy(PlainController, PlainController.prototype.plain)).toEqual({ isPublic: false, requirements: [] });
  });

  it('any-of roles need one; kind restrictions refuse the other kind', () => {
    const audit = policy(OrdersController, OrdersController.prototype.audit).requirements;
    expect(() => authorize(identity('orders:read', ['auditor']), audit)).not.toThrow();
    expect(() => authorize(identity('orders:read', ['user']), audit)).toThrow(/Requires one of the roles: admin auditor/);
    const machines = policy(OpenController, OpenController.prototype.machines).requirements;
    expect(() => authorize(identity('x', [], 'service'), machines)).not.toThrow();
    expect(() => authorize(identity('x'), machines)).toThrow(/service accounts only/);
  });

  it('memoises per handler', () => {
    expect(policy(OrdersController, OrdersController.prototype.list)).toBe(policy(OrdersController, OrdersController.prototype.list));
  });

  it('refuses scope names that would break the WWW-Authenticate header', () => {
    expect(() => RequireScope('a b')).toThrow(/without spaces or quotes/);
    expect(() => RequireScope('a"b')).toThrow();
    expect(() => RequireScope()).toThrow();
  });
});

describe('authorize: the 403 challenge names every scope the route needs', () => {
  it('lists the scopes of the class and the method decorators together, not only the failing one', async () => {
    const { authorize: check } = await import('./route-policy.js');
    const { Identity } = await import('../identity/identity.js');
    const identity = new Identity({ kind: 'service', subject: 'sa:x', scopes: ['orders:read'], roles: [], claims: { sub: 'sa:x' } as never });
    const requirements = [
      { type: 'scope', mode: 'all', values: ['orders:read'] },
      { type: 'scope', mode: 'all', values: ['orders:write', 'audit:write'] },
    ] as const;
    let thrown: unknown;
    try {
      check(identity, requirements as never);
    } catch (error) {
      thrown = error;
    }
    expect((thrown as { headers(c: string): Record<string, string> }).headers('api')['WWW-Authenticate']).toContain('scope="orders:read orders:write audit:write"');
  });
});
