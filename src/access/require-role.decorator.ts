import { addRequirement, toRequirement, type RequirementArgs } from './route-requirements.js';

/** Requires every listed role (implies authentication); `{ any: [...] }` requires one of them. */
export const RequireRole = (...roles: RequirementArgs): ClassDecorator & MethodDecorator => addRequirement(toRequirement('role', roles));
