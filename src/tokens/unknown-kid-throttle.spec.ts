import { describe, expect, it } from 'vitest';
import { UnknownKidThrottle } from './unknown-kid-throttle.js';

/** Simulates distinct made-up kids arriving at `times` (ms): how many refetches start. */
function fetchesFor(throttle: UnknownKidThrottle, times: number[]): number[] {
  const started: number[] = [];
  times.forEach((at, i) => {
    const kid = `flood-${i}`;
    if (!throttle.allows(kid, at)) return;
    throttle.started(at);
    started.push(at);
    throttle.missed(kid, at); // the refetch never finds a made-up kid
  });
  return started;
}

describe('UnknownKidThrottle', () => {
  it('lets the first unknown kid after a quiet spell refetch at once, however recent the last scheduled fetch', () => {
    const throttle = new UnknownKidThrottle(30_000);
    expect(throttle.allows('new-key', 0)).toBe(true);
  });

  it('allows at most 1 refetch for 100 distinct unknown kids within 1 s', () => {
    const times = Array.from({ length: 100 }, (_, i) => i * 9.9);
    expect(fetchesFor(new UnknownKidThrottle(30_000), times)).toEqual([0]);
  });

  it('allows at most 4 refetches for 1,000 distinct unknown kids spread over 10 s', () => {
    const times = Array.from({ length: 1000 }, (_, i) => i * 10);
    expect(fetchesFor(new UnknownKidThrottle(30_000), times)).toEqual([0, 1000, 3000, 7000]);
  });

  it('caps the wait at jwksCooldown', () => {
    const times = Array.from({ length: 600 }, (_, i) => i * 10);
    expect(fetchesFor(new UnknownKidThrottle(1_500), times)).toEqual([0, 1000, 2500, 4000, 5500]);
  });

  it('ends the backoff when a refetch finds its kid (a real rotation in the middle of a flood)', () => {
    const throttle = new UnknownKidThrottle(30_000);
    fetchesFor(throttle, [0, 1000]);
    expect(throttle.allows('rotated', 1500)).toBe(false);
    expect(throttle.allows('rotated', 3000)).toBe(true);
    throttle.started(3000);
    throttle.found();
    expect(throttle.allows('next-rotation', 3001)).toBe(true);
  });

  it('forgets the backoff after a quiet spell of twice the current wait', () => {
    const throttle = new UnknownKidThrottle(30_000);
    fetchesFor(throttle, [0, 1000, 3000]); // wait is now 4 s
    expect(throttle.allows('x', 6000)).toBe(false);
    expect(throttle.allows('y', 3000 + 8001)).toBe(true);
  });

  it('refuses a kid that was just missing without refetching, until the cap passes', () => {
    const throttle = new UnknownKidThrottle(5_000);
    throttle.started(0);
    throttle.missed('ghost', 0);
    expect(throttle.allows('ghost', 2500)).toBe(false);
    expect(throttle.allows('other', 2500)).toBe(true);
    expect(throttle.allows('ghost', 5001)).toBe(true);
  });

  it('throttles nothing with a cap of 0', () => {
    const times = Array.from({ length: 10 }, (_, i) => i);
    expect(fetchesFor(new UnknownKidThrottle(0), times)).toHaveLength(10);
  });
});
