import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { IdentityStatus } from './identity-status.js';

/**
 * The `identity` section of `/health`. `up` and `degraded` keep traffic flowing (HTTP 200);
 * `down` means protected routes answer 503, and so does `/health`.
 *
 *   @Get('health') @HealthCheck()
 *   check() { return this.health.check([() => this.identity.isHealthy()]); }
 */
@Injectable()
export class IdentityHealthIndicator {
  constructor(
    private readonly status: IdentityStatus,
    private readonly indicators: HealthIndicatorService,
  ) {}

  isHealthy<const Key extends string = 'identity'>(key: Key = 'identity' as Key): HealthIndicatorResult<Key> {
    const { status, ...details } = this.status.snapshot();
    const data = Object.fromEntries(Object.entries(details).filter(([, value]) => value !== undefined));
    const session = this.indicators.check(key);
    if (status === 'up') return session.up(data);
    if (status === 'degraded') return session.degraded(data);
    return session.down(data);
  }
}
