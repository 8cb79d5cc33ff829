import type { IdentityKind } from '../identity/claims-mapping.js';

export const IDENTITY_PUBLIC = 'nestjs-identity:public';
export const IDENTITY_REQUIREMENTS = 'nestjs-identity:requirements';

/** One decorator's demand. Several on a route (class and method) must all hold. */
export type RouteRequirement =
  | { readonly type: 'authenticated'; readonly kind?: IdentityKind }
  | { readonly type: 'scope'; readonly mode: 'all' | 'any'; readonly values: readonly string[] }
  | { readonly type: 'role'; readonly mode: 'all' | 'any'; readonly values: readonly string[] };

/** `@RequireScope('a', 'b')` needs both; `@RequireScope({ any: ['a', 'b'] })` needs one. */
export type RequirementArgs = string[] | [{ any: string[] }];

export function toRequirement(type: 'scope' | 'role', args: RequirementArgs): RouteRequirement {
  const first = args[0];
  const anyForm = typeof first === 'object' && first !== null && Array.isArray(first.any);
  const values = anyForm ? (first as { any: string[] }).any : (args as string[]);
  if (values.length === 0 || values.some((value) => typeof value !== 'string' || !/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(value))) {
    throw new Error(`nestjs-identity: @Require${type === 'scope' ? 'Scope' : 'Role'}() needs one or more names without spaces or quotes`);
  }
  return Object.freeze({ type, mode: anyForm ? 'any' : 'all', values: Object.freeze([...values]) });
}

/** Appends a requirement to a class or method, so stacked decorators accumulate. */
export function addRequirement(requirement: RouteRequirement): ClassDecorator & MethodDecorator {
  return ((target: object, _key?: string | symbol, descriptor?: PropertyDescriptor) => {
    const holder = descriptor ? (descriptor.value as object) : target;
    const existing = (Reflect.getMetadata(IDENTITY_REQUIREMENTS, holder) as RouteRequirement[] | undefined) ?? [];
    Reflect.defineMetadata(IDENTITY_REQUIREMENTS, [...existing, requirement], holder);
    return descriptor;
  }) as ClassDecorator & MethodDecorator;
}
