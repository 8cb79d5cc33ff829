import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RevocationFormatError, serializeRevocation, type RevocationRecord } from './revocation.js';
import { encodeRevocationMessage, MAX_REVOCATION_MESSAGE_BYTES, parseRevocationMessage } from './revocation-message.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const record: RevocationRecord = { id: randomUUID(), kind: 'subject', value: 'alice', before: NOW, createdAt: NOW, expiresAt: NOW + 90_000_000 };
const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl';

function why(text: unknown): string {
  try {
    parseRevocationMessage(text);
  } catch (error) {
    expect(error).toBeInstanceOf(RevocationFormatError);
    return (error as Error).message;
  }
  throw new Error('expected a RevocationFormatError');
}

describe('revocation messages', () => {
  it('round-trip', () => {
    const revoked = { type: 'revoked' as const, revocation: record, publishedAt: NOW, origin: randomUUID() };
    expect(parseRevocationMessage(encodeRevocationMessage(revoked))).toEqual(revoked);
    const removed = { type: 'removed' as const, id: record.id, publishedAt: NOW, origin: 'replica-1' };
    expect(parseRevocationMessage(encodeRevocationMessage(removed))).toEqual(removed);
  });

  it('refuse anything not well-formed with a reason that never quotes the content', () => {
    const base = { v: 1, type: 'revoked', revocation: serializeRevocation(record), publishedAt: NOW, origin: 'r1' };
    const cases: Array<[unknown, RegExp]> = [
      [42, /not text/],
      [JWT, /not JSON/],
      [`{"token":"${JWT}"`, /not JSON/],
      ['x'.repeat(MAX_REVOCATION_MESSAGE_BYTES + 1), /too large/],
      ['[]', /not an object/],
      ['null', /not an object/],
      [JSON.stringify({ ...base, v: 2 }), /version/],
      [JSON.stringify({ ...base, type: 'purge' }), /type/],
      [JSON.stringify({ ...base, publishedAt: 'now' }), /publishedAt/],
      [JSON.stringify({ ...base, origin: 'a b' }), /origin/],
      [JSON.stringify({ ...base, token: JWT }), /unknown field/],
      [JSON.stringify({ ...base, revocation: { ...serializeRevocation(record), value: JWT } }), /value/],
      [JSON.stringify({ ...base, revocation: undefined }), /not an object/],
      [JSON.stringify({ v: 1, type: 'removed', id: '../../etc', publishedAt: NOW, origin: 'r1' }), /id/],
      [JSON.stringify({ v: 1, type: 'removed', id: record.id, publishedAt: NOW, origin: 'r1', revocation: {} }), /unknown field/],
    ];
    for (const [text, reason] of cases) {
      const message = why(text);
      expect(message).toMatch(reason);
      expect(message).not.toContain(JWT);
      expect(message.length).toBeLessThan(80);
    }
  });
});
