/**
 * Errors whose message was written to hold no secret, token, key or response body declare
 * `readonly safeMessage = true`: audit events, logs and the CLI may repeat such a message as it is.
 * Anything else is described by its class name only.
 */
export interface SafeMessage {
  readonly safeMessage: true;
}

export function hasSafeMessage(error: unknown): error is Error & SafeMessage {
  return error instanceof Error && (error as Partial<SafeMessage>).safeMessage === true;
}
