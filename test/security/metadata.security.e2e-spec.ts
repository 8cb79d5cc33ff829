import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { IdentityMetadataService, IdentityMetadataUnavailableError, IdentityStatus, JwksService, type IdentityModuleOptions } from '../../src/index.js';
import { endless, HostileProvider, json, redirect, stall, stallBody } from './support/hostile-provider.js';
import { AUDIENCE, bearer, PLATFORMS, startSecurityApp, type SecurityApp } from './support/security-app.js';

/**
 * Hostile metadata documents and hostile answers (RFC 8414 §3.3 / OIDC Discovery §4.3 issuer
 * mix-up defence; SSRF: the configuration, not a document, decides where the module connects).
 * At boot the module refuses to start; on refresh it keeps the last good copy. Either way the
 * reason is reported without repeating the document: CANARY never reaches an error, a status
 * or a log line. No test here sends a packet beyond 127.0.0.1: every non-loopback URL is refused
 * by policy before any DNS lookup or connection.
 */

const CANARY = 'CANARY-7f3a9c';
const METADATA = '/.well-known/s3db-identity.json';

type Scenario = [label: string, apply: (p: HostileProvider) => void];

const documentScenarios: Scenario[] = [
  ['issuer mix-up', (p) => p.serveDocument({ ...p.goodDocument(), issuer: `https://${CANARY}.evil.example.com` })],
  ['issuer with a trailing slash', (p) => p.serveDocument({ ...p.goodDocument(), issuer: `${p.issuer}/`, note: CANARY })],
  ['issuer as an array', (p) => p.serveDocument({ ...p.goodDocument(), issuer: [p.issuer, CANARY] })],
  ['issuer missing', (p) => p.serveDocument({ ...p.goodDocument(), issuer: undefined, note: CANARY })],
  ['jwksUrl missing', (p) => p.serveDocument({ ...p.goodDocument(), jwksUrl: undefined, note: CANARY })],
  ['jwksUrl not a string', (p) => p.serveDocument({ ...p.goodDocument(), jwksUrl: { url: CANARY } })],
  ['jwksUrl relative', (p) => p.serveDocument({ ...p.goodDocument(), jwksUrl: `/${CANARY}/jwks.json` })],
  ['jwksUrl on another host', (p) => p.serveDocument({ ...p.goodDocument(), jwksUrl: `http://localhost:${p.port}/${CANARY}?k=${CANARY}` })],
  ['jwksUrl on a link-local address', (p) => p.serveDocument({ ...p.goodDocument(), jwksUrl: `http://169.254.169.254/latest/meta-data/${CANARY}` })],
  ['jwksUrl on a link-local https address', (p) => p.serveDocument({ ...p.goodDocument(), jwksUrl: `https://169.254.169.254/${CANARY}` })],
  ['jwksUrl on the cloud metadata name', (p) => p.serveDocument({ ...p.goodDocument(), jwksUrl: `https://metadata.google.internal/${CANARY}` })],
  ['jwksUrl on IPv6 link-local', (p) => p.serveDocument({ ...p.goodDocument(), jwksUrl: `https://[fe80::1]/${CANARY}` })],
  ['jwksUrl with file:', (p) => p.serveDocument({ ...p.goodDocument(), jwksUrl: `file:///etc/passwd#${CANARY}` })],
  ['jwksUrl with data:', (p) => p.serveDocument({ ...p.goodDocument(), jwksUrl: `data:application/json,{"keys":["${CANARY}"]}` })],
  ['jwksUrl with userinfo', (p) => p.serveDocument({ ...p.goodDocument(), jwksUrl: `http://admin:${CANARY}@127.0.0.1:${p.port}/jwks.json` })],
  ['jwksUrl over http outside loopback', (p) => p.serveDocument({ ...p.goodDocument(), jwksUrl: `http://idp.example.test/${CANARY}` })],
  ['tokenUrl on another host', (p) => p.serveDocument({ ...p.goodDocument(), tokenUrl: `https://${CANARY}.example.test/token` })],
  ['malformed JSON', (p) => p.routes.set(METADATA, json(200, `{"issuer":"${CANARY}",`))],
  ['a JSON array', (p) => p.routes.set(METADATA, json(200, [p.goodDocument(), CANARY]))],
  ['a JSON string', (p) => p.routes.set(METADATA, json(200, JSON.stringify(CANARY)))],
  ['an HTML error page', (p) => p.routes.set(METADATA, json(500, `<html>${CANARY}</html>`))],
  ['an oversized document', (p) => p.serveDocument({ ...p.goodDocument(), padding: `${CANARY}${'x'.repeat(64 * 1024)}` })],
  ['a redirect', (p) => p.routes.set(METADATA, redirect(`/elsewhere?${CANARY}`))],
  ['a redirect to another host', (p) => p.routes.set(METADATA, redirect(`http://localhost:${p.port}/elsewhere`, 307))],
  ['an endless body', (p) => p.routes.set(METADATA, endless)],
  ['no answer', (p) => p.routes.set(METADATA, stall)],
  ['headers then silence', (p) => p.routes.set(METADATA, stallBody)],
];

const jwksScenarios: Scenario[] = [
  ['a redirect', (p) => p.routes.set('/jwks.json', redirect('/elsewhere'))],
  ['malformed JSON', (p) => p.routes.set('/jwks.json', json(200, `{"keys":[${CANARY}`))],
  ['an oversized key set', (p) => p.serveJwks({ keys: [p.goodJwk()], padding: `${CANARY}${'x'.repeat(64 * 1024)}` })],
  ['no keys', (p) => p.serveJwks({ keys: [], note: CANARY })],
  ['keys not an array', (p) => p.serveJwks({ keys: CANARY })],
  ['only unusable keys', (p) => p.serveJwks({ keys: [{ kty: 'oct', k: CANARY, kid: CANARY }] })],
  ['an endless body', (p) => p.routes.set('/jwks.json', endless)],
  ['no answer', (p) => p.routes.set('/jwks.json', stall)],
  ['503', (p) => p.routes.set('/jwks.json', json(503, CANARY))],
];

const options = (provider: HostileProvider, extra: Partial<IdentityModuleOptions> = {}) => (): IdentityModuleOptions => ({
  url: provider.issuer,
  audience: AUDIENCE,
  http: { timeoutMs: 300, maxBytes: 16 * 1024 },
  ...extra,
});

describe.each(PLATFORMS)('hostile metadata and fetches on %s', (platform) => {
  let provider: HostileProvider;

  beforeAll(async () => {
    provider = await HostileProvider.start(AUDIENCE);
  });

  afterAll(async () => {
    await provider?.stop();
  });

  afterEach(() => provider.reset());

  describe('at boot: the module refuses to start, saying why without quoting the document', () => {
    it.each(documentScenarios)('%s', async (_label, apply) => {
      apply(provider);
      const elsewhere = provider.hitCount('/elsewhere');
      const error = await startSecurityApp(platform, options(provider)).then(
        async (s) => {
          await s.close();
          return undefined;
        },
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(IdentityMetadataUnavailableError);
      expect((error as Error).message).not.toContain(CANARY);
      expect(provider.hitCount('/elsewhere'), 'a redirect was followed').toBe(elsewhere);
    });

    it('refuses http:// outside loopback unless allowInsecureHttp, and link-local even then', async () => {
      for (const [url, extra] of [
        ['http://idp.example.test', {}],
        ['http://10.0.0.1', {}],
        ['http://169.254.169.254', { allowInsecureHttp: true }],
        ['http://[fe80::1]', { allowInsecureHttp: true }],
        ['http://metadata.google.internal', { allowInsecureHttp: true }],
        ['http://100.100.100.200', { allowInsecureHttp: true }],
      ] as const) {
        const error = await startSecurityApp(platform, () => ({ url, audience: AUDIENCE, ...extra })).catch((e: unknown) => e);
        expect(error, url).toBeInstanceOf(IdentityMetadataUnavailableError);
        expect((error as IdentityMetadataUnavailableError).reason, url).toMatch(/only https|link-local/);
      }
    });

    it('refuses metadata URLs with credentials or another scheme in the configuration itself', async () => {
      for (const url of [`http://user:${CANARY}@127.0.0.1:${provider.port}`, 'file:///etc/identity', 'ftp://127.0.0.1/']) {
        const error = await startSecurityApp(platform, () => ({ url, audience: AUDIENCE })).catch((e: unknown) => e);
        expect(error, url).toBeInstanceOf(Error);
        expect((error as Error).message).not.toContain(CANARY);
      }
    });

    it('follows a document to another host only when allowedHosts names it', async () => {
      provider.serveDocument({ ...provider.goodDocument(), jwksUrl: `http://localhost:${provider.port}/jwks.json` });
      await expect(startSecurityApp(platform, options(provider))).rejects.toBeInstanceOf(IdentityMetadataUnavailableError);
      const s = await startSecurityApp(platform, options(provider, { allowedHosts: [`localhost:${provider.port}`] }));
      try {
        expect((await s.http.get('/sec/any').set(bearer(provider.mint()))).status).toBe(200);
      } finally {
        await s.close();
      }
    });
  });

  describe('on refresh: the last good copy stays in use', () => {
    let s: SecurityApp;
    let metadata: IdentityMetadataService;
    let jwks: JwksService;

    beforeAll(async () => {
      provider.reset();
      s = await startSecurityApp(platform, options(provider, { jwksCooldown: 3600 }));
      metadata = s.app.get(IdentityMetadataService);
      jwks = s.app.get(JwksService);
    });

    afterAll(async () => {
      expect(s.logs.text).not.toContain(CANARY);
      await s?.close();
    });

    const stillServing = async (label: string) => {
      expect(metadata.current()?.issuer, label).toBe(provider.issuer);
      expect(metadata.current()?.jwksUrl, label).toBe(provider.jwksUrl);
      expect(jwks.keyCount(), label).toBe(1);
      const response = await s.http.get('/sec/any').set(bearer(provider.mint()));
      expect(response.status, `${label}: ${response.text}`).toBe(200);
      const snapshot = JSON.stringify(s.app.get(IdentityStatus).snapshot());
      expect(snapshot, label).not.toContain(CANARY);
    };

    it.each(documentScenarios)('metadata: %s', async (label, apply) => {
      apply(provider);
      const error = await metadata.refresh().then(() => undefined, (e: unknown) => e);
      expect(error, label).toBeInstanceOf(IdentityMetadataUnavailableError);
      expect((error as Error).message).not.toContain(CANARY);
      await stillServing(label);
    });

    it.each(jwksScenarios)('JWKS: %s', async (label, apply) => {
      apply(provider);
      await expect(jwks.refresh('scheduled'), label).rejects.toBeDefined();
      await stillServing(label);
      expect(provider.hitCount('/elsewhere')).toBe(0);
    });

    it('an unknown kid triggers no refetch storm: one per cooldown, however many tokens carry it', async () => {
      const before = provider.hitCount('/jwks.json');
      const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => s.http.get('/sec/any').set(bearer(provider.mint({}, { kid: `unknown-${i}` })))));
      for (const response of responses) expect(response.status).toBe(401);
      expect(provider.hitCount('/jwks.json') - before).toBeLessThanOrEqual(1);
    });
  });
});
