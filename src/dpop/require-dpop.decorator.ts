import { applyDecorators, SetMetadata, type ExecutionContext } from '@nestjs/common';
import { Authenticated } from '../access/authenticated.decorator.js';

export const IDENTITY_DPOP_REQUIRED = 'nestjs-identity:dpop-required';

/** Set once any @RequireDpop() is applied: until then the token path never looks for it. */
let anyRoute = false;

/**
 * The route (or every route of the controller) accepts only DPoP-bound access tokens with a valid
 * proof, whatever `dpop.mode` says (RFC 9449). Implies authentication. Bearer requests get 401
 * with a DPoP challenge. See docs/dpop.md.
 */
export const RequireDpop = (): ClassDecorator & MethodDecorator => {
  anyRoute = true;
  return applyDecorators(SetMetadata(IDENTITY_DPOP_REQUIRED, true), Authenticated()) as ClassDecorator & MethodDecorator;
};

const byClass = new WeakMap<object, WeakMap<object, boolean>>();

/** Whether the context's handler or its class carries @RequireDpop() (memoised per handler). */
export function routeRequiresDpop(context: Pick<ExecutionContext, 'getHandler' | 'getClass'> | undefined): boolean {
  if (!anyRoute || context === undefined) return false;
  const handler = context.getHandler?.();
  if (typeof handler !== 'function') return false;
  const controller: unknown = context.getClass?.();
  const holder = typeof controller === 'function' ? controller : handler;
  let byHandler = byClass.get(holder);
  if (byHandler === undefined) byClass.set(holder, (byHandler = new WeakMap()));
  let required = byHandler.get(handler);
  if (required === undefined) {
    required = Reflect.getMetadata(IDENTITY_DPOP_REQUIRED, handler) === true || (holder !== handler && Reflect.getMetadata(IDENTITY_DPOP_REQUIRED, holder) === true);
    byHandler.set(handler, required);
  }
  return required;
}
