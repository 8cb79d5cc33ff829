import type { InventoriedRoute } from './route-inventory.js';

/** The operation extension that carries a route's mark through @nestjs/swagger; removed from the final document. */
export const ROUTE_MARKER = 'x-nestjs-identity-route';

export interface RouteMarks {
  readonly markerKey: string;
  /** The route an operation's mark names. */
  routeOf(mark: unknown): InventoriedRoute | undefined;
  /** Puts every controller method back as it was. */
  unmark(): void;
}

/**
 * Marks every route so that the operations @nestjs/swagger builds name the route they came from.
 * @nestjs/swagger reads each endpoint's metadata from `controller.prototype[methodName]` and copies
 * its `@ApiExtension()` metadata (`extensionKey`) into the operation. Each route's method is
 * shadowed, on its own controller's prototype, by a stand-in function with the same name and a copy
 * of the handler's metadata plus one extension: the mark. A stand-in per controller (rather than a
 * mark on the handler itself) keeps apart the controllers that inherit one handler from a base
 * class but differ in their class-level decorators. The stand-ins only forward calls and live only
 * while `SwaggerModule.createDocument` runs (synchronously); `unmark()` restores the prototypes.
 */
export function markRoutes(routes: readonly InventoriedRoute[], extensionKey: string): RouteMarks {
  const byMark = new Map<string, InventoriedRoute>();
  const restore: Array<() => void> = [];
  for (const route of routes) {
    const mark = `r${byMark.size + 1}`;
    if (shadow(route, extensionKey, mark, restore)) byMark.set(mark, route);
  }
  return {
    markerKey: ROUTE_MARKER,
    routeOf: (mark) => (typeof mark === 'string' ? byMark.get(mark) : undefined),
    unmark: () => {
      for (const undo of restore.reverse()) undo();
      restore.length = 0;
    },
  };
}

function shadow(route: InventoriedRoute, extensionKey: string, mark: string, restore: Array<() => void>): boolean {
  const prototype = route.controller.prototype as object;
  const handler = route.handler;
  const own = Object.getOwnPropertyDescriptor(prototype, route.methodName);
  const standIn = function (this: unknown, ...args: unknown[]): unknown {
    return (handler as (...args: unknown[]) => unknown).apply(this, args);
  };
  Object.defineProperty(standIn, 'name', { value: handler.name });
  for (const key of Reflect.getOwnMetadataKeys(handler)) Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, handler), standIn);
  const extensions = (Reflect.getMetadata(extensionKey, handler) as Record<string, unknown> | undefined) ?? {};
  Reflect.defineMetadata(extensionKey, { ...extensions, [ROUTE_MARKER]: mark }, standIn);
  try {
    Object.defineProperty(prototype, route.methodName, { value: standIn, writable: true, configurable: true, enumerable: own?.enumerable ?? false });
  } catch {
    // A frozen prototype: this route keeps whatever security the app documents itself.
    return false;
  }
  restore.push(() => {
    if (own) Object.defineProperty(prototype, route.methodName, own);
    else delete (prototype as Record<string, unknown>)[route.methodName];
  });
  return true;
}
