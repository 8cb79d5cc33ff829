import type { INestApplicationContext } from '@nestjs/common';
import { GUARDS_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryService, MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import { IdentityAppGuard } from '../access/identity-app.guard.js';
import { IdentityGuard } from '../access/identity.guard.js';
import { routePolicy } from '../access/route-policy.js';
import type { RouteRequirement } from '../access/route-requirements.js';
import { ServiceAccountsAdminGuard } from '../admin/service-accounts-admin.guard.js';
import type { ResolvedIdentityOptions } from '../identity-options.js';
import { routeSecurity, type RouteGuarding, type RouteSecurity } from './route-security.js';

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
type AnyFunction = Function;

/** One route handler of one controller class, and what our guards demand of it. */
export interface InventoriedRoute {
  readonly controller: AnyFunction;
  readonly methodName: string;
  /** `controller.prototype[methodName]`: shared by every subclass that inherits the method. */
  readonly handler: AnyFunction;
  readonly security: RouteSecurity;
}

/**
 * Every route handler of every controller in the application (each controller class once, even
 * when several modules list it), with the security our guards apply to it: the decorators as the
 * guard reads them (`routePolicy`), the module's `global` option, and the guards of ours found in
 * `@UseGuards()`.
 */
export function inventoryRoutes(app: INestApplicationContext, options: ResolvedIdentityOptions): InventoriedRoute[] {
  const discovery = new DiscoveryService(app.get(ModulesContainer, { strict: false }));
  const scanner = new MetadataScanner();
  const reflector = new Reflector();
  const seen = new Set<AnyFunction>();
  const routes: InventoriedRoute[] = [];
  for (const wrapper of discovery.getControllers()) {
    const controller = wrapper.metatype as AnyFunction | null | undefined;
    if (typeof controller !== 'function' || seen.has(controller)) continue;
    seen.add(controller);
    const prototype = controller.prototype as Record<string, unknown> | undefined;
    if (!prototype) continue;
    for (const methodName of scanner.getAllMethodNames(prototype)) {
      const handler = prototype[methodName];
      if (typeof handler !== 'function' || Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue;
      const policy = routePolicy(reflector, controller, handler);
      const security = routeSecurity(policy, guarding(controller, handler, options));
      routes.push(Object.freeze({ controller, methodName, handler, security }));
    }
  }
  return routes;
}

/** What the guards of ours in `@UseGuards()` (controller or method) add to the decorators. */
function guarding(controller: AnyFunction, handler: AnyFunction, options: ResolvedIdentityOptions): RouteGuarding {
  const guards = [...guardsOn(controller), ...guardsOn(handler)];
  const guardRequirements: RouteRequirement[] = [];
  let alwaysAuthenticates = false;
  for (const guard of guards) {
    if (isGuard(guard, ServiceAccountsAdminGuard)) {
      // The admin routes' guard checks the admin scope from the options, not from a decorator.
      alwaysAuthenticates = true;
      guardRequirements.push(Object.freeze({ type: 'scope', mode: 'all', values: Object.freeze([options.admin.scope]) }));
    } else if (isGuard(guard, IdentityAppGuard)) {
      // The app-wide guard's own rule: decorators or `global`, nothing more.
    } else if (isGuard(guard, IdentityGuard)) {
      alwaysAuthenticates = true;
    }
  }
  return { global: options.global, alwaysAuthenticates, guardRequirements };
}

function guardsOn(target: object): unknown[] {
  const guards = Reflect.getMetadata(GUARDS_METADATA, target) as unknown;
  return Array.isArray(guards) ? guards : [];
}

/** A guard given as a class (`@UseGuards(IdentityGuard)`) or as an instance. */
function isGuard(guard: unknown, type: AnyFunction): boolean {
  if (typeof guard === 'function') return guard === type || (guard as { prototype?: unknown }).prototype instanceof type;
  return typeof guard === 'object' && guard !== null && guard instanceof type;
}
