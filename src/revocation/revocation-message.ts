import { isRevocationId, parseRevocationRecord, RevocationFormatError, serializeRevocation, type RevocationRecord } from './revocation.js';

/** Longest message accepted from the channel (a record is well under 2 KiB). */
export const MAX_REVOCATION_MESSAGE_BYTES = 8 * 1024;

/**
 * What replicas tell each other on the channel. `publishedAt` (epoch ms) measures the sync
 * latency on receivers; `origin` lets the publisher skip its own message (it applied it already).
 */
export type RevocationMessage =
  | { type: 'revoked'; revocation: RevocationRecord; publishedAt: number; origin: string }
  | { type: 'removed'; id: string; publishedAt: number; origin: string };

const ORIGIN = /^[A-Za-z0-9_-]{1,64}$/;

export function encodeRevocationMessage(message: RevocationMessage): string {
  const { type, publishedAt, origin } = message;
  const body = message.type === 'revoked' ? { revocation: serializeRevocation(message.revocation) } : { id: message.id };
  return JSON.stringify({ v: 1, type, ...body, publishedAt, origin });
}

/**
 * Parses a channel message strictly. Anything else throws a RevocationFormatError whose message
 * names what is wrong, never the content (a bad message could hold a token).
 */
export function parseRevocationMessage(text: unknown): RevocationMessage {
  if (typeof text !== 'string') throw new RevocationFormatError('the message is not text');
  if (text.length > MAX_REVOCATION_MESSAGE_BYTES) throw new RevocationFormatError('the message is too large');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new RevocationFormatError('the message is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RevocationFormatError('the message is not an object');
  const fields = value as Record<string, unknown>;
  if (fields.v !== 1) throw new RevocationFormatError('unknown message version');
  const { type, publishedAt, origin } = fields;
  if (typeof publishedAt !== 'number' || !Number.isFinite(publishedAt) || publishedAt <= 0) throw new RevocationFormatError('publishedAt is not a time');
  if (typeof origin !== 'string' || !ORIGIN.test(origin)) throw new RevocationFormatError('origin is not valid');
  if (type === 'revoked') {
    if (Object.keys(fields).some((key) => !['v', 'type', 'revocation', 'publishedAt', 'origin'].includes(key))) throw new RevocationFormatError('the message has an unknown field');
    return { type, revocation: parseRevocationRecord(fields.revocation), publishedAt, origin };
  }
  if (type === 'removed') {
    if (Object.keys(fields).some((key) => !['v', 'type', 'id', 'publishedAt', 'origin'].includes(key))) throw new RevocationFormatError('the message has an unknown field');
    if (!isRevocationId(fields.id)) throw new RevocationFormatError('id is not a revocation id');
    return { type, id: fields.id, publishedAt, origin };
  }
  throw new RevocationFormatError('type is not revoked or removed');
}
