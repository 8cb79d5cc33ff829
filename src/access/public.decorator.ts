import { SetMetadata } from '@nestjs/common';
import { IDENTITY_PUBLIC } from './route-requirements.js';

/**
 * Opts a route (or controller) out of authentication under `global: true`. On a method it also
 * overrides the controller's requirements.
 */
export const Public = (): ClassDecorator & MethodDecorator => SetMetadata(IDENTITY_PUBLIC, true);
