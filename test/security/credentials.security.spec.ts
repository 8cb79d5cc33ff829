import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileCredentialStore } from '../../src/client/file-credential-store.js';
import { SealedRecords, StoredRecordError } from '../../src/client/sealed-records.js';
import { credentialAad, SecretBox, SecretBoxError } from '../../src/client/secret-box.js';

/**
 * Secrets at rest: AES-256-GCM with a fresh 96-bit nonce per seal and a full 128-bit tag
 * (NIST SP 800-38D), the record's identity bound as associated data, fail-closed opening, a
 * store file only its owner can read, replaced atomically.
 */

const SECRET = 'client-secret-5bV2mQ9xL0pR7tW3yZ8aC1dE4fG6hJ';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'identity-security-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const parts = (sealed: string) => {
  const [version, nonce, ciphertext, tag] = sealed.split('.') as [string, string, string, string];
  return { version, nonce: Buffer.from(nonce, 'base64url'), ciphertext: Buffer.from(ciphertext, 'base64url'), tag: Buffer.from(tag, 'base64url'), raw: [version, nonce, ciphertext, tag] };
};

function expectClosed(fn: () => unknown, key: Buffer): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(SecretBoxError);
  const message = (error as Error).message;
  expect(message).not.toContain(SECRET);
  expect(message).not.toContain(key.toString('base64'));
  expect(message).not.toContain(key.toString('hex'));
}

describe('SecretBox', () => {
  const key = randomBytes(32);
  const box = new SecretBox(key);
  const aad = credentialAad('service-account:orders-worker', 'clientSecret');

  it('uses a fresh random 96-bit nonce for every write of the same secret', () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const sealed = parts(box.seal(SECRET, aad));
      expect(sealed.nonce).toHaveLength(12);
      nonces.add(sealed.nonce.toString('hex'));
    }
    expect(nonces.size).toBe(1000);
  });

  it('writes and checks a full 16-byte tag; a truncated or extended tag fails closed', () => {
    const sealed = box.seal(SECRET, aad);
    const p = parts(sealed);
    expect(p.tag).toHaveLength(16);
    for (const tag of [p.tag.subarray(0, 12), p.tag.subarray(0, 4), p.tag.subarray(0, 0), Buffer.concat([p.tag, Buffer.from([0])])]) {
      expectClosed(() => box.open([p.raw[0], p.raw[1], p.raw[2], tag.toString('base64url')].join('.'), aad), key);
    }
  });

  it('binds the record: a sealed value moved to another record or field does not open', () => {
    const sealed = box.seal(SECRET, aad);
    for (const other of [credentialAad('service-account:billing', 'clientSecret'), credentialAad('service-account:orders-worker', 'registrationAccessToken'), credentialAad('client:self', 'clientSecret'), '', `${aad} `]) {
      expectClosed(() => box.open(sealed, other), key);
    }
    expect(box.open(sealed, aad)).toBe(SECRET);
  });

  it('fails closed on tampering with any byte, on a wrong key, on a wrong version and on junk', () => {
    const sealed = box.seal(SECRET, aad);
    const p = parts(sealed);
    for (const index of [1, 2, 3] as const) {
      const bytes = Buffer.from(p.raw[index]!, 'base64url');
      for (let i = 0; i < bytes.length; i += Math.max(1, Math.floor(bytes.length / 8))) {
        const flipped = Buffer.from(bytes);
        flipped[i]! ^= 0x01;
        const raw = [...p.raw];
        raw[index] = flipped.toString('base64url');
        expectClosed(() => box.open(raw.join('.'), aad), key);
      }
    }
    expectClosed(() => new SecretBox(randomBytes(32)).open(sealed, aad), key);
    expectClosed(() => box.open(sealed.replace(/^v1\./, 'v2.'), aad), key);
    for (const junk of ['', 'v1', 'v1...', `${sealed}.x`, sealed.slice(0, -4), 'v1.AAAA.AAAA.AAAA']) expectClosed(() => box.open(junk, aad), key);
  });

  it('never shows its key when inspected or serialised', () => {
    for (const shown of [inspect(box, { showHidden: true, depth: 5 }), JSON.stringify(box), String(box)]) {
      expect(shown).not.toContain(key.toString('hex'));
      expect(shown).not.toContain(key.toString('base64'));
    }
  });
});

describe('FileCredentialStore with sealed records', () => {
  const key = randomBytes(32);
  interface Rec {
    clientId: string;
    clientSecret?: string;
    name?: string;
  }
  const records = (store: FileCredentialStore, box = new SecretBox(key)) => new SealedRecords<Rec>(store, box, ['clientSecret'], () => undefined);

  it('keeps only sealed secrets in a file mode 0600, in a directory created 0700, whatever the umask', async () => {
    const previous = process.umask(0);
    try {
      const path = join(dir, 'private', 'credentials.json');
      const store = new FileCredentialStore(path);
      await records(store).write('service-account:a', { clientId: 'a', clientSecret: SECRET, name: 'A' });
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect((await stat(join(dir, 'private'))).mode & 0o777).toBe(0o700);
      const text = await readFile(path, 'utf8');
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(Buffer.from(SECRET).toString('base64'));
      expect((await records(store).read('service-account:a'))?.clientSecret).toBe(SECRET);
    } finally {
      process.umask(previous);
    }
  });

  it('fails closed when a sealed value is copied onto another record, edited, or read with another key', async () => {
    const path = join(dir, 'swap', 'credentials.json');
    const store = new FileCredentialStore(path);
    await records(store).write('service-account:a', { clientId: 'a', clientSecret: SECRET });
    await records(store).write('service-account:b', { clientId: 'b', clientSecret: 'b-secret-that-is-long-enough' });
    const document = JSON.parse(await readFile(path, 'utf8')) as { entries: Record<string, string> };
    const a = JSON.parse(document.entries['service-account:a']!) as Rec;
    // The attacker with write access to the file swaps a's sealed secret into b's record.
    document.entries['service-account:b'] = JSON.stringify({ clientId: 'b', clientSecret: a.clientSecret });
    await writeFile(path, JSON.stringify(document));
    await expect(records(store).read('service-account:b')).rejects.toBeInstanceOf(SecretBoxError);
    // ... or renames the record so that a's secret answers for b.
    document.entries['service-account:b'] = JSON.stringify({ ...a, clientId: 'b' });
    await writeFile(path, JSON.stringify(document));
    await expect(records(store).read('service-account:b')).rejects.toBeInstanceOf(SecretBoxError);
    document.entries['service-account:b'] = '{"clientId":';
    await writeFile(path, JSON.stringify(document));
    await expect(records(store).read('service-account:b')).rejects.toBeInstanceOf(StoredRecordError);
    await expect(records(store, new SecretBox(randomBytes(32))).read('service-account:a')).rejects.toBeInstanceOf(SecretBoxError);
    const error = await records(store, new SecretBox(randomBytes(32))).read('service-account:a').catch((e: Error) => e);
    expect((error as Error).message).not.toContain(SECRET);
  });

  it('replaces the file atomically: concurrent writers never lose an update, readers never see a torn file', async () => {
    const path = join(dir, 'atomic', 'credentials.json');
    const writer = new FileCredentialStore(path);
    const reader = new FileCredentialStore(path);
    await writer.set('seed', 'x');
    let reading = true;
    let reads = 0;
    const readLoop = (async () => {
      while (reading) {
        await reader.get('seed'); // throws CredentialStoreCorruptError on a torn document
        reads++;
      }
    })();
    const writers = [new FileCredentialStore(path), new FileCredentialStore(path), writer];
    await Promise.all(Array.from({ length: 60 }, (_, i) => writers[i % writers.length]!.set(`k${i}`, `${'v'.repeat(2048)}${i}`)));
    reading = false;
    await readLoop;
    expect(reads).toBeGreaterThan(0);
    for (let i = 0; i < 60; i++) expect(await reader.get(`k${i}`)).toBe(`${'v'.repeat(2048)}${i}`);
    const leftovers = (await readdir(join(dir, 'atomic'))).filter((name) => name !== 'credentials.json');
    expect(leftovers).toEqual([]);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });
});
