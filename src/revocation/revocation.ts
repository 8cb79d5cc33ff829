import { BadRequestException } from '@nestjs/common';

/** What a revocation names: a client (service account or OAuth client), a subject (`sub`), or one token (`jti`). */
export type RevocationKind = 'client' | 'subject' | 'jti';

/**
 * One revocation, as it is kept in memory, in Redis and in the credential store. Times are epoch
 * milliseconds. A token matches when its client / `sub` / `jti` equals `value` and its `iat` is
 * before `before` (a token without `iat` always matches: it cannot show it is newer).
 */
export interface RevocationRecord {
  readonly id: string;
  readonly kind: RevocationKind;
  readonly value: string;
  readonly before: number;
  readonly createdAt: number;
  /** After this, every token the revocation could match has expired: it is forgotten. */
  readonly expiresAt: number;
  readonly reason?: string;
  /** Who revoked: `identity.describe()` or `cli:<operator>`. */
  readonly createdBy?: string;
}

/** A revocation as the routes, the CLI and callers see it. Never a token: only ids and times. */
export interface RevocationView {
  id: string;
  clientId?: string;
  subject?: string;
  jti?: string;
  /** Tokens issued before this moment (ISO) are refused. */
  before: string;
  createdAt: string;
  /** When the entry is forgotten (createdAt + revocation.maxTokenLifetimeSeconds + clockTolerance). */
  expiresAt: string;
  reason?: string;
  createdBy?: string;
}

/** What revoke() takes: exactly one of clientId, subject, jti. */
export interface RevokeInput {
  clientId?: string;
  subject?: string;
  jti?: string;
  /** Revoke tokens issued before this moment (not in the future). Default: now. */
  before?: string | Date;
  reason?: string;
}

/** A revoke body or id that cannot be used: 400, naming the field and what is expected. */
export class RevocationInputError extends BadRequestException {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super({ statusCode: 400, error: 'invalid_request', message: `${field} ${problem}`, field });
  }
}

/** Longest client id, subject or jti (characters). */
export const MAX_REVOCATION_VALUE = 256;
/** Longest reason (characters). */
export const MAX_REVOCATION_REASON = 256;
const MAX_ACTOR = 256;

const FIELD_OF: Record<RevocationKind, 'clientId' | 'subject' | 'jti'> = { client: 'clientId', subject: 'subject', jti: 'jti' };
const KIND_OF: Record<string, RevocationKind> = { clientId: 'client', subject: 'subject', jti: 'jti' };
const INPUT_FIELDS = ['clientId', 'subject', 'jti', 'before', 'reason'];
/** Controls (C0, DEL, C1), line and paragraph separators: nothing that could forge a log line. */
const CONTROL = /[\u0000-\u001F\u007F-\u009F\u2028\u2029]/;
/** What a JWT (or any JWS) looks like: a revocation names ids, never carries a token. */
const TOKEN_LIKE = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\./;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const REVOCATION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isRevocationId(value: unknown): value is string {
  return typeof value === 'string' && REVOCATION_ID.test(value);
}

export function fieldOf(kind: RevocationKind): 'clientId' | 'subject' | 'jti' {
  return FIELD_OF[kind];
}

/** A safe one-line description for logs and audit: `client "orders-worker", tokens issued before <ISO>`. */
export function describeRevocation(record: Pick<RevocationRecord, 'kind' | 'value' | 'before'>): string {
  return `${record.kind} ${JSON.stringify(record.value)}, tokens issued before ${new Date(record.before).toISOString()}`;
}

function isText(value: unknown, max: number): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= max && !CONTROL.test(value) && !TOKEN_LIKE.test(value);
}

/** A valid revoke request, what the service keeps (before in epoch ms, undefined = the creation time). */
export interface ParsedRevokeInput {
  kind: RevocationKind;
  value: string;
  before?: number;
  reason?: string;
}

/** Validates revoke() input by hand: a plain object, exactly one target, known fields only; 400 naming the field otherwise. */
export function parseRevokeInput(input: unknown, now = Date.now()): ParsedRevokeInput {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new RevocationInputError('body', 'must be a JSON object such as {"clientId":"orders-worker","reason":"secret leaked"}');
  }
  const prototype = Object.getPrototypeOf(input);
  if (prototype !== Object.prototype && prototype !== null) throw new RevocationInputError('body', 'must be a plain JSON object');
  for (const key of Reflect.ownKeys(input)) {
    // JSON.parse makes "__proto__" an own key: it lands here as an unknown field.
    if (typeof key !== 'string' || !INPUT_FIELDS.includes(key)) {
      throw new RevocationInputError(typeof key === 'string' && key.length <= 64 ? JSON.stringify(key.replace(/[^\x20-\x7E]/g, '')) : 'body', `is not a known field; allowed: ${INPUT_FIELDS.join(', ')}`);
    }
  }
  const fields = input as Record<string, unknown>;
  const targets = ['clientId', 'subject', 'jti'].filter((field) => fields[field] !== undefined);
  if (targets.length !== 1) {
    throw new RevocationInputError(targets.length === 0 ? 'clientId' : targets.join(', '), 'exactly one of clientId, subject or jti is required');
  }
  const field = targets[0]!;
  const value = fields[field];
  if (!isText(value, MAX_REVOCATION_VALUE)) {
    throw new RevocationInputError(field, `must be a string of 1-${MAX_REVOCATION_VALUE} characters without control characters (an id, never a token)`);
  }
  const parsed: ParsedRevokeInput = { kind: KIND_OF[field]!, value };
  if (fields.before !== undefined) parsed.before = parseBefore(fields.before, now);
  if (fields.reason !== undefined) {
    if (!isText(fields.reason, MAX_REVOCATION_REASON)) {
      throw new RevocationInputError('reason', `must be a string of 1-${MAX_REVOCATION_REASON} characters without control characters or tokens`);
    }
    parsed.reason = fields.reason;
  }
  return parsed;
}

function parseBefore(value: unknown, now: number): number {
  let time = Number.NaN;
  if (value instanceof Date) time = value.getTime();
  else if (typeof value === 'string' && ISO_TIME.test(value)) time = Date.parse(value);
  if (!Number.isFinite(time)) throw new RevocationInputError('before', 'must be an ISO 8601 time with a zone, such as "2026-01-31T12:00:00Z"');
  if (time > now) throw new RevocationInputError('before', 'must not be in the future: a revocation applies to tokens already issued');
  return time;
}

/** The view of a record: the target under its field name, times as ISO strings. */
export function toRevocationView(record: RevocationRecord): RevocationView {
  return {
    id: record.id,
    [FIELD_OF[record.kind]]: record.value,
    before: new Date(record.before).toISOString(),
    createdAt: new Date(record.createdAt).toISOString(),
    expiresAt: new Date(record.expiresAt).toISOString(),
    ...(record.reason === undefined ? {} : { reason: record.reason }),
    ...(record.createdBy === undefined ? {} : { createdBy: record.createdBy }),
  };
}

/** The actor as recorded: printable, bounded. */
export function recordedActor(actor: string): string {
  return String(actor).replace(/[^\x20-\x7E]/g, '').slice(0, MAX_ACTOR) || 'unknown';
}

/** A stored or received revocation that is not well-formed. The message names the field, never its content. */
export class RevocationFormatError extends Error {
  override readonly name = 'RevocationFormatError';
}

const RECORD_FIELDS = new Set(['v', 'id', 'kind', 'value', 'before', 'createdAt', 'expiresAt', 'reason', 'createdBy']);
const KINDS = new Set<string>(['client', 'subject', 'jti']);
/** Epoch ms between 2000 and 2400: anything else is not a time we wrote. */
const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value > 946_684_800_000 && value < 13_569_465_600_000;

/** The stored / published form of a record (version 1). */
export function serializeRevocation(record: RevocationRecord): Record<string, unknown> {
  return { v: 1, ...record };
}

/** Reads a record from Redis, the store or a message: every field checked, unknown fields refused. */
export function parseRevocationRecord(value: unknown): RevocationRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RevocationFormatError('the revocation is not an object');
  const fields = value as Record<string, unknown>;
  for (const key of Object.keys(fields)) if (!RECORD_FIELDS.has(key)) throw new RevocationFormatError('the revocation has an unknown field');
  if (fields.v !== 1) throw new RevocationFormatError('unknown revocation format version');
  if (!isRevocationId(fields.id)) throw new RevocationFormatError('id is not a revocation id');
  if (typeof fields.kind !== 'string' || !KINDS.has(fields.kind)) throw new RevocationFormatError('kind is not client, subject or jti');
  if (!isText(fields.value, MAX_REVOCATION_VALUE)) throw new RevocationFormatError('value is not a valid id');
  if (!isTime(fields.before) || !isTime(fields.createdAt) || !isTime(fields.expiresAt)) throw new RevocationFormatError('before, createdAt or expiresAt is not a time');
  if (fields.before > fields.createdAt || fields.expiresAt <= fields.createdAt) throw new RevocationFormatError('the revocation times are inconsistent');
  if (fields.reason !== undefined && !isText(fields.reason, MAX_REVOCATION_REASON)) throw new RevocationFormatError('reason is not valid');
  if (fields.createdBy !== undefined && !isText(fields.createdBy, MAX_ACTOR)) throw new RevocationFormatError('createdBy is not valid');
  return Object.freeze({
    id: fields.id,
    kind: fields.kind as RevocationKind,
    value: fields.value,
    before: fields.before,
    createdAt: fields.createdAt,
    expiresAt: fields.expiresAt,
    ...(fields.reason === undefined ? {} : { reason: fields.reason as string }),
    ...(fields.createdBy === undefined ? {} : { createdBy: fields.createdBy as string }),
  });
}
