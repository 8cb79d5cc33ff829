/** A configuration mistake found at boot. The message names the option and the fix. */
export class IdentityConfigurationError extends Error {
  /** Written to hold no secret, token or response body (see errors/safe-message.ts). */
  readonly safeMessage = true as const;
  override readonly name = 'IdentityConfigurationError';
  constructor(readonly option: string, message: string) {
    super(`nestjs-identity: option "${option}": ${message}`);
  }
}
