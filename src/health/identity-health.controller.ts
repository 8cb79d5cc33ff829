import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { Public } from '../access/public.decorator.js';
import { IdentityHealthIndicator } from './identity.health.js';

/** `GET /health` for apps without a Terminus controller of their own (`health: { expose: true }`). */
@Controller('health')
export class IdentityHealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly identity: IdentityHealthIndicator,
  ) {}

  @Get()
  @Public()
  @HealthCheck()
  check() {
    return this.health.check([() => this.identity.isHealthy()]);
  }
}
