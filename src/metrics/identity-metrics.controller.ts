import { Controller, Get, Res } from '@nestjs/common';
import { PrometheusController } from '@willsoto/nestjs-prometheus';
import { Public } from '../access/public.decorator.js';

/**
 * `GET /metrics` for apps that do not register PrometheusModule themselves (`routes: { metrics: true }`).
 * Public, so that Prometheus can still scrape under `global: true`, and above all while the Identity
 * provider is down and every protected route answers 503.
 */
@Controller()
@Public()
export class IdentityMetricsController extends PrometheusController {
  @Get()
  override index(@Res({ passthrough: true }) response: unknown): Promise<string> {
    return super.index(response);
  }
}
