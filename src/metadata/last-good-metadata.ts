import type { IdentityMetadata, MetadataSource } from './identity-metadata.js';
import { metadataFromDocument, MetadataValidationError } from './metadata-document.js';
import type { OutboundPolicy } from './safe-fetch.js';

/** Key of the last good metadata copy in the CredentialStore. */
export const LAST_GOOD_METADATA_KEY = 'metadata:last-good';

const SOURCES: readonly MetadataSource[] = ['s3db', 'oidc-discovery', 'rfc8414', 'inline'];

/** `{ fetchedAt, metadata }` as JSON: what a restarted process (or another replica) may boot from. */
export function serializeLastGood(metadata: IdentityMetadata): string {
  const { fetchedAt, ...rest } = metadata;
  return JSON.stringify({ fetchedAt: fetchedAt.toISOString(), metadata: rest });
}

function unusable(problem: string): MetadataValidationError {
  return new MetadataValidationError(LAST_GOOD_METADATA_KEY, `persisted metadata "${LAST_GOOD_METADATA_KEY}" ${problem}`);
}

/**
 * Reads a persisted copy back, validated again against today's issuer and URL policy (the
 * configuration may have changed since it was written).
 */
export function parseLastGood(text: string, context: { issuer: string; policy: OutboundPolicy }): IdentityMetadata {
  let stored: unknown;
  try {
    stored = JSON.parse(text);
  } catch {
    throw unusable('is not valid JSON');
  }
  const { fetchedAt, metadata } = (stored ?? {}) as { fetchedAt?: unknown; metadata?: Record<string, unknown> };
  const at = typeof fetchedAt === 'string' ? new Date(fetchedAt) : undefined;
  if (!at || Number.isNaN(at.getTime())) throw unusable('has no valid fetchedAt');
  if (!metadata || typeof metadata !== 'object') throw unusable('has no metadata object');
  const source = SOURCES.find((s) => s === metadata.source);
  if (!source) throw unusable('has an unknown source');
  // IdentityMetadata uses the inline (s3db) field names, so the inline mapper validates it.
  const copy = metadataFromDocument('inline', metadata, { ...context, fetchedAt: at, signed: metadata.signed === true });
  return Object.freeze({ ...copy, source, version: copy.version });
}
