import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/cli.js';
import { IdentityModule } from '../src/index.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { createApp } from './support/platforms.js';
import { TestController } from './support/test-controller.js';

// The revoke commands, run in this process through runCli (what the binary calls), on a file store.
const AUDIENCE = 'https://api.example.com';

let idp: DevelopmentIdentityProvider;
let dir: string;
let env: Record<string, string>;

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, env, { out: (text) => out.push(text), err: (text) => err.push(text) });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

beforeAll(async () => {
  idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
  dir = await mkdtemp(join(tmpdir(), 'nestjs-identity-revoke-cli-'));
  env = {
    IDENTITY_URL: idp.issuer,
    IDENTITY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    IDENTITY_STORE: join(dir, 'credentials.json'),
    IDENTITY_AUDIT_FILE: join(dir, 'audit.log'),
    IDENTITY_ACTOR: 'e2e-operator',
  };
});

afterAll(async () => {
  await idp?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('nestjs-identity revoke', () => {
  it('revoke --client-id, revoke list, revoke remove <id>: output, exit codes and audit events', async () => {
    const revoked = await cli(['revoke', '--client-id', 'orders-worker', '--reason', 'secret leaked']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toMatch(/^Revoked the tokens of client "orders-worker" issued before \S+Z\n/);
    const id = /id:\s+([0-9a-f-]{36})/.exec(revoked.stdout)![1]!;
    expect(revoked.stdout).toMatch(/reason:\s+secret leaked/);

    const json = await cli(['--json', 'revoke', '--subject', 'user-1', '--before', '2026-01-01T00:00:00Z']);
    expect(json.code, json.stderr).toBe(0);
    const view = JSON.parse(json.stdout) as Record<string, string>;
    expect(view).toMatchObject({ subject: 'user-1', before: '2026-01-01T00:00:00.000Z', createdBy: 'cli:e2e-operator' });

    const list = await cli(['revoke', 'list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^ID\s+TARGET\s+BEFORE\s+CREATED\s+EXPIRES\s+REASON$/);
    expect(list.stdout).toContain(`${id}  client "orders-worker"`);
    expect(list.stdout).toContain('subject "user-1"');
    const listed = JSON.parse((await cli(['--json', 'revoke', 'list'])).stdout) as Array<{ id: string }>;
    expect(listed.map((entry) => entry.id)).toEqual([id, view.id]);

    const removed = await cli(['revoke', 'remove', id]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toBe(`Removed revocation "${id}".`);
    expect(JSON.parse((await cli(['--json', 'revoke', 'list'])).stdout)).toHaveLength(1);

    const audit = (await readFile(join(dir, 'audit.log'), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(audit.filter((event) => String(event.action).startsWith('revocation.')).map((event) => [event.action, event.outcome, event.actor, event.target])).toEqual([
      ['revocation.create', 'success', 'cli:e2e-operator', id],
      ['revocation.create', 'success', 'cli:e2e-operator', view.id],
      ['revocation.delete', 'success', 'cli:e2e-operator', id],
    ]);
  });

  it('a revocation made by the CLI applies to an API that boots on the same file store', async () => {
    const clientId = `cli-${randomUUID().slice(0, 8)}`;
    // A token issued before the revocation (iat has whole seconds: a token from a later second is rightly not revoked).
    const token = await idp.mintToken({ claims: { sub: `sa:${clientId}`, client_id: clientId, service_account: { clientId, name: clientId, scopes: [], audiences: [AUDIENCE] } } });
    await new Promise((resolve) => setTimeout(resolve, 1005 - (Date.now() % 1000)));
    expect((await cli(['revoke', '--client-id', clientId])).code).toBe(0);
    const app = await createApp('express', {
      imports: [IdentityModule.forRoot({ url: idp.issuer, audience: AUDIENCE, metrics: false, store: { type: 'file', path: env.IDENTITY_STORE! }, audit: false })],
      controllers: [TestController],
    });
    try {
      const response = await request(app.getHttpServer()).get('/me').auth(token, { type: 'bearer' });
      expect([response.status, response.body.message]).toEqual([401, 'The access token was revoked']);
    } finally {
      await app.close();
    }
  });

  it('usage errors exit 2, unknown ids exit 1, and both are audited when they reach the service', async () => {
    const none = await cli(['revoke']);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe('nestjs-identity: pass exactly one of --client-id, --subject or --jti (or: revoke list, revoke remove <id>)');
    expect((await cli(['revoke', '--client-id', 'a', '--jti', 'b'])).code).toBe(2);
    const future = await cli(['revoke', '--client-id', 'a', '--before', '2999-01-01T00:00:00Z']);
    expect(future.code).toBe(2);
    expect(future.stderr).toMatch(/before must not be in the future/);
    const unknown = await cli(['revoke', 'remove', randomUUID()]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^nestjs-identity: no revocation "[0-9a-f-]{36}" is in force$/);
    const audit = (await readFile(join(dir, 'audit.log'), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(audit.slice(-2).map((event) => [event.action, event.outcome])).toEqual([
      ['revocation.create', 'failure'],
      ['revocation.delete', 'failure'],
    ]);
  });
});
