import { describe, expect, it } from 'vitest';
import { HeldPersistence } from './held-persistence.js';

describe('HeldPersistence', () => {
  it('writes at once unless held', async () => {
    const written: string[] = [];
    const persistence = new HeldPersistence();
    await persistence.write(async () => void written.push('a'));
    expect(written).toEqual(['a']);
  });

  it('keeps only the latest write while held, and performs it on release', async () => {
    const written: string[] = [];
    const persistence = new HeldPersistence();
    persistence.hold();
    await persistence.write(async () => void written.push('first'));
    await persistence.write(async () => void written.push('second'));
    expect(written).toEqual([]);
    expect(persistence.held).toBe(true);
    await persistence.release();
    expect(written).toEqual(['second']);
    expect(persistence.held).toBe(false);
    await persistence.write(async () => void written.push('after'));
    expect(written).toEqual(['second', 'after']);
  });

  it('writes nothing on release when nothing was kept, and nothing ever while held (a refused boot)', async () => {
    const written: string[] = [];
    const persistence = new HeldPersistence();
    await persistence.release();
    persistence.hold();
    await persistence.write(async () => void written.push('x'));
    expect(written).toEqual([]);
  });
});
