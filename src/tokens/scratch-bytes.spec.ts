import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { scratchBytes } from './scratch-bytes.js';

describe('scratchBytes', () => {
  it('gives the exact octets of base64url and latin1 text, each call reusing the same memory', () => {
    const bytes = randomBytes(300);
    const first = scratchBytes(bytes.toString('base64url'), 'base64url');
    expect(Buffer.compare(first, bytes)).toBe(0);
    const second = scratchBytes('eyJhbGciOiJSUzI1NiJ9.e30', 'latin1');
    expect(second.toString('latin1')).toBe('eyJhbGciOiJSUzI1NiJ9.e30');
    expect(second.buffer).toBe(first.buffer); // no new allocation: which is why a view must not be kept
  });

  it('gives text longer than the scratch buffer its own buffer, intact', () => {
    const big = randomBytes(40 * 1024);
    const decoded = scratchBytes(big.toString('base64url'), 'base64url');
    expect(Buffer.compare(decoded, big)).toBe(0);
    const after = scratchBytes('AQID', 'base64url');
    expect([...after]).toEqual([1, 2, 3]);
    expect(Buffer.compare(decoded, big)).toBe(0); // not overwritten by the next call
  });
});
