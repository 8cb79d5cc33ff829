import 'reflect-metadata';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClientCredentialsService, ClientProvisioningService, IdentityModule, type IdentityModuleOptions } from '../src/index.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { createApp, PLATFORMS } from './support/platforms.js';

const AUDIENCE = 'https://api.example.com';
const REDIRECT = 'https://api.example.com/auth/callback';
const KEY = randomBytes(32).toString('base64');
const BAD_SECRET = 'bad-secret-x7Qp';
const INVALID_CLIENT_WORDING = 'credentials are wrong or scopes mismatch; re-run auto-provisioning (`nestjs-identity client provision`) or rotate with the CLI (`nestjs-identity client rotate`)';

const payloadOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

let idp: DevelopmentIdentityProvider;
const dirs: string[] = [];
const contexts: INestApplicationContext[] = [];

beforeAll(async () => {
  idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
});
afterEach(async () => {
  while (contexts.length) await contexts.pop()!.close();
});
afterAll(async () => {
  await idp?.stop();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nestjs-identity-client-'));
  dirs.push(dir);
  return dir;
}

function options(dir: string, extra: Partial<IdentityModuleOptions> = {}): IdentityModuleOptions {
  return {
    url: idp.issuer,
    audience: AUDIENCE,
    encryptionKey: KEY,
    store: { type: 'file', path: join(dir, 'credentials.json') },
    client: { redirectUri: REDIRECT },
    autoProvision: { name: 'orders-api', scopes: ['orders:read'], audience: AUDIENCE },
    metrics: false,
    ...extra,
  };
}

/** Boots the module without HTTP, like a worker or the CLI would. */
async function boot(moduleOptions: IdentityModuleOptions): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(IdentityModule.forRoot(moduleOptions), { logger: false, abortOnError: false });
  contexts.push(app);
  return app;
}

async function bootError(moduleOptions: IdentityModuleOptions): Promise<Error> {
  const error = await boot(moduleOptions).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'the boot should have failed').toBeInstanceOf(Error);
  return error as Error;
}

describe('auto-provisioning of the API client', () => {
  it('registers once, seals the secret, and reuses the stored client after a restart', async () => {
    const dir = await tempDir();
    const before = idp.stats.registration;
    const first = await boot(options(dir));
    const clientId = first.get(ClientCredentialsService).clientId!;
    expect(clientId).toEqual(expect.any(String));
    expect(first.get(ClientProvisioningService).source).toBe('provisioned');
    expect(idp.stats.registration).toBe(before + 1);
    expect(idp.clientMetadata(clientId)).toMatchObject({ client_name: 'orders-api', scope: 'orders:read', grant_types: ['client_credentials'], redirect_uris: [REDIRECT], token_endpoint_auth_method: 'client_secret_post' });
    const token = await first.get(ClientCredentialsService).getToken({ scopes: ['orders:read'] });
    expect(payloadOf(token)).toMatchObject({ client_id: clientId, scope: 'orders:read', aud: AUDIENCE });
    await first.close();
    contexts.pop();

    const secret = idp.clientMetadata(clientId)!.client_secret as string;
    const stored = await readFile(join(dir, 'credentials.json'), 'utf8');
    expect(stored).toContain(clientId);
    expect(stored).not.toContain(secret);
    const audit = await readFile(join(dir, 'audit.log'), 'utf8');
    expect(audit.trim().split('\n').map((line) => JSON.parse(line))).toEqual([
      { at: expect.any(String), action: 'client.provision', actor: 'system', outcome: 'success', target: clientId },
    ]);
    expect(audit).not.toContain(secret);

    const second = await boot(options(dir));
    expect(second.get(ClientCredentialsService).clientId).toBe(clientId);
    expect(second.get(ClientProvisioningService).source).toBe('store');
    expect(idp.stats.registration).toBe(before + 1);
    expect(second.get(ClientCredentialsService).lastProbe()).toMatchObject({ valid: true, clientId });
  });

  it('boots without a client when autoProvision is off and nothing is stored, writing no files', async () => {
    const dir = await tempDir();
    const app = await boot(options(dir, { autoProvision: false, store: undefined, encryptionKey: undefined }));
    expect(app.get(ClientCredentialsService).clientId).toBeUndefined();
    expect(() => app.get(ClientCredentialsService).getToken()).toThrow(/no client credentials/);
  });

  it('refuses to provision without an encryption key, and says how to make one', async () => {
    const error = await bootError(options(await tempDir(), { encryptionKey: undefined }));
    expect(error.message).toBe(
      'nestjs-identity: option "encryptionKey": is required for autoProvision (secrets are sealed at rest with AES-256-GCM); generate one with: node -e "console.log(require(\'crypto\').randomBytes(32).toString(\'base64\'))"',
    );
    const short = await bootError(options(await tempDir(), { encryptionKey: randomBytes(16).toString('base64') }));
    expect(short.message).toMatch(/option "encryptionKey": must decode to exactly 32 bytes \(got 16\); generate one with/);
  });

  describe('stored credentials fail closed', () => {
    async function provisioned(): Promise<{ dir: string; path: string; registrations: number }> {
      const dir = await tempDir();
      await (await boot(options(dir))).close();
      contexts.pop();
      return { dir, path: join(dir, 'credentials.json'), registrations: idp.stats.registration };
    }

    it('with a wrong key', async () => {
      const { dir, registrations } = await provisioned();
      const error = await bootError(options(dir, { encryptionKey: randomBytes(32).toString('base64') }));
      expect(error.message).toMatch(/^cannot decrypt credential client:self#[\w-]+#clientSecret: wrong encryptionKey or the stored value was tampered with$/);
      expect(idp.stats.registration).toBe(registrations); // never a silent second registration
    });

    it('with a tampered secret', async () => {
      const { dir, path, registrations } = await provisioned();
      const document = JSON.parse(await readFile(path, 'utf8')) as { entries: Record<string, string> };
      const record = JSON.parse(document.entries['client:self']!) as Record<string, string>;
      const sealed = record.clientSecret!;
      const i = sealed.length - 30;
      record.clientSecret = sealed.slice(0, i) + (sealed[i] === 'A' ? 'B' : 'A') + sealed.slice(i + 1);
      document.entries['client:self'] = JSON.stringify(record);
      await writeFile(path, JSON.stringify(document));
      expect((await bootError(options(dir))).message).toMatch(/cannot decrypt credential client:self#.*tampered with/);
      expect(idp.stats.registration).toBe(registrations);
    });

    it('with a truncated file', async () => {
      const { dir, path, registrations } = await provisioned();
      const text = await readFile(path, 'utf8');
      await writeFile(path, text.slice(0, text.length / 2));
      const error = await bootError(options(dir));
      expect(error.name).toBe('CredentialStoreCorruptError');
      expect(error.message).toContain(`credential store ${path} is unreadable: it is not valid JSON`);
      expect(idp.stats.registration).toBe(registrations);
    });
  });
});

describe('the boot probe of configured credentials', () => {
  it('accepts good credentials, finding the auth method when none is configured', async () => {
    const { clientId, clientSecret } = idp.defaultServiceAccount; // registered with client_secret_basic
    const app = await boot({ url: idp.issuer, audience: AUDIENCE, metrics: false, client: { clientId, clientSecret } });
    const credentials = app.get(ClientCredentialsService);
    expect(credentials.lastProbe()).toMatchObject({ valid: true, clientId });
    const token = await credentials.getToken({ scopes: ['orders:read'], audience: 'https://orders.example.com' });
    expect(payloadOf(token)).toMatchObject({ client_id: clientId, aud: 'https://orders.example.com', scope: 'orders:read' });
    expect(await credentials.getToken({ scopes: ['orders:read'], audience: 'https://orders.example.com' })).toBe(token);
  });

  it('fails the boot on invalid_client with the documented troubleshooting words', async () => {
    const before = idp.stats.token;
    for (const method of ['client_secret_basic', 'client_secret_post', undefined] as const) {
      const error = await bootError({ url: idp.issuer, audience: AUDIENCE, metrics: false, client: { clientId: 'dev-service-account', clientSecret: BAD_SECRET, tokenEndpointAuthMethod: method } });
      expect(error.name).toBe('IdentityClientCredentialsError');
      expect(error.message).toBe(`Identity refused the API's client "dev-service-account" (invalid_client) during start: ${INVALID_CLIENT_WORDING}`);
      expect(error.message).not.toContain(BAD_SECRET);
    }
    // Configured methods are probed once; an unknown one is tried both ways.
    expect(idp.stats.token - before).toBe(4);
  });

  it('treats a scope mismatch like wrong credentials', async () => {
    const narrow = await idp.registerClient({ clientId: 'narrow-api', scopes: ['orders:read'], tokenEndpointAuthMethod: 'client_secret_post' });
    const error = await bootError({
      url: idp.issuer,
      audience: AUDIENCE,
      metrics: false,
      client: { clientId: narrow.clientId, clientSecret: narrow.clientSecret, tokenEndpointAuthMethod: 'client_secret_post' },
      autoProvision: { scopes: ['orders:write'] },
      encryptionKey: KEY,
      store: { type: 'file', path: join(await tempDir(), 'credentials.json') },
    });
    expect(error.message).toBe(`Identity refused the API's client "narrow-api" (invalid_scope) during start: ${INVALID_CLIENT_WORDING}`);
  });
});

describe.each(PLATFORMS)('credential health on %s', (platform) => {
  it('without require, boots and reports the refused credentials (time, verdict, fix) in /health', async () => {
    const app = await createApp(platform, {
      imports: [
        IdentityModule.forRoot({
          url: idp.issuer,
          audience: AUDIENCE,
          metrics: false,
          require: false,
          health: { expose: true },
          client: { clientId: 'dev-service-account', clientSecret: BAD_SECRET, tokenEndpointAuthMethod: 'client_secret_basic' },
        }),
      ],
    });
    try {
      const health = await request(app.getHttpServer()).get('/health');
      expect(health.status).toBe(200);
      expect(health.body.info.identity).toMatchObject({
        status: 'degraded',
        credentialsValid: false,
        lastCredentialValidation: expect.any(String),
        lastError: `client "dev-service-account": invalid_client: ${INVALID_CLIENT_WORDING}`,
      });
      expect(JSON.stringify(health.body)).not.toContain(BAD_SECRET);
    } finally {
      await app.close();
    }
  });

  it('reports valid credentials after a successful probe', async () => {
    const { clientId, clientSecret } = idp.defaultServiceAccount;
    const app = await createApp(platform, {
      imports: [IdentityModule.forRoot({ url: idp.issuer, audience: AUDIENCE, metrics: false, health: { expose: true }, client: { clientId, clientSecret, tokenEndpointAuthMethod: 'client_secret_basic' } })],
    });
    try {
      const health = await request(app.getHttpServer()).get('/health');
      expect(health.body.info.identity).toMatchObject({ status: 'up', credentialsValid: true, lastCredentialValidation: expect.any(String) });
    } finally {
      await app.close();
    }
  });
});
