/** Boot could not load metadata and `require` (or `requireFreshMetadata`) forbids going on. */
export class IdentityMetadataUnavailableError extends Error {
  override readonly name = 'IdentityMetadataUnavailableError';
  constructor(readonly triedUrls: readonly string[], readonly reason: string) {
    super(
      `Identity metadata unavailable: tried ${triedUrls.join(', ') || '(no URL)'}: ${reason}. ` +
        'Check networking and that /.well-known/s3db-identity.json (or OIDC discovery) is reachable; ' +
        'or set requireFreshMetadata: false to boot from the last cached copy.',
    );
  }
}
