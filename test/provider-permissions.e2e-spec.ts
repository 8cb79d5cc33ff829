import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeycloakServiceAccountProvider } from '../src/admin/providers/keycloak/index.js';
import { runDoctor } from '../src/cli/doctor.js';
import { IdentityModule, IdentityStatus } from '../src/index.js';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { createApp } from './support/platforms.js';
import { startKeycloakFake, type KeycloakFake } from './support/providers/keycloak-fake.js';

const AUDIENCE = 'https://api.example.com';

/**
 * A vendor adapter checks its own admin credentials: at boot (health `degraded`, the permission
 * named, the boot not failed) and in `doctor` (a failing line naming the permission). The adapter
 * is the real Keycloak one, against the Keycloak fake whose admin client lacks manage-clients.
 */
describe('service-account adapter permissions at boot and in doctor', () => {
  let idp: DevelopmentIdentityProvider;
  let keycloak: KeycloakFake;
  const adapter = () => new KeycloakServiceAccountProvider({ baseUrl: keycloak.baseUrl, realm: keycloak.realm, credentials: keycloak.adminClient, timeoutMs: 1_000 });

  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
    keycloak = await startKeycloakFake({ clientScopes: ['orders:read'] });
  });
  afterAll(async () => {
    await keycloak?.close();
    await idp?.stop();
  });

  it('boots, then reports the missing permission in health (degraded, never a failed boot)', async () => {
    keycloak.setAdminRoles(['view-clients']);
    const dir = await mkdtemp(join(tmpdir(), 'nestjs-identity-permissions-'));
    const app = await createApp('express', {
      imports: [
        IdentityModule.forRoot({
          url: idp.issuer,
          audience: AUDIENCE,
          metrics: false,
          admin: { enabled: true },
          health: { expose: true },
          encryptionKey: randomBytes(32).toString('base64'),
          store: { type: 'file', path: join(dir, 'credentials.json') },
          serviceAccountProvider: adapter(),
        }),
      ],
    });
    try {
      const status = app.get(IdentityStatus);
      await expect.poll(() => status.snapshot().serviceAccountProvider, { timeout: 5_000 }).toMatchObject({ kind: 'keycloak', permissions: 'missing' });
      expect(status.snapshot().serviceAccountProvider!.problem).toContain('"manage-clients"');
      const health = await request(app.getHttpServer()).get('/health');
      expect(health.status).toBe(200);
      expect(health.body.info?.identity ?? health.body.details?.identity).toMatchObject({ status: 'degraded' });
    } finally {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('doctor prints a failing line naming the permission, and ok once granted', async () => {
    keycloak.setAdminRoles(['view-clients']);
    const base = { url: idp.issuer, audience: AUDIENCE, metrics: false, serviceAccountProvider: adapter() };
    const missing = (await runDoctor(base, false)).find((check) => check.check === 'service-accounts');
    expect(missing).toMatchObject({ status: 'fail', detail: expect.stringContaining('"manage-clients"') });
    keycloak.setAdminRoles(['manage-clients']);
    const granted = (await runDoctor({ ...base, serviceAccountProvider: adapter() }, false)).find((check) => check.check === 'service-accounts');
    expect(granted).toMatchObject({ status: 'ok', detail: expect.stringContaining('keycloak adapter') });
  });

  it('doctor says what rotation means with the RFC 7591/7592 adapter', async () => {
    const line = (await runDoctor({ url: idp.issuer, audience: AUDIENCE, metrics: false }, false)).find((check) => check.check === 'service-accounts');
    expect(line).toMatchObject({ status: 'ok', detail: expect.stringContaining('stock oidc-provider and Keycloak keep it: 501') });
  });
});
