import { addRequirement, toRequirement, type RequirementArgs } from './route-requirements.js';

/** Requires every listed scope (implies authentication); `{ any: [...] }` requires one of them. */
export const RequireScope = (...scopes: RequirementArgs): ClassDecorator & MethodDecorator => addRequirement(toRequirement('scope', scopes));
