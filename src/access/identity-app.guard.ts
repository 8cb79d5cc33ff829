import { Injectable } from '@nestjs/common';
import { IdentityGuard } from './identity.guard.js';
import type { RoutePolicy } from './route-policy.js';

/**
 * The app-wide guard the module always registers. It enforces routes that carry identity
 * decorators; with `global: true` it also denies every undecorated route unless `@Public()`.
 */
@Injectable()
export class IdentityAppGuard extends IdentityGuard {
  protected override mustAuthenticate(policy: RoutePolicy): boolean {
    return this.options.global || policy.requirements.length > 0;
  }
}
