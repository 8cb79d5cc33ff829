import { ConfigurableModuleBuilder, Inject } from '@nestjs/common';
import type { IdentityModuleOptions } from './identity-options.js';

export const {
  ConfigurableModuleClass: IdentityConfigurableModule,
  MODULE_OPTIONS_TOKEN: IDENTITY_MODULE_OPTIONS,
  OPTIONS_TYPE: IDENTITY_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: IDENTITY_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<IdentityModuleOptions>({ moduleName: 'Identity' })
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: true }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();

/** Token of the validated, frozen options (`ResolvedIdentityOptions`). */
export const IDENTITY_OPTIONS = Symbol('IDENTITY_OPTIONS');

/** Injects the validated options: `constructor(@InjectIdentityOptions() options: ResolvedIdentityOptions)`. */
export const InjectIdentityOptions = (): ParameterDecorator => Inject(IDENTITY_OPTIONS);
