import request from 'supertest';
import { expect, vi } from 'vitest';

// Probes shared by the resilience and observability e2e suites.

export type Http = ReturnType<typeof request>;

/** The `identity` section of a Terminus answer, whether it sits under details (up, degraded) or error (down). */
export function identityHealth(response: request.Response): { status: string; [key: string]: unknown } {
  return response.body.details?.identity ?? response.body.error?.identity;
}

/** Polls probe until check passes (check throws otherwise), within timeoutMs; returns the passing value. */
export function eventually<T>(probe: () => Promise<T>, check: (value: T) => void, timeoutMs: number): Promise<T> {
  return vi.waitFor(
    async () => {
      const value = await probe();
      check(value);
      return value;
    },
    { timeout: timeoutMs, interval: 50 },
  );
}

/** GET /me with a bearer token. */
export const me = (http: Http, token: string) => http.get('/me').auth(token, { type: 'bearer' });

/** Polls /health until the identity section reports status. */
export const healthBecomes = (http: Http, status: 'up' | 'degraded' | 'down', timeoutMs: number) =>
  eventually(() => http.get('/health'), (r) => expect(identityHealth(r).status).toBe(status), timeoutMs);
