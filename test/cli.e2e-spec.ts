import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';

const ROOT = resolve(import.meta.dirname, '..');
const MAIN = join(ROOT, 'dist/src/cli/main.js');
const AUDIENCE = 'https://api.example.com';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let idp: DevelopmentIdentityProvider;
let dir: string;
let baseEnv: Record<string, string>;

/** Runs the built CLI as a child process, in a temp working directory (so the default store lands there). */
function cli(args: string[], env: Record<string, string | undefined> = {}, cwd = dir): Promise<Run> {
  const childEnv: Record<string, string> = { PATH: process.env.PATH ?? '', ...baseEnv };
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[key];
    else childEnv[key] = value;
  }
  return new Promise((done) => {
    execFile(process.execPath, [MAIN, ...args], { cwd, env: childEnv, timeout: 30_000 }, (error, stdout, stderr) => {
      done({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

async function tokenStatus(clientId: string, secret: string, provider = idp): Promise<number> {
  const response = await fetch(`${provider.issuer}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret }),
  });
  return response.status;
}

const occurrences = (text: string, needle: string) => text.split(needle).length - 1;

beforeAll(async () => {
  // The CLI runs from dist/, as users run it: build first.
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
  expect(existsSync(MAIN), `npm run build produced no ${MAIN}:\n${build.stdout}\n${build.stderr}`).toBe(true);
  idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
  dir = await mkdtemp(join(tmpdir(), 'nestjs-identity-cli-'));
  baseEnv = {
    IDENTITY_URL: idp.issuer,
    IDENTITY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    IDENTITY_REDIRECT_URI: `${AUDIENCE}/auth/callback`,
    IDENTITY_ACTOR: 'e2e-operator',
  };
}, 180_000);

afterAll(async () => {
  await idp?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('nestjs-identity CLI (built dist/, child processes)', () => {
  it('service-account create prints the secret exactly once, on stdout only, and never stores or audits it', async () => {
    const run = await cli(['service-account', 'create', '--name', 'orders-worker', '--scopes', 'orders:read', '--audience', AUDIENCE]);
    expect(run.code, run.stderr).toBe(0);
    const clientId = /client id:\s+(\S+)/.exec(run.stdout)![1]!;
    const secret = /client secret:\s+(\S+)/.exec(run.stdout)![1]!;
    expect(run.stdout).toContain('Created service account "orders-worker"');
    expect(run.stdout).toContain('The client secret is shown only this once');
    expect(occurrences(run.stdout, secret)).toBe(1);
    expect(run.stderr).not.toContain(secret);
    expect(await tokenStatus(clientId, secret)).toBe(200);

    const audit = await readFile(join(dir, '.identity/audit.log'), 'utf8');
    expect(JSON.parse(audit.trim().split('\n').at(-1)!)).toMatchObject({ action: 'service-account.create', actor: 'cli:e2e-operator', outcome: 'success', target: clientId });
    expect(audit).not.toContain(secret);
    expect(await readFile(join(dir, '.identity/credentials.json'), 'utf8')).not.toContain(secret);
  });

  it('rotate against a stock provider exits 1 with what the provider did, nothing changed; list and get never show secrets', async () => {
    const created = await cli(['--json', 'service-account', 'create', '--name', 'reports-job', '--scopes', 'reports:read,orders:read']);
    expect(created.code, created.stderr).toBe(0);
    const account = JSON.parse(created.stdout) as { clientId: string; clientSecret: string; scopes: string[] };
    expect(account.scopes).toEqual(['reports:read', 'orders:read']);

    // The development provider is stock by default: an RFC 7592 PUT keeps the secret, so the rotation is refused, nothing changes.
    const refused = await cli(['service-account', 'rotate', '--client-id', 'reports-job', '--json']);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toEqual({ exitCode: 1, error: expect.stringMatching(/^Secret rotation is not supported by this Identity provider: the provider kept the old client_secret on RFC 7592 update/) });
    expect(refused.stdout + refused.stderr).not.toContain(account.clientSecret);
    expect(await tokenStatus(account.clientId, account.clientSecret)).toBe(200);
    const fresh = { clientSecret: account.clientSecret, rotatedAt: undefined };

    const [list, listJson, get] = await Promise.all([
      cli(['service-account', 'list']),
      cli(['service-account', 'list', '--json']),
      cli(['--json', 'service-account', 'get', '--client-id', account.clientId]),
    ]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^CLIENT ID\s+NAME\s+SCOPES\s+AUDIENCE\s+CREATED\s+ROTATED$/m);
    expect(list.stdout).toContain(account.clientId);
    const entries = JSON.parse(listJson.stdout) as Array<Record<string, unknown>>;
    expect(entries.map((e) => e.name)).toEqual(['orders-worker', 'reports-job']);
    expect(JSON.parse(get.stdout)).toMatchObject({ clientId: account.clientId, atProvider: 'present' });
    expect(JSON.parse(get.stdout).rotatedAt).toBe(fresh.rotatedAt);
    for (const run of [list, listJson, get]) {
      expect(run.stdout).not.toContain(fresh.clientSecret);
      expect(run.stdout).not.toMatch(/clientSecret|client secret|registration/i);
    }
    expect(await readFile(join(dir, '.identity/audit.log'), 'utf8')).not.toContain(fresh.clientSecret);

    const deleted = await cli(['service-account', 'delete', '--client-id', account.clientId]);
    expect([deleted.code, deleted.stdout.trim()]).toEqual([0, `Deleted service account "${account.clientId}".`]);
    expect(idp.clientMetadata(account.clientId)).toBeUndefined();
  });

  it('rotate against a provider that issues a new secret on PUT: exit 0, the old secret confirmed refused, tokens revoked unless --keep-tokens', async () => {
    const rotating = await DevelopmentIdentityProvider.start({ audience: AUDIENCE, rotateClientSecretOnUpdate: true });
    const work = await mkdtemp(join(tmpdir(), 'nestjs-identity-cli-rotating-'));
    try {
      const env = { IDENTITY_URL: rotating.issuer };
      const created = await cli(['--json', 'service-account', 'create', '--name', 'billing-job', '--scopes', 'orders:read'], env, work);
      expect(created.code, created.stderr).toBe(0);
      const account = JSON.parse(created.stdout) as { clientId: string; clientSecret: string };
      const rotated = await cli(['service-account', 'rotate', '--client-id', 'billing-job', '--json'], env, work);
      expect(rotated.code, rotated.stderr).toBe(0);
      const fresh = JSON.parse(rotated.stdout) as { clientId: string; clientSecret: string; previousSecret: string; tokensRevoked: boolean };
      expect(fresh).toMatchObject({ clientId: account.clientId, previousSecret: 'refused', tokensRevoked: true });
      expect(await tokenStatus(account.clientId, fresh.clientSecret, rotating)).toBe(200);
      expect(await tokenStatus(account.clientId, account.clientSecret, rotating)).toBe(401);
      const text = await cli(['service-account', 'rotate', '--client-id', 'billing-job', '--keep-tokens'], env, work);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toContain('The previous secret is refused by the provider (checked at its token endpoint).');
      expect(text.stdout).toContain('Tokens issued to it before the rotation stay valid until they expire.');
      const revocations = await cli(['--json', 'revoke', 'list'], env, work);
      expect((JSON.parse(revocations.stdout) as Array<{ clientId?: string }>).filter((r) => r.clientId === account.clientId)).toHaveLength(1);
      const audit = await readFile(join(work, '.identity/audit.log'), 'utf8');
      expect(audit).not.toContain(fresh.clientSecret);
    } finally {
      await rotating.stop();
      await rm(work, { recursive: true, force: true });
    }
  });

  it('client provision registers the API client once; doctor then checks it, in the design document\'s words', async () => {
    const before = idp.stats.registration;
    const first = await cli(['client', 'provision', '--scopes', 'orders:read']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^Registered client "[\w-]+" \(client_secret_post\)/);
    const again = await cli(['--json', 'client', 'provision']);
    expect(JSON.parse(again.stdout)).toMatchObject({ created: false });
    expect(idp.stats.registration).toBe(before + 1);

    const doctor = await cli(['doctor']);
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0);
    expect(doctor.stdout).toMatch(/^\[ok\] +metadata +s3db metadata for issuer/m);
    expect(doctor.stdout).toMatch(/^\[ok\] +jwks +2 signing key/m);
    expect(doctor.stdout).toMatch(/^\[ok\] +credentials +client "[\w-]+" \(from store\) obtained a client_credentials token/m);
    expect(doctor.stdout).toMatch(/^\[ok\] +store +\d+ service account record\(s\) open with this key/m);
    expect(doctor.stdout).toContain('No problems found.');
  });

  it('doctor names what is wrong: refused credentials, unreachable provider', async () => {
    const [refused, unreachable] = await Promise.all([
      cli(['doctor', '--json'], { IDENTITY_CLIENT_ID: 'dev-service-account', IDENTITY_CLIENT_SECRET: 'not-the-secret-9x', IDENTITY_TOKEN_ENDPOINT_AUTH_METHOD: 'client_secret_basic' }),
      cli(['doctor'], { IDENTITY_URL: 'http://127.0.0.1:9' }),
    ]);
    expect(refused.code).toBe(1);
    const report = JSON.parse(refused.stdout) as { ok: boolean; checks: Array<{ check: string; status: string; detail: string }> };
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.check === 'credentials')).toEqual({
      check: 'credentials',
      status: 'fail',
      detail: 'invalid_client during start: client "dev-service-account" refused (invalid_client): credentials are wrong or scopes mismatch; re-run auto-provisioning (`nestjs-identity client provision`) or rotate with the CLI (`nestjs-identity client rotate`)',
    });
    expect(refused.stdout + refused.stderr).not.toContain('not-the-secret-9x');

    expect(unreachable.code).toBe(1);
    expect(unreachable.stdout).toMatch(/^\[FAIL\] metadata +Identity metadata unavailable \(.*network error.*\): check networking and ensure \.well-known\/s3db-identity\.json/m);
    expect(unreachable.stdout).toContain('1 problem(s) found.');
  });

  it('exit codes: 2 for usage and configuration errors, 1 for failed operations; --help documents both', async () => {
    const [noName, noUrl, noKey, badScope, unknown, help] = await Promise.all([
      cli(['service-account', 'create', '--scopes', 'orders:read']),
      cli(['service-account', 'list'], { IDENTITY_URL: undefined }),
      cli(['service-account', 'list'], { IDENTITY_ENCRYPTION_KEY: undefined }),
      cli(['service-account', 'create', '--name', 'x', '--scopes', 'orders:read', 'bad"scope']),
      cli(['service-account', 'rotate', '--client-id', 'no-such-account']),
      cli(['--help']),
    ]);
    expect([noName.code, noName.stderr]).toEqual([2, expect.stringContaining("required option '--name <name>' not specified")]);
    expect([noUrl.code, noUrl.stderr.trim()]).toEqual([2, 'nestjs-identity: the Identity URL is required: pass --url https://auth.example.com or set IDENTITY_URL']);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/option "encryptionKey": is required to (open the stored client|manage service accounts) .*generate one with/);
    expect(noKey.stderr).toContain('(set it with IDENTITY_ENCRYPTION_KEY)');
    expect([badScope.code, badScope.stderr]).toEqual([2, expect.stringContaining('scopes[1] must be a scope token')]);
    expect([unknown.code, unknown.stderr.trim()]).toEqual([1, 'nestjs-identity: no service account "no-such-account" is managed by this API']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('service-account create --name orders-worker --scopes orders:read --audience https://api.example.com');
    expect(help.stdout).toContain('Exit codes: 0 ok, 1 the operation failed');
    for (const run of [noName, noUrl, noKey, badScope, unknown]) expect(run.stdout).toBe('');
  });
});
