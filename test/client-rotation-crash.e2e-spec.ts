import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClientRecords, API_CLIENT_KEY, type StoredApiClient } from '../src/client/api-client-records.js';
import { FileCredentialStore } from '../src/client/file-credential-store.js';
import { SecretBox } from '../src/client/secret-box.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';

const AUDIENCE = 'https://api.example.com';
const DIST = resolve('dist');
const APP = resolve('test/support/rotation-crash-app.mjs');
const built = existsSync(join(DIST, 'src/index.js'));

interface Running {
  child: ChildProcess;
  port: number;
  output: () => string;
  waitFor: (line: string) => Promise<void>;
}

/** Starts the app process and resolves once it listens. Every line of its output is kept for the log check. */
function startApp(env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, [APP], { env: { ...process.env, ...env, DIST }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const waiters: Array<{ line: string; resolve: () => void }> = [];
  const onData = (chunk: Buffer) => {
    text += chunk.toString();
    for (const waiter of [...waiters]) if (text.includes(waiter.line)) waiter.resolve();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const waitFor = (line: string) =>
    new Promise<void>((resolveWait, reject) => {
      if (text.includes(line)) return resolveWait();
      const timer = setTimeout(() => reject(new Error(`no "${line}" from the app within 20 s; output:\n${text}`)), 20_000);
      waiters.push({ line, resolve: () => (clearTimeout(timer), resolveWait()) });
      child.once('exit', (code) => reject(new Error(`app exited (${code}) before "${line}"; output:\n${text}`)));
    });
  return waitFor('READY ').then(() => ({ child, port: Number(/READY (\d+)/.exec(text)![1]), output: () => text, waitFor }));
}

function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolveKill) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolveKill();
    child.once('exit', () => resolveKill());
    child.kill('SIGKILL');
  });
}

describe.skipIf(!built)('kill -9 in the middle of rotating the API client (real processes, file store)', () => {
  let idp: DevelopmentIdentityProvider;
  const dirs: string[] = [];
  const running: ChildProcess[] = [];

  beforeAll(async () => {
    // The opt-in mode where an RFC 7592 PUT issues a new secret: the only one where a rotation changes anything to crash in.
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE, rotateClientSecretOnUpdate: true });
  });
  afterAll(async () => {
    await Promise.all(running.map(kill9));
    await idp?.stop();
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  async function accepted(clientId: string, secret: string | undefined): Promise<boolean> {
    if (!secret) return false;
    const response = await fetch(`${idp.issuer}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret }),
    });
    return response.status === 200;
  }

  it.each(['after-mark', 'after-pending'] as const)('crash %s: the store always holds a secret the provider accepts, and the restart finishes or undoes the rotation', async (crashAt) => {
    const dir = await mkdtemp(join(tmpdir(), 'nestjs-identity-crash-'));
    dirs.push(dir);
    const key = randomBytes(32);
    const env = { ISSUER: idp.issuer, AUDIENCE, STORE_PATH: join(dir, 'credentials.json'), ENCRYPTION_KEY: key.toString('base64') };
    const records = apiClientRecords(new FileCredentialStore(env.STORE_PATH), new SecretBox(key));
    const read = async () => (await records.read(API_CLIENT_KEY)) as StoredApiClient;

    const first = await startApp({ ...env, CRASH_AT: crashAt });
    running.push(first.child);
    const provisioned = await read();
    expect(await accepted(provisioned.clientId, provisioned.clientSecret)).toBe(true);

    const admin = await idp.serviceAccountToken({ scopes: ['identity:admin'] });
    const rotation = fetch(`http://127.0.0.1:${first.port}/admin/identity/client/rotate`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } }).catch(() => undefined);
    await first.waitFor('CRASH-POINT');
    await kill9(first.child);
    await rotation;

    // What kill -9 left: marked, and (after-pending) the new secret beside the old one.
    const crashed = await read();
    expect(crashed.rotationStartedAt).toEqual(expect.any(String));
    const holds = [await accepted(crashed.clientId, crashed.clientSecret), await accepted(crashed.clientId, crashed.pendingClientSecret)];
    expect(holds).toEqual(crashAt === 'after-mark' ? [true, false] : [false, true]);

    const second = await startApp({ ...env, CRASH_AT: 'none' });
    running.push(second.child);
    const recovered = await read();
    expect(recovered.rotationStartedAt).toBeUndefined();
    expect(recovered.pendingClientSecret).toBeUndefined();
    expect(await accepted(recovered.clientId, recovered.clientSecret)).toBe(true);
    expect(recovered.clientSecret).toBe(crashAt === 'after-mark' ? provisioned.clientSecret : crashed.pendingClientSecret);
    expect(second.output()).toMatch(crashAt === 'after-mark' ? /had not changed the secret; kept it/ : /finished a rotation interrupted at/);
    const health = await fetch(`http://127.0.0.1:${second.port}/health`);
    expect(health.status).toBe(200);

    // The recovered app rotates again, to the end this time.
    const again = await fetch(`http://127.0.0.1:${second.port}/admin/identity/client/rotate`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ clientId: recovered.clientId, previousSecret: 'refused' });
    const final = await read();
    expect(await accepted(final.clientId, final.clientSecret)).toBe(true);
    expect(await accepted(final.clientId, recovered.clientSecret)).toBe(false);
    for (const secret of [provisioned.clientSecret, crashed.pendingClientSecret, final.clientSecret].filter(Boolean) as string[]) {
      expect(first.output() + second.output()).not.toContain(secret);
    }
    await kill9(second.child);
  });
});
