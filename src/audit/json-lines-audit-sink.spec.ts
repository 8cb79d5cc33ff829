import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from './audit-sink.js';
import { IdentityAudit } from './identity-audit.service.js';
import { JsonLinesAuditSink } from './json-lines-audit-sink.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function logPath(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nestjs-identity-audit-'));
  dirs.push(dir);
  return join(dir, 'nested', 'audit.log');
}

const event = (i: number, detail?: string): AuditEvent => ({ at: new Date(0).toISOString(), action: 'service-account.rotate', actor: 'cli:ops', target: `sa-${i}`, outcome: 'success', detail });

describe('JsonLinesAuditSink', () => {
  it('appends one JSON object per line, in order, creating a private file on first use', async () => {
    const path = await logPath();
    const sink = new JsonLinesAuditSink(path);
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
    await Promise.all(Array.from({ length: 20 }, (_, i) => sink.write(event(i))));
    const lines = (await readFile(path, 'utf8')).trim().split('\n');
    expect(lines.map((line) => (JSON.parse(line) as AuditEvent).target)).toEqual(Array.from({ length: 20 }, (_, i) => `sa-${i}`));
    if (process.platform !== 'win32') expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('cannot be made to forge a line', async () => {
    const path = await logPath();
    await new JsonLinesAuditSink(path).write(event(1, 'x\n{"action":"forged","outcome":"success"}'));
    const lines = (await readFile(path, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(1);
    expect((JSON.parse(lines[0]!) as AuditEvent).detail).toBe('x\n{"action":"forged","outcome":"success"}');
  });
});

describe('IdentityAudit', () => {
  it('stamps the time, and a failing sink never fails the audited operation', async () => {
    const written: AuditEvent[] = [];
    await new IdentityAudit({ write: (e) => void written.push(e) }).record({ action: 'client.provision', actor: 'system', outcome: 'success', target: 'api' });
    expect(written).toEqual([{ at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), action: 'client.provision', actor: 'system', outcome: 'success', target: 'api' }]);
    await expect(new IdentityAudit({ write: () => Promise.reject(new Error('disk full')) }).record({ action: 'x', actor: 'y', outcome: 'failure' })).resolves.toBeUndefined();
  });
});
