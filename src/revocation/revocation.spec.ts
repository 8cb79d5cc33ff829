import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { describeRevocation, parseRevocationRecord, parseRevokeInput, recordedActor, RevocationFormatError, RevocationInputError, serializeRevocation, toRevocationView, type RevocationRecord } from './revocation.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');

function problem(fn: () => unknown): { field: string; message: string; status: number } {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(RevocationInputError);
    const e = error as RevocationInputError;
    return { field: e.field, message: (e.getResponse() as { message: string }).message, status: e.getStatus() };
  }
  throw new Error('expected a RevocationInputError');
}

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl';

describe('parseRevokeInput', () => {
  it('takes exactly one target, an optional before (ISO or Date, not in the future) and reason', () => {
    expect(parseRevokeInput({ clientId: 'orders' }, NOW)).toEqual({ kind: 'client', value: 'orders' });
    expect(parseRevokeInput({ subject: 'alice', reason: 'left the company' }, NOW)).toEqual({ kind: 'subject', value: 'alice', reason: 'left the company' });
    expect(parseRevokeInput({ jti: 'j-1', before: '2026-03-01T11:00:00Z' }, NOW)).toEqual({ kind: 'jti', value: 'j-1', before: NOW - 3_600_000 });
    expect(parseRevokeInput({ clientId: 'a', before: '2026-03-01T13:00:00+02:00' }, NOW).before).toBe(NOW - 3_600_000);
    expect(parseRevokeInput({ clientId: 'a', before: new Date(NOW) }, NOW).before).toBe(NOW);
    expect(parseRevokeInput(Object.assign(Object.create(null), { clientId: 'a' }), NOW).kind).toBe('client');
    expect(parseRevokeInput({ clientId: 'x'.repeat(256) }, NOW).value).toHaveLength(256);
  });

  it('refuses anything else with 400 naming the field', () => {
    const cases: Array<[unknown, string, RegExp?]> = [
      [undefined, 'body'],
      [null, 'body'],
      ['orders', 'body'],
      [[{ clientId: 'a' }], 'body'],
      [new Map(), 'body'],
      [{}, 'clientId', /exactly one of clientId, subject or jti/],
      [{ clientId: 'a', jti: 'b' }, 'clientId, jti'],
      [{ clientId: 'a', subject: 'b', jti: 'c' }, 'clientId, subject, jti'],
      [{ clientId: 'a', scope: 'x' }, '"scope"', /is not a known field; allowed: clientId, subject, jti, before, reason/],
      [JSON.parse('{"clientId":"a","__proto__":{"x":1}}'), '"__proto__"'],
      [{ clientId: 'a', [Symbol('s')]: 1 }, 'body'],
      [{ clientId: '' }, 'clientId'],
      [{ clientId: 7 }, 'clientId'],
      [{ subject: 'x'.repeat(257) }, 'subject', /1-256 characters/],
      [{ subject: 'a\u0000b' }, 'subject'],
      [{ subject: 'a\u2028b' }, 'subject'],
      [{ jti: JWT }, 'jti', /never a token/],
      [{ clientId: 'a', before: '2026-03-01T12:00:01Z' }, 'before', /must not be in the future/],
      [{ clientId: 'a', before: new Date(NOW + 1) }, 'before'],
      [{ clientId: 'a', before: '2026-03-01' }, 'before', /ISO 8601 time with a zone/],
      [{ clientId: 'a', before: '2026-02-30T12:00:00Z' }, 'before'],
      [{ clientId: 'a', before: NOW }, 'before'],
      [{ clientId: 'a', before: new Date(Number.NaN) }, 'before'],
      [{ clientId: 'a', reason: '' }, 'reason'],
      [{ clientId: 'a', reason: 'r'.repeat(257) }, 'reason'],
      [{ clientId: 'a', reason: `leaked: ${JWT}` }, 'reason'],
      [{ clientId: 'a', reason: 'two\nlines' }, 'reason'],
    ];
    for (const [input, field, message] of cases) {
      const found = problem(() => parseRevokeInput(input, NOW));
      expect(found.status).toBe(400);
      expect(found.field, JSON.stringify(input)).toBe(field);
      expect(found.message.startsWith(`${field} `)).toBe(true);
      if (message) expect(found.message).toMatch(message);
    }
  });
});

describe('revocation records', () => {
  const record: RevocationRecord = { id: randomUUID(), kind: 'client', value: 'orders', before: NOW - 1000, createdAt: NOW, expiresAt: NOW + 86_405_000, reason: 'leak', createdBy: 'cli:ops' };

  it('round-trip through their stored form, and show as views under the target field', () => {
    expect(parseRevocationRecord(JSON.parse(JSON.stringify(serializeRevocation(record))))).toEqual(record);
    expect(toRevocationView(record)).toEqual({
      id: record.id,
      clientId: 'orders',
      before: '2026-03-01T11:59:59.000Z',
      createdAt: '2026-03-01T12:00:00.000Z',
      expiresAt: '2026-03-02T12:00:05.000Z',
      reason: 'leak',
      createdBy: 'cli:ops',
    });
    expect(toRevocationView({ ...record, kind: 'jti', value: 'j', reason: undefined, createdBy: undefined })).toEqual({ id: record.id, jti: 'j', before: expect.any(String), createdAt: expect.any(String), expiresAt: expect.any(String) });
    expect(describeRevocation(record)).toBe('client "orders", tokens issued before 2026-03-01T11:59:59.000Z');
    expect(recordedActor('service-account:x name="X"\n')).toBe('service-account:x name="X"');
  });

  it('refuse what we did not write, naming the field, never quoting the content', () => {
    const stored = serializeRevocation(record);
    const bad: Array<Record<string, unknown> | unknown> = [
      null,
      [],
      'x',
      { ...stored, v: 2 },
      { ...stored, id: 'not-a-uuid' },
      { ...stored, kind: 'user' },
      { ...stored, value: JWT },
      { ...stored, value: '' },
      { ...stored, before: 'yesterday' },
      { ...stored, before: NOW + 1 }, // after createdAt
      { ...stored, expiresAt: NOW },
      { ...stored, createdAt: 1 },
      { ...stored, reason: 7 },
      { ...stored, createdBy: 'x'.repeat(300) },
      { ...stored, extra: true },
    ];
    for (const value of bad) {
      let error: unknown;
      try {
        parseRevocationRecord(value);
      } catch (caught) {
        error = caught;
      }
      expect(error, JSON.stringify(value)).toBeInstanceOf(RevocationFormatError);
      expect((error as Error).message).not.toContain(JWT);
      expect((error as Error).message).not.toContain('yesterday');
    }
  });
});
