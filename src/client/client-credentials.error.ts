/** The design document's troubleshooting row for `invalid_client` during start, word for word in spirit. */
export const INVALID_CLIENT_FIX =
  'credentials are wrong or scopes mismatch; re-run auto-provisioning (`nestjs-identity client provision`) or rotate with the CLI (`nestjs-identity client rotate`)';

/** The provider refused the API's own client at boot (the `client_credentials` probe). */
export class IdentityClientCredentialsError extends Error {
  /** Written to hold no secret, token or response body (see errors/safe-message.ts). */
  readonly safeMessage = true as const;
  override readonly name = 'IdentityClientCredentialsError';
  constructor(
    readonly clientId: string,
    /** The token endpoint's error code: invalid_client, invalid_scope, unauthorized_client. */
    readonly oauthError: string,
  ) {
    super(`Identity refused the API's client "${clientId}" (${oauthError}) during start: ${INVALID_CLIENT_FIX}`);
  }
}
