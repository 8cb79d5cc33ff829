import type { Provider } from '@nestjs/common';
import { IdentityConfigurationError } from '../errors/identity-configuration.error.js';
import { IDENTITY_OPTIONS } from '../identity-options.token.js';
import type { ResolvedIdentityOptions } from '../identity-options.js';
import { SecretBox } from './secret-box.js';

/** Token of the SecretBox (undefined when no `encryptionKey` is configured). */
export const IDENTITY_SECRET_BOX = Symbol('IDENTITY_SECRET_BOX');

export const KEY_GENERATION_HINT = 'generate one with: node -e "console.log(require(\'crypto\').randomBytes(32).toString(\'base64\'))"';

export const secretBoxProvider: Provider = {
  provide: IDENTITY_SECRET_BOX,
  useFactory: (options: ResolvedIdentityOptions) => (options.encryptionKey ? new SecretBox(options.encryptionKey) : undefined),
  inject: [IDENTITY_OPTIONS],
};

/** The box, or a configuration error that says why a key is needed and how to make one. */
export function requireSecretBox(box: SecretBox | undefined, why: string): SecretBox {
  if (!box) throw new IdentityConfigurationError('encryptionKey', `is required ${why} (secrets are sealed at rest with AES-256-GCM); ${KEY_GENERATION_HINT}`);
  return box;
}
