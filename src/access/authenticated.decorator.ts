import type { IdentityKind } from '../identity/claims-mapping.js';
import { addRequirement } from './route-requirements.js';

/**
 * Any valid token. `@Authenticated({ kind: 'service' })` admits only service accounts,
 * `{ kind: 'user' }` only people.
 */
export const Authenticated = (options: { kind?: IdentityKind } = {}): ClassDecorator & MethodDecorator =>
  addRequirement(Object.freeze({ type: 'authenticated', kind: options.kind }));
