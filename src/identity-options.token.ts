import { Inject } from '@nestjs/common';

/** Token of the validated, frozen options (`ResolvedIdentityOptions`). */
export const IDENTITY_OPTIONS = Symbol('IDENTITY_OPTIONS');

/** Injects the validated options: `constructor(@InjectIdentityOptions() options: ResolvedIdentityOptions)`. */
export const InjectIdentityOptions = (): ParameterDecorator => Inject(IDENTITY_OPTIONS);
