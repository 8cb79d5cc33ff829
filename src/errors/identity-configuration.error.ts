/** A configuration mistake found at boot. The message names the option and the fix. */
export class IdentityConfigurationError extends Error {
  override readonly name = 'IdentityConfigurationError';
  constructor(readonly option: string, message: string) {
    super(`nestjs-identity: option "${option}": ${message}`);
  }
}
