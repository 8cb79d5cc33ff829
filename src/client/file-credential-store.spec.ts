import { fork, spawnSync } from 'node:child_process';
import { watch } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import swc from '@swc/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { describeCredentialStoreContract } from './credential-store.contract.js';
import { CredentialStoreCorruptError, FileCredentialStore, writeFileAtomic } from './file-credential-store.js';
import { CredentialLockTimeoutError } from './memory-credential-store.js';

const isPosix = process.platform !== 'win32';
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nestjs-identity-store-'));
  dirs.push(dir);
  return dir;
}

afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describeCredentialStoreContract(
  'FileCredentialStore',
  async () => {
    const dir = await tempDir();
    const path = join(dir, 'nested', 'credentials.json');
    const store = new FileCredentialStore(path);
    return {
      store,
      cleanup: async () => {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      },
      reopen: async () => new FileCredentialStore(path),
    };
  },
  { durable: true },
);

describe('FileCredentialStore', () => {
  let dir: string;
  let path: string;
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await rm(join(dir, 'case'), { recursive: true, force: true });
  });
  const fresh = async (): Promise<FileCredentialStore> => {
    path = join(dir, 'case', 'state', 'credentials.json');
    return new FileCredentialStore(path);
  };

  it.runIf(isPosix)('creates the file 0600 in a 0700 directory, and the lock files 0600', async () => {
    const store = await fresh();
    await store.withLock('provision', async () => {
      expect((await stat(`${path}.provision.lock`)).mode & 0o777).toBe(0o600);
    });
    await store.set('k', 'v');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(dirname(path))).mode & 0o777).toBe(0o700);
  });

  it.runIf(isPosix)('tightens an existing file to 0600 on the next write', async () => {
    const store = await fresh();
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, JSON.stringify({ version: 1, entries: { a: '1' } }), { mode: 0o644 });
    await store.set('b', '2');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await store.keys('')).toEqual(['a', 'b']);
  });

  it('starts empty when the file is missing, without creating it on reads', async () => {
    const store = await fresh();
    expect(await store.get('x')).toBeUndefined();
    expect(await store.keys('')).toEqual([]);
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('writes one JSON document, leaves no temp or lock files behind, and stores "__proto__" as a key', async () => {
    const store = await fresh();
    await store.set('__proto__', 'still a value');
    await store.set('client', 'sealed');
    const document = JSON.parse(await readFile(path, 'utf8')) as { version: number; entries: Record<string, string> };
    expect(document.version).toBe(1);
    expect(Object.entries(document.entries)).toEqual([['__proto__', 'still a value'], ['client', 'sealed']]);
    expect(await new FileCredentialStore(path).get('__proto__')).toBe('still a value');
    expect(await readdir(dirname(path))).toEqual(['credentials.json']);
  });

  it('writeFileAtomic replaces the target whole and cleans up its temp file on failure', async () => {
    await fresh();
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(path, 'old');
    await writeFileAtomic(path, 'new ✓');
    expect(await readFile(path, 'utf8')).toBe('new ✓');
    if (isPosix) expect((await stat(path)).mode & 0o777).toBe(0o600);
    // The rename fails (the target is a non-empty directory): the old state and no temp file remain.
    const blocked = join(dirname(path), 'blocked');
    await mkdir(join(blocked, 'inside'), { recursive: true });
    await expect(writeFileAtomic(blocked, 'x')).rejects.toThrow();
    expect((await readdir(dirname(path))).sort()).toEqual(['blocked', 'credentials.json']);
  });

  describe('fails closed on a corrupt file, naming the path and never the content', () => {
    const cases: Record<string, string> = {
      truncated: '{\n  "version": 1,\n  "entries": {\n    "client": "v1.secret-sealed-val',
      empty: '',
      'not JSON': 'garbage secret-sealed-value',
      'wrong shape': JSON.stringify(['secret-sealed-value']),
      'wrong version': JSON.stringify({ version: 2, entries: { client: 'secret-sealed-value' } }),
      'non-string entry': JSON.stringify({ version: 1, entries: { client: 'secret-sealed-value', n: 1 } }),
    };
    for (const [label, content] of Object.entries(cases)) {
      it(label, async () => {
        const store = await fresh();
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, content);
        for (const attempt of [() => store.get('client'), () => store.keys(''), () => store.set('client', 'new'), () => store.delete('client')]) {
          const error: unknown = await attempt().then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error).toBeInstanceOf(CredentialStoreCorruptError);
          expect((error as Error).message).toContain(path);
          expect((error as Error).message).not.toContain('secret-sealed');
        }
        // The corrupt file is left for the operator, not replaced by an empty document.
        expect(await readFile(path, 'utf8')).toBe(content);
      });
    }
  });

  it('serialises concurrent writes in one process without losing any', async () => {
    const store = await fresh();
    await Promise.all(Array.from({ length: 40 }, (_, i) => store.set(`k${String(i).padStart(2, '0')}`, `v${i}`)));
    expect(await store.keys('k')).toHaveLength(40);
  });

  it('two instances over one file (no shared memory) lose no updates and exclude each other', async () => {
    const a = await fresh();
    const b = new FileCredentialStore(path);
    await Promise.all(Array.from({ length: 15 }, (_, i) => [a.set(`a${i}`, 'x'), b.set(`b${i}`, 'y')]).flat());
    expect(await a.keys('')).toHaveLength(30);

    let active = 0;
    let maxActive = 0;
    const hold = async (): Promise<void> => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setTimeout(r, 3));
      active--;
    };
    await Promise.all(Array.from({ length: 6 }, () => [a.withLock('x', hold), b.withLock('x', hold)]).flat());
    expect(maxActive).toBe(1);
  });

  it('keeps lock names inside the directory', async () => {
    const store = await fresh();
    await store.withLock('../../escape/me', async () => {
      const files = await readdir(dirname(path));
      expect(files).toEqual([`credentials.json.${encodeURIComponent('../../escape/me')}.lock`]);
    });
  });

  describe('stale lock files', () => {
    const lockFile = () => `${path}.job.lock`;
    const writeLock = async (owner: object | string): Promise<void> => {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(lockFile(), typeof owner === 'string' ? owner : JSON.stringify(owner));
    };

    it('breaks a lock past its expiry', async () => {
      const store = await fresh();
      await writeLock({ pid: process.pid, host: 'another-host', token: 't', expiresAt: Date.now() - 1 });
      await expect(store.withLock('job', async () => 'ran', { waitMs: 500 })).resolves.toBe('ran');
    });

    it('breaks at once a lock whose owner process on this host is gone', async () => {
      const store = await fresh();
      const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
      await writeLock({ pid: dead, host: hostname(), token: 't', expiresAt: Date.now() + 60_000 });
      const started = Date.now();
      await expect(store.withLock('job', async () => 'ran', { waitMs: 500 })).resolves.toBe('ran');
      expect(Date.now() - started).toBeLessThan(500);
    });

    it('waits for a live owner, times out, and leaves its lock alone', async () => {
      const store = await fresh();
      const owner = JSON.stringify({ pid: process.pid, host: 'another-host', token: 't', expiresAt: Date.now() + 60_000 });
      await writeLock(owner);
      await expect(store.withLock('job', async () => 'never', { waitMs: 150 })).rejects.toBeInstanceOf(CredentialLockTimeoutError);
      expect(await readFile(lockFile(), 'utf8')).toBe(owner);
    });

    it('treats an unreadable lock as being written, and breaks it once older than ttl', async () => {
      const store = await fresh();
      await writeLock('');
      await expect(store.withLock('job', async () => 'never', { waitMs: 100, ttlMs: 5_000 })).rejects.toBeInstanceOf(CredentialLockTimeoutError);
      const old = new Date(Date.now() - 10_000);
      await utimes(lockFile(), old, old);
      await expect(store.withLock('job', async () => 'ran', { waitMs: 500, ttlMs: 5_000 })).resolves.toBe('ran');
    });
  });
});

/**
 * Child processes run the real store code: @swc/core transpiles the module and its relative
 * imports to plain ESM in a temp dir (there is no TS loader for a bare `node`).
 */
describe('FileCredentialStore across processes', () => {
  const srcDir = dirname(fileURLToPath(import.meta.url));
  const children = new Set<ChildProcess>();
  let work: string;
  let moduleUrl: string;
  let childScript: string;

  beforeAll(async () => {
    work = await tempDir();
    moduleUrl = pathToFileURL(await transpileGraph(join(srcDir, 'file-credential-store.ts'), resolve(srcDir, '..'), join(work, 'lib'))).href;
    childScript = join(work, 'child.mjs');
    await writeFile(childScript, CHILD_SCRIPT);
  });

  afterEach(() => {
    for (const child of children) child.kill('SIGKILL');
    children.clear();
  });

  function start(mode: string, storePath: string, extra: string[] = []): { child: ChildProcess; ready: Promise<void>; exit: Promise<number | null> } {
    let stderr = '';
    const child = fork(childScript, [mode, moduleUrl, storePath, ...extra], { execArgv: [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    children.add(child);
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const exit = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
    const ready = new Promise<void>((resolveReady, reject) => {
      child.once('message', () => resolveReady());
      void exit.then((code) => reject(new Error(`child exited (${code}) before it was ready: ${stderr}`)));
    });
    ready.catch(() => undefined);
    return { child, ready, exit };
  }

  it('a writer killed with SIGKILL at random moments always leaves the old or the new document', async ({ annotate }) => {
    const storePath = join(work, 'crash', 'credentials.json');
    const size = 1 << 21; // 2 MiB per record: each write takes long enough for kills to land mid-write
    const versions = ['A', 'B'].map((v) => `${v}:${v.repeat(size)}\n✓`);
    const seed = new FileCredentialStore(storePath);
    await seed.set('keep', 'unchanged ✓');
    await seed.set('big', versions[0]!);

    // Temp files of the document (not the tiny ones a lock attempt may leave).
    const orphans = async () => (await readdir(dirname(storePath))).filter((name) => name.startsWith('.credentials.json.') && name.endsWith('.tmp')).length;
    let killedMidWrite = 0;
    for (let i = 0; i < 15; i++) {
      const { child, ready, exit } = start('write-loop', storePath, [String(size)]);
      await ready; // one full write done: the loop is running
      // Odd iterations kill at a random moment; even ones the instant the next document write
      // shows up in the directory (a temp file, or the target itself if written in place), so
      // that the window where a torn file could appear is hit for sure.
      await (i % 2 ? new Promise((r) => setTimeout(r, Math.random() * 40)) : nextDocumentWrite(dirname(storePath), 200));
      child.kill('SIGKILL');
      await exit;
      children.delete(child);
      // A temp file left behind means the kill landed between creating it and the rename.
      if ((await orphans()) > 0) killedMidWrite++;

      const reader = new FileCredentialStore(storePath);
      const big = await reader.get('big'); // throws CredentialStoreCorruptError on a torn document
      expect(big === versions[0] || big === versions[1], `iteration ${i}: record is neither version`).toBe(true);
      expect(await reader.get('keep')).toBe('unchanged ✓');
    }
    // The parent can still write after all those dead writers (their locks are broken), and
    // that write sweeps the orphaned temp files.
    await new FileCredentialStore(storePath).set('after', 'ok');
    expect(await new FileCredentialStore(storePath).get('after')).toBe('ok');
    expect(await orphans()).toBe(0);
    await annotate(`${killedMidWrite} of 15 kills landed mid-write (temp file written, not yet renamed)`);
  });

  it('withLock excludes a holder in another process', async () => {
    const storePath = join(work, 'locks', 'credentials.json');
    const log = join(work, 'locks', 'log.txt');
    await mkdir(dirname(log), { recursive: true });
    await writeFile(log, '');
    const runs = [start('lock-loop', storePath, [log]), start('lock-loop', storePath, [log])];
    expect(await Promise.all(runs.map((r) => r.exit))).toEqual([0, 0]);

    const lines = (await readFile(log, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(2 * 2 * 10);
    for (let i = 0; i < lines.length; i += 2) {
      const [what, pid] = lines[i]!.split(' ');
      expect(what).toBe('start');
      expect(lines[i + 1]).toBe(`end ${pid}`);
    }
  });
});

/** Resolves at the first change in dir that is the store document or its temp file (or after timeoutMs). */
function nextDocumentWrite(dir: string, timeoutMs: number): Promise<void> {
  return new Promise((resolveWrite) => {
    const done = (): void => {
      clearTimeout(timer);
      watcher.close();
      resolveWrite();
    };
    const watcher = watch(dir, (_event, name) => {
      if (name === 'credentials.json' || (name?.startsWith('.credentials.json.') && name.endsWith('.tmp'))) done();
    });
    const timer = setTimeout(done, timeoutMs);
  });
}

const CHILD_SCRIPT = `
import { appendFileSync } from 'node:fs';
const [mode, moduleUrl, storePath, arg] = process.argv.slice(2);
const { FileCredentialStore } = await import(moduleUrl);
const store = new FileCredentialStore(storePath);
if (mode === 'write-loop') {
  const size = Number(arg);
  const versions = ['A', 'B'].map((v) => v + ':' + v.repeat(size) + '\\n✓');
  for (let i = 1; ; i++) {
    await store.set('big', versions[i % 2]);
    if (i === 1) process.send('ready');
  }
} else if (mode === 'lock-loop') {
  process.send('ready');
  for (let i = 0; i < 10; i++) {
    await store.withLock('shared', async () => {
      appendFileSync(arg, 'start ' + process.pid + '\\n');
      await new Promise((r) => setTimeout(r, 5));
      appendFileSync(arg, 'end ' + process.pid + '\\n');
    }, { waitMs: 20000 });
  }
  process.disconnect();
}
`;

/** Transpiles entry and every module it imports relatively; returns the entry's output path. */
async function transpileGraph(entry: string, rootDir: string, outDir: string): Promise<string> {
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'package.json'), '{"type":"module"}');
  const done = new Set<string>();
  const visit = async (source: string): Promise<void> => {
    if (done.has(source)) return;
    done.add(source);
    const { code } = await swc.transformFile(source, {
      swcrc: false,
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
      module: { type: 'es6' },
    });
    const target = join(outDir, relative(rootDir, source)).replace(/\.ts$/, '.js');
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, code);
    for (const [, specifier] of code.matchAll(/from\s+['"](\.{1,2}\/[^'"]+)\.js['"]/g)) {
      await visit(resolve(dirname(source), `${specifier}.ts`));
    }
  };
  await visit(entry);
  return join(outDir, relative(rootDir, entry)).replace(/\.ts$/, '.js');
}
