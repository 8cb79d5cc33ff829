import { HttpException } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judgeRotation, type RotationOutcome } from '../../src/admin/rotation-check.js';
import { tokenEndpointProbe } from '../../src/admin/secret-probe.js';
import type { ServiceAccountProvider, ServiceAccountRecord } from '../../src/admin/service-account-provider.js';
import type { OutboundPolicy } from '../../src/metadata/safe-fetch.js';

/** Faults a fixture can make its admin API answer with, for the error-mapping cases. */
export type ProviderFault = 'unauthorized' | 'forbidden' | 'not-found' | 'rate-limited' | 'timeout';

/**
 * One kind of provider under the ServiceAccountProvider contract: the adapter, where its token
 * endpoint is, and what it is expected to do (taken from the vendor's documentation, never from
 * what would be convenient).
 */
export interface ProviderFixture {
  provider: ServiceAccountProvider;
  /** The token endpoint secrets are tried at. */
  tokenUrl: string;
  /** Audience for token requests, when the provider needs one (Auth0). */
  audience?: string;
  /** Scopes to create accounts with (must be allowed by the provider). */
  scopes: string[];
  expect: {
    /** How a rotation ends: confirmed (`refused`), within a grace window (`valid-until`), or 501 (`not-supported`). */
    rotate: RotationOutcome['previousSecret'] | 'not-supported';
    /** Whether `list()` is implemented. */
    list: boolean;
    /** Whether `get`/`delete` reach the provider (false: 501, as for a provider without RFC 7592). */
    manage: boolean;
  };
  /** From now on the admin API answers with `fault` (undefined: back to normal). Absent: no fault cases. */
  fault?(fault: ProviderFault | undefined): void;
  close(): Promise<void>;
}

/** Loopback-only policy, as the module uses against a development provider. */
export const LOOPBACK_POLICY: OutboundPolicy = Object.freeze({
  timeoutMs: 5_000,
  maxBytes: 1 << 20,
  allowInsecureHttp: true,
  allowedHosts: Object.freeze(['127.0.0.1', 'localhost']),
  issuerHost: '127.0.0.1',
});

function statusOf(error: unknown): number | undefined {
  return error instanceof HttpException ? error.getStatus() : undefined;
}

async function failure(run: () => Promise<unknown>): Promise<HttpException> {
  try {
    await run();
  } catch (error) {
    if (error instanceof HttpException) return error;
    throw error;
  }
  throw new Error('expected the operation to fail');
}

/**
 * The ServiceAccountProvider contract, run against every kind of provider: the development
 * provider in both modes, a stock oidc-provider, and one fake per vendor.
 */
export function describeServiceAccountProviderContract(name: string, setup: () => Promise<ProviderFixture>): void {
  describe(`ServiceAccountProvider contract: ${name}`, () => {
    let fixture: ProviderFixture;
    const probe = (record: ServiceAccountRecord) =>
      tokenEndpointProbe(fixture.tokenUrl, { clientId: record.clientId, tokenEndpointAuthMethod: record.tokenEndpointAuthMethod, audience: fixture.audience ?? record.audience }, LOOPBACK_POLICY);

    beforeAll(async () => {
      fixture = await setup();
    });
    afterAll(async () => {
      fixture?.fault?.(undefined);
      await fixture?.close();
    });

    it('create: a new account whose secret gets a token', async () => {
      const issued = await fixture.provider.create({ name: `contract-create-${Date.now()}`, scopes: fixture.scopes, audience: fixture.audience });
      expect(issued.record.clientId).toMatch(/^[A-Za-z0-9._~-]{1,128}$/);
      expect(issued.clientSecret.length).toBeGreaterThan(0);
      expect(await probe(issued.record)(issued.clientSecret)).toBe('accepted');
      expect(await probe(issued.record)(`${issued.clientSecret}x`)).toBe('refused');
    });

    it('rotate: the new secret works and the old one is refused, or works only within the stated grace, or 501 with nothing changed', async () => {
      const issued = await fixture.provider.create({ name: `contract-rotate-${Date.now()}`, scopes: fixture.scopes, audience: fixture.audience });
      if (fixture.expect.rotate === 'not-supported') {
        const error = await failure(async () => judgeRotation(await fixture.provider.rotate(issued.record), probe(issued.record)));
        expect(error.getStatus()).toBe(501);
        expect((error.getResponse() as { error: string }).error).toBe('not_supported_by_provider');
        expect(await probe(issued.record)(issued.clientSecret)).toBe('accepted');
        return;
      }
      const rotated = await fixture.provider.rotate(issued.record);
      const outcome = await judgeRotation(rotated, probe(issued.record));
      expect(outcome.previousSecret).toBe(fixture.expect.rotate);
      expect(rotated.clientSecret).not.toBe(issued.clientSecret);
      expect(rotated.record.clientId).toBe(issued.record.clientId);
      expect(await probe(rotated.record)(rotated.clientSecret)).toBe('accepted');
      const old = await probe(issued.record)(issued.clientSecret);
      if (outcome.previousSecret === 'refused') expect(old).toBe('refused');
      if (outcome.previousSecret === 'valid-until') {
        expect(Date.parse(outcome.previousSecretValidUntil!)).toBeGreaterThan(Date.now());
        expect(old).toBe('accepted');
      }
    });

    it('get and list: the account as the provider holds it', async () => {
      const issued = await fixture.provider.create({ name: `contract-get-${Date.now()}`, scopes: fixture.scopes, audience: fixture.audience });
      if (!fixture.expect.manage) {
        expect(statusOf(await failure(() => fixture.provider.get(issued.record)))).toBe(501);
      } else {
        const got = await fixture.provider.get(issued.record);
        expect(got?.clientId).toBe(issued.record.clientId);
        expect(got?.name).toBe(issued.record.name);
      }
      if (fixture.expect.list) {
        const listed = await fixture.provider.list!();
        expect(listed.map((record) => record.clientId)).toContain(issued.record.clientId);
      } else {
        expect(fixture.provider.list).toBeUndefined();
      }
    });

    it('delete: the secret is refused afterwards and get answers undefined', async () => {
      const issued = await fixture.provider.create({ name: `contract-delete-${Date.now()}`, scopes: fixture.scopes, audience: fixture.audience });
      if (!fixture.expect.manage) {
        expect(statusOf(await failure(() => fixture.provider.delete(issued.record)))).toBe(501);
        expect(await probe(issued.record)(issued.clientSecret)).toBe('accepted');
        return;
      }
      await fixture.provider.delete(issued.record);
      expect(await probe(issued.record)(issued.clientSecret)).toBe('refused');
      expect(await fixture.provider.get(issued.record)).toBeUndefined();
      // Deleting what is already gone succeeds.
      await fixture.provider.delete(issued.record);
    });

    describe('provider errors', () => {
      let record: ServiceAccountRecord;
      beforeAll(async () => {
        if (!fixture.fault) return;
        record = (await fixture.provider.create({ name: `contract-errors-${Date.now()}`, scopes: fixture.scopes, audience: fixture.audience })).record;
      });
      afterAll(() => fixture?.fault?.(undefined));

      it('401 → 502 naming the credentials option', async (context) => {
        if (!fixture.fault) return context.skip();
        fixture.fault('unauthorized');
        const error = await failure(() => fixture.provider.rotate(record));
        expect(error.getStatus()).toBe(502);
        expect(error.message).toMatch(/credentials/);
      });

      it('403 → 502 naming the missing permission', async (context) => {
        if (!fixture.fault) return context.skip();
        fixture.fault('forbidden');
        const error = await failure(() => fixture.provider.rotate(record));
        expect(error.getStatus()).toBe(502);
        expect(error.message).toMatch(/grant them "[^"]+"/);
      });

      it('404 → 404', async (context) => {
        if (!fixture.fault) return context.skip();
        fixture.fault('not-found');
        const error = await failure(() => fixture.provider.rotate(record));
        expect(error.getStatus()).toBe(404);
      });

      it('429 → 503 with Retry-After', async (context) => {
        if (!fixture.fault) return context.skip();
        fixture.fault('rate-limited');
        const error = await failure(() => fixture.provider.rotate(record));
        expect(error.getStatus()).toBe(503);
        const headers = (error as unknown as { headers(realm: string): Record<string, string> }).headers('api');
        expect(Number(headers['Retry-After'])).toBeGreaterThan(0);
      });

      it('a timeout → 504', async (context) => {
        if (!fixture.fault) return context.skip();
        fixture.fault('timeout');
        const error = await failure(() => fixture.provider.rotate(record));
        expect(error.getStatus()).toBe(504);
      });
    });
  });
}
