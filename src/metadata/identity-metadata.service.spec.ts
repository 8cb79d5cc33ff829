import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CredentialStore } from '../client/credential-store.js';
import { IdentityMetadataUnavailableError } from '../errors/identity-metadata-unavailable.error.js';
import { IdentityUnavailableError } from '../errors/identity-unavailable.error.js';
import { IdentityStatus } from '../health/identity-status.js';
import { resolveIdentityOptions, type IdentityModuleOptions } from '../identity-options.js';
import type { IdentityMetrics } from '../metrics/identity.metrics.js';
import type { IdentityMetadata } from './identity-metadata.js';
import { IdentityMetadataService } from './identity-metadata.service.js';
import { LAST_GOOD_METADATA_KEY, parseLastGood, serializeLastGood } from './last-good-metadata.js';
import { metadataFromDocument } from './metadata-document.js';

const S3DB = '/.well-known/s3db-identity.json';
const OIDC = '/.well-known/openid-configuration';
const RFC8414 = '/.well-known/oauth-authorization-server';

interface Route {
  status?: number;
  body?: unknown;
  raw?: string;
  delayMs?: number;
}

/** A throwaway provider on 127.0.0.1 whose answers each test sets. */
class FakeProvider {
  readonly routes = new Map<string, Route>();
  readonly requests: string[] = [];
  private server?: Server;
  base = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.requests.push(req.url ?? '');
      const route = this.routes.get(req.url ?? '') ?? { status: 404, raw: 'not found' };
      setTimeout(() => {
        res.writeHead(route.status ?? 200, { 'content-type': 'application/json' });
        res.end(route.raw ?? JSON.stringify(route.body));
      }, route.delayMs ?? 0);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  s3db(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return { version: 1, cacheTtl: 3600, issuer: this.base, jwksUrl: `${this.base}/.well-known/jwks.json`, tokenUrl: `${this.base}/oauth/token`, ...overrides };
  }

  discovery(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return { issuer: this.base, jwks_uri: `${this.base}/jwks`, token_endpoint: `${this.base}/token`, ...overrides };
  }
}

class MemoryStore implements CredentialStore {
  readonly data = new Map<string, string>();
  async get(key: string): Promise<string | undefined> {
    return this.data.get(key);
  }
  async set(key: string, value: string): Promise<void> {
    this.data.set(key, value);
  }
  async delete(key: string): Promise<void> {
    this.data.delete(key);
  }
  async keys(prefix: string): Promise<string[]> {
    return [...this.data.keys()].filter((k) => k.startsWith(prefix));
  }
  async withLock<T>(_name: string, fn: () => Promise<T>): Promise<T> {
    return fn();
  }
}

async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

const provider = new FakeProvider();
let services: IdentityMetadataService[] = [];
let status: IdentityStatus;
let metrics: { metadataFetch: ReturnType<typeof vi.fn> };

function service(options: Partial<IdentityModuleOptions> = {}, store?: CredentialStore): IdentityMetadataService {
  const resolved = resolveIdentityOptions({ url: provider.base, audience: 'https://api.example.com', http: { timeoutMs: 1000 }, ...options });
  const created = new IdentityMetadataService(resolved, status, metrics as unknown as IdentityMetrics, store);
  services.push(created);
  return created;
}

async function loadError(svc: IdentityMetadataService): Promise<IdentityMetadataUnavailableError> {
  const error = await svc.load().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(IdentityMetadataUnavailableError);
  return error as IdentityMetadataUnavailableError;
}

beforeAll(async () => {
  Logger.overrideLogger(false);
  await provider.start();
});

afterAll(async () => {
  await provider.stop();
});

beforeEach(() => {
  provider.routes.clear();
  provider.requests.length = 0;
  status = new IdentityStatus();
  metrics = { metadataFetch: vi.fn() };
});

afterEach(() => {
  for (const svc of services) svc.onModuleDestroy();
  services = [];
  vi.useRealTimers();
});

describe('IdentityMetadataService: fetching', () => {
  it('loads the s3db document with one request', async () => {
    provider.routes.set(S3DB, { body: provider.s3db() });
    const svc = service();
    await svc.load();
    expect(svc.get()).toMatchObject({ source: 's3db', issuer: provider.base, jwksUrl: `${provider.base}/.well-known/jwks.json` });
    expect(provider.requests).toEqual([S3DB]);
    expect(metrics.metadataFetch).toHaveBeenCalledWith('success', expect.any(Number));
    status.recordJwksSync(1);
    expect(status.snapshot()).toMatchObject({ status: 'up', metadataSource: 's3db', metadataVersion: 1 });
    expect(svc.lastRefresh()).toBeInstanceOf(Date);
  });

  it('falls back to OIDC discovery on 404, then sticks to it', async () => {
    provider.routes.set(OIDC, { body: provider.discovery() });
    const svc = service();
    await svc.load();
    expect(svc.get()).toMatchObject({ source: 'oidc-discovery', discoveryUrl: `${provider.base}${OIDC}`, jwksUrl: `${provider.base}/jwks` });
    expect(provider.requests).toEqual([S3DB, OIDC]);
    expect(metrics.metadataFetch).toHaveBeenCalledTimes(1);
    provider.requests.length = 0;
    await svc.refresh();
    expect(provider.requests).toEqual([OIDC]);
  });

  it('falls back to RFC 8414 when the others are missing, not JSON or invalid', async () => {
    provider.routes.set(S3DB, { raw: '<html>hello</html>' });
    provider.routes.set(OIDC, { body: provider.discovery({ jwks_uri: undefined }) });
    provider.routes.set(RFC8414, { body: provider.discovery() });
    const svc = service();
    await svc.load();
    expect(svc.get().source).toBe('rfc8414');
    expect(provider.requests).toEqual([S3DB, OIDC, RFC8414]);
  });

  it('with require, fails the boot naming every URL tried', async () => {
    const svc = service({ require: true });
    const error = await loadError(svc);
    expect(error.triedUrls).toEqual([`${provider.base}${S3DB}`, `${provider.base}${OIDC}`, `${provider.base}${RFC8414}`]);
    for (const url of error.triedUrls) expect(error.message).toContain(url);
    expect(error.message).toMatch(/HTTP 404/);
    expect(status.snapshot()).toMatchObject({ status: 'down' });
    expect(status.snapshot().lastError).toMatch(/HTTP 404/);
    expect(metrics.metadataFetch).toHaveBeenCalledWith('error', expect.any(Number));
    expect(() => svc.get()).toThrow(IdentityUnavailableError);
  });

  it('does not try the other documents after a network failure', async () => {
    const url = await closedPortUrl();
    const svc = service({ url, require: true });
    const error = await loadError(svc);
    expect(error.triedUrls).toEqual([`${url}${S3DB}`]);
    expect(error.reason).toMatch(/network error/);
  });

  it('does not wait past the deadline when the provider hangs', async () => {
    provider.routes.set(S3DB, { body: provider.s3db(), delayMs: 5000 });
    const svc = service({ require: true, http: { timeoutMs: 200 } });
    const started = Date.now();
    const error = await loadError(svc);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(error.triedUrls).toHaveLength(1);
    expect(error.reason).toMatch(/no complete answer within 200 ms/);
  });

  it('without require, starts down and keeps retrying until the provider appears', async () => {
    const svc = service({ require: false });
    const changes: IdentityMetadata[] = [];
    const forced: boolean[] = [];
    svc.onChange((m, _previous, change) => {
      changes.push(m);
      forced.push(change.forced);
    });
    await svc.load();
    expect(svc.current()).toBeUndefined();
    expect(() => svc.get()).toThrow(IdentityUnavailableError);
    expect(status.snapshot().status).toBe('down');
    provider.routes.set(S3DB, { body: provider.s3db() });
    await vi.waitFor(() => expect(svc.current()).toBeDefined(), { timeout: 5000, interval: 50 });
    expect(changes).toHaveLength(1);
    expect(forced).toEqual([false]); // a background retry, not a caller's refresh()
    expect(svc.get().source).toBe('s3db');
  });

  it('shares one in-flight fetch between concurrent refreshes', async () => {
    provider.routes.set(S3DB, { body: provider.s3db(), delayMs: 100 });
    const svc = service();
    const results = await Promise.all([svc.refresh(), svc.refresh(), svc.refresh(), svc.refresh()]);
    expect(provider.requests).toEqual([S3DB]);
    expect(new Set(results).size).toBe(1);
  });

  it('rejects a refreshed document whose issuer changed, keeping the old copy', async () => {
    provider.routes.set(S3DB, { body: provider.s3db() });
    const svc = service();
    await svc.load();
    const first = svc.get();
    provider.routes.set(S3DB, { body: provider.s3db({ issuer: 'https://other.example.com' }) });
    await expect(svc.refresh()).rejects.toThrow(/issuer/);
    expect(svc.get()).toBe(first);
    expect(status.snapshot().lastError).toMatch(/issuer/);
    expect(status.snapshot().lastError).not.toContain('other.example.com');
    expect(metrics.metadataFetch).toHaveBeenLastCalledWith('error', expect.any(Number));
  });

  it('keeps the old copy when a refresh fails, and notifies listeners on success', async () => {
    provider.routes.set(S3DB, { body: provider.s3db() });
    const svc = service();
    const seen: Array<[string, string | undefined, boolean]> = [];
    const off = svc.onChange((m, previous, change) => seen.push([m.jwksUrl, previous?.jwksUrl, change.forced]));
    await svc.load();
    provider.routes.set(S3DB, { status: 500, raw: 'oops' });
    await expect(svc.refresh()).rejects.toBeInstanceOf(IdentityMetadataUnavailableError);
    expect(svc.get().jwksUrl).toBe(`${provider.base}/.well-known/jwks.json`);
    provider.routes.set(S3DB, { body: provider.s3db({ jwksUrl: `${provider.base}/keys-v2` }) });
    await svc.refresh();
    // The boot load is not forced; a caller's refresh() is.
    expect(seen).toEqual([
      [`${provider.base}/.well-known/jwks.json`, undefined, false],
      [`${provider.base}/keys-v2`, `${provider.base}/.well-known/jwks.json`, true],
    ]);
    off();
    await svc.refresh();
    expect(seen).toHaveLength(2);
  });

  it('demands signed metadata when requireSignedMetadata is set', async () => {
    provider.routes.set(S3DB, { body: provider.s3db() });
    const error = await loadError(service({ requireSignedMetadata: true }));
    expect(error.reason).toMatch(/requireSignedMetadata/);
  });

  it('derives the outbound policy from the options', () => {
    const svc = service({ issuer: 'https://auth.example.com', allowedHosts: ['keys.example.net'], http: { timeoutMs: 1234, maxBytes: 999 } });
    expect(svc.policy()).toEqual({
      timeoutMs: 1234,
      maxBytes: 999,
      allowInsecureHttp: false,
      allowedHosts: ['keys.example.net', new URL(provider.base).host],
      issuerHost: 'auth.example.com',
    });
  });
});

describe('IdentityMetadataService: inline metadata', () => {
  it('uses inline metadata without HTTP or fetch metrics', async () => {
    const factory = vi.fn(() => ({ issuer: 'https://auth.example.com', jwksUrl: 'https://auth.example.com/jwks' }));
    const svc = service({ url: undefined, issuer: 'https://auth.example.com', metadata: factory });
    await svc.load();
    expect(svc.get()).toMatchObject({ source: 'inline', jwksUrl: 'https://auth.example.com/jwks' });
    expect(factory).toHaveBeenCalledTimes(1);
    expect(provider.requests).toEqual([]);
    expect(metrics.metadataFetch).not.toHaveBeenCalled();
  });

  it('fails the boot on invalid inline metadata when required', async () => {
    const svc = service({ url: undefined, issuer: 'https://auth.example.com', metadata: { issuer: 'https://auth.example.com/', jwksUrl: 'https://auth.example.com/jwks' } });
    const error = await loadError(svc);
    expect(error.triedUrls).toEqual(['inline metadata option']);
    expect(error.reason).toMatch(/issuer/);
  });
});

describe('IdentityMetadataService: serving window', () => {
  const inline = { url: undefined, issuer: 'https://auth.example.com', metadata: { issuer: 'https://auth.example.com', jwksUrl: 'https://auth.example.com/jwks', cacheTtl: 100 } };

  it('serves a stale copy until fetchedAt + ttl + maxStale', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
    const svc = service({ ...inline, maxStale: 50 });
    await svc.load();
    vi.setSystemTime(new Date('2026-01-01T00:02:29Z')); // 149 s: stale but servable
    expect(svc.get().issuer).toBe('https://auth.example.com');
    vi.setSystemTime(new Date('2026-01-01T00:02:31Z')); // 151 s: past the window
    expect(() => svc.get()).toThrow(IdentityUnavailableError);
    expect(svc.current()).toBeDefined();
  });

  it('defaults maxStale to 3 x ttl (the document cacheTtl when the option is unset)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
    const svc = service(inline);
    await svc.load();
    expect(status.snapshot().servesUntil).toBe('2026-01-01T00:06:40.000Z'); // 100 + 300 s
    vi.setSystemTime(new Date('2026-01-01T00:06:39Z'));
    expect(() => svc.get()).not.toThrow();
    vi.setSystemTime(new Date('2026-01-01T00:06:41Z'));
    expect(() => svc.get()).toThrow(IdentityUnavailableError);
  });

  it('ends the window at fetchedAt + ttl with requireFreshMetadata', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
    const svc = service({ ...inline, cacheTtl: 60, requireFreshMetadata: true });
    await svc.load();
    vi.setSystemTime(new Date('2026-01-01T00:00:59Z'));
    expect(() => svc.get()).not.toThrow();
    vi.setSystemTime(new Date('2026-01-01T00:01:01Z'));
    expect(() => svc.get()).toThrow(IdentityUnavailableError);
  });

  it('uses 3600 s when neither the option nor the document states a ttl', async () => {
    provider.routes.set(OIDC, { body: provider.discovery() });
    const svc = service();
    await svc.load();
    const fetchedAt = svc.get().fetchedAt.getTime();
    expect(new Date(status.snapshot().servesUntil!).getTime()).toBe(fetchedAt + 4 * 3600 * 1000);
  });
});

describe('IdentityMetadataService: persisted last good copy', () => {
  async function persisted(store: MemoryStore, ageSeconds: number, overrides: Record<string, unknown> = {}): Promise<void> {
    const url = await closedPortUrl();
    const copy = metadataFromDocument('s3db', { issuer: url, jwksUrl: `${url}/jwks`, cacheTtl: 100, ...overrides }, {
      issuer: url,
      policy: { timeoutMs: 1000, maxBytes: 1024, allowInsecureHttp: false, allowedHosts: [], issuerHost: new URL(url).host },
      fetchedAt: new Date(Date.now() - ageSeconds * 1000),
    });
    await store.set(LAST_GOOD_METADATA_KEY, serializeLastGood(copy));
    provider.base = url; // the provider is "down": the service points at a closed port
  }

  let realBase = '';
  beforeEach(() => {
    realBase = provider.base;
  });
  afterEach(() => {
    provider.base = realBase;
  });

  it('persists each fetched copy', async () => {
    provider.routes.set(S3DB, { body: provider.s3db() });
    const store = new MemoryStore();
    const svc = service({}, store);
    await svc.load();
    await vi.waitFor(() => expect(store.data.has(LAST_GOOD_METADATA_KEY)).toBe(true));
    const back = parseLastGood(store.data.get(LAST_GOOD_METADATA_KEY)!, { issuer: provider.base, policy: svc.policy() });
    expect(back).toEqual(svc.get());
  });

  it('holds the copy back while the boot runs, and writes it once released; later copies at once', async () => {
    provider.routes.set(S3DB, { body: provider.s3db() });
    const store = new MemoryStore();
    const svc = service({}, store);
    svc.holdPersistence();
    await svc.load();
    await svc.refresh();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(store.data.has(LAST_GOOD_METADATA_KEY)).toBe(false);
    await svc.releasePersistence();
    // The latest copy (the refresh's), once.
    expect(parseLastGood(store.data.get(LAST_GOOD_METADATA_KEY)!, { issuer: provider.base, policy: svc.policy() })).toEqual(svc.get());
    store.data.delete(LAST_GOOD_METADATA_KEY);
    await svc.refresh();
    await vi.waitFor(() => expect(store.data.has(LAST_GOOD_METADATA_KEY)).toBe(true));
  });

  it('never fails a refresh because the store fails', async () => {
    provider.routes.set(S3DB, { body: provider.s3db() });
    const store = new MemoryStore();
    store.set = () => Promise.reject(new Error('disk full'));
    const svc = service({}, store);
    await svc.load();
    expect(svc.get().source).toBe('s3db');
  });

  it('boots degraded from a persisted copy within maxStale, even with require', async () => {
    const store = new MemoryStore();
    await persisted(store, 150); // past ttl (100 s), within ttl + 3 x ttl
    const svc = service({ require: true }, store);
    await svc.load();
    expect(svc.get()).toMatchObject({ source: 's3db', jwksUrl: `${provider.base}/jwks` });
    status.recordJwksSync(1);
    expect(status.snapshot().status).toBe('degraded');
    expect(status.snapshot().lastError).toMatch(/persisted/);
  });

  it('ignores the persisted copy with requireFreshMetadata', async () => {
    const store = new MemoryStore();
    await persisted(store, 10);
    await loadError(service({ require: true, requireFreshMetadata: true }, store));
  });

  it('ignores a persisted copy past its window', async () => {
    const store = new MemoryStore();
    await persisted(store, 401);
    await loadError(service({ require: true }, store));
  });

  it('ignores a persisted copy of another issuer', async () => {
    const store = new MemoryStore();
    await persisted(store, 10);
    const svc = service({ require: true, issuer: `${provider.base}/other` }, store);
    await loadError(svc);
  });
});
