import { dirname, join } from 'node:path';
import type { Provider } from '@nestjs/common';
import { DEFAULT_CREDENTIAL_STORE_PATH } from '../client/credential-store.factory.js';
import { FileCredentialStore } from '../client/file-credential-store.js';
import type { IdentityMetadata, MetadataSource } from './identity-metadata.js';
import { metadataFromDocument, MetadataValidationError } from './metadata-document.js';
import type { OutboundPolicy } from './safe-fetch.js';

/** Key of the last good metadata copy in the CredentialStore. */
export const LAST_GOOD_METADATA_KEY = 'metadata:last-good';
/** Key of the last good JWKS in the CredentialStore. */
export const LAST_GOOD_JWKS_KEY = 'jwks:last-good';

/** Where the last good copies go when no CredentialStore is configured (optional injection). */
export const IDENTITY_LAST_GOOD_STORE = Symbol('IDENTITY_LAST_GOOD_STORE');
/** The small file beside the default credential store (`.identity/last-good.json`, git-ignored). */
export const DEFAULT_LAST_GOOD_FILE = join(dirname(DEFAULT_CREDENTIAL_STORE_PATH), 'last-good.json');
/**
 * The fallback for IdentityModule's providers: used only when no CredentialStore is configured
 * (IDENTITY_CREDENTIAL_STORE resolves to undefined), and nothing touches the disk until then.
 */
export const lastGoodFileProvider: Provider = {
  provide: IDENTITY_LAST_GOOD_STORE,
  useFactory: () => new FileCredentialStore(DEFAULT_LAST_GOOD_FILE),
};

const SOURCES: readonly MetadataSource[] = ['s3db', 'oidc-discovery', 'rfc8414', 'inline'];

/** `{ fetchedAt, metadata }` as JSON: what a restarted process (or another replica) may boot from. */
export function serializeLastGood(metadata: IdentityMetadata): string {
  const { fetchedAt, ...rest } = metadata;
  return JSON.stringify({ fetchedAt: fetchedAt.toISOString(), metadata: rest });
}

function unusable(problem: string, key = LAST_GOOD_METADATA_KEY): MetadataValidationError {
  return new MetadataValidationError(key, `persisted ${key === LAST_GOOD_METADATA_KEY ? 'metadata' : 'JWKS'} "${key}" ${problem}`);
}

function fetchTime(value: unknown, key: string): Date {
  const at = typeof value === 'string' ? new Date(value) : undefined;
  if (!at || Number.isNaN(at.getTime())) throw unusable('has no valid fetchedAt', key);
  return at;
}

function parseJson(text: string, key: string): Record<string, unknown> {
  try {
    return (JSON.parse(text) ?? {}) as Record<string, unknown>;
  } catch {
    throw unusable('is not valid JSON', key);
  }
}

/** A persisted JWKS: the raw public JWKs, where they came from and when. */
export interface LastGoodJwks {
  readonly fetchedAt: Date;
  readonly jwksUrl: string;
  readonly keys: readonly Record<string, unknown>[];
}

export function serializeLastGoodJwks(jwks: LastGoodJwks): string {
  return JSON.stringify({ fetchedAt: jwks.fetchedAt.toISOString(), jwksUrl: jwks.jwksUrl, keys: jwks.keys });
}

/** Reads a persisted JWKS back; the caller still filters the keys and checks the window and the jwksUrl. */
export function parseLastGoodJwks(text: string): LastGoodJwks {
  const stored = parseJson(text, LAST_GOOD_JWKS_KEY);
  const fetchedAt = fetchTime(stored.fetchedAt, LAST_GOOD_JWKS_KEY);
  if (typeof stored.jwksUrl !== 'string') throw unusable('has no jwksUrl', LAST_GOOD_JWKS_KEY);
  if (!Array.isArray(stored.keys)) throw unusable('has no keys array', LAST_GOOD_JWKS_KEY);
  return { fetchedAt, jwksUrl: stored.jwksUrl, keys: stored.keys as Record<string, unknown>[] };
}

/**
 * Reads a persisted copy back, validated again against today's issuer and URL policy (the
 * configuration may have changed since it was written).
 */
export function parseLastGood(text: string, context: { issuer: string; policy: OutboundPolicy }): IdentityMetadata {
  const { fetchedAt, metadata } = parseJson(text, LAST_GOOD_METADATA_KEY) as { fetchedAt?: unknown; metadata?: Record<string, unknown> };
  const at = fetchTime(fetchedAt, LAST_GOOD_METADATA_KEY);
  if (!metadata || typeof metadata !== 'object') throw unusable('has no metadata object');
  const source = SOURCES.find((s) => s === metadata.source);
  if (!source) throw unusable('has an unknown source');
  // IdentityMetadata uses the inline (s3db) field names, so the inline mapper validates it.
  const copy = metadataFromDocument('inline', metadata, { ...context, fetchedAt: at, signed: metadata.signed === true });
  return Object.freeze({ ...copy, source, version: copy.version });
}
