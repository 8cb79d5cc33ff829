import type { ServerResponse } from 'node:http';
import { DEVELOPMENT_IDENTITY_ROUTES as ROUTES } from './development-defaults.js';
import type { DevelopmentIdentityProviderStats } from './development-identity-provider.types.js';
import { sendJson } from './development-util.js';

/** Errors kept for `serverErrors`; older ones are dropped. */
const MAX_ERRORS = 50;

function emptyStats(): DevelopmentIdentityProviderStats {
  return {
    total: 0,
    jwks: 0,
    s3dbDocument: 0,
    discovery: 0,
    registration: 0,
    registrationManagement: 0,
    token: 0,
    introspection: 0,
    revocation: 0,
    userinfo: 0,
    authorization: 0,
    failed: 0,
    byPath: {},
  };
}

/** Request counters, injected delay and outage, and the server errors kept instead of logged. */
export class DevelopmentFaults {
  private counters = emptyStats();
  private delayMs = 0;
  private failing = false;
  private readonly pendingDelays = new Set<NodeJS.Timeout>();
  private readonly errors: Error[] = [];

  get stats(): DevelopmentIdentityProviderStats {
    return { ...this.counters, byPath: { ...this.counters.byPath } };
  }

  resetStats(): void {
    this.counters = emptyStats();
  }

  setDelay(ms: number): void {
    this.delayMs = Math.max(0, ms);
  }

  setFailing(failing: boolean): void {
    this.failing = failing;
  }

  get serverErrors(): readonly Error[] {
    return [...this.errors];
  }

  recordError(error: unknown): void {
    this.errors.push(error instanceof Error ? error : new Error(String(error)));
    if (this.errors.length > MAX_ERRORS) this.errors.shift();
  }

  /**
   * Runs first for every request: counts it (on arrival, so a failed or delayed request still
   * counts), waits the injected delay, then answers 503 while failing. True when it answered.
   */
  async intercept(method: string, path: string, res: ServerResponse): Promise<boolean> {
    this.count(method, path);
    if (this.delayMs > 0) await this.sleep(this.delayMs);
    if (!this.failing) return false;
    this.counters.failed += 1;
    sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'fault injected by setFailing(true)' });
    return true;
  }

  /** Drops pending delays, so `stop()` does not wait for them. */
  cancelDelays(): void {
    for (const timer of this.pendingDelays) clearTimeout(timer);
    this.pendingDelays.clear();
  }

  private count(method: string, path: string): void {
    const stats = this.counters;
    stats.total += 1;
    stats.byPath[path] = (stats.byPath[path] ?? 0) + 1;
    if (path === ROUTES.jwks) stats.jwks += 1;
    else if (path === ROUTES.s3dbDocument) stats.s3dbDocument += 1;
    else if (path === ROUTES.discovery) stats.discovery += 1;
    else if (path === ROUTES.token) stats.token += 1;
    else if (path === ROUTES.introspection) stats.introspection += 1;
    else if (path === ROUTES.revocation) stats.revocation += 1;
    else if (path === ROUTES.userinfo) stats.userinfo += 1;
    else if (path === ROUTES.authorization) stats.authorization += 1;
    else if (path === ROUTES.registration && method === 'POST') stats.registration += 1;
    else if (path.startsWith(`${ROUTES.registration}/`)) stats.registrationManagement += 1;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pendingDelays.delete(timer);
        resolve();
      }, ms);
      this.pendingDelays.add(timer);
    });
  }
}
