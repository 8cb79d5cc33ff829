import { Body, Controller, Header, HttpCode, Post, UseGuards } from '@nestjs/common';
import { CurrentIdentity } from '../access/current-identity.decorator.js';
import { ClientProvisioningService, type ApiClientRotation } from '../client/client-provisioning.service.js';
import type { Identity } from '../identity/identity.js';
import { parseRotateRequest } from './service-account-input.js';
import { ServiceAccountsAdminGuard } from './service-accounts-admin.guard.js';
import { setupErrorsAsHttp } from './setup-errors.js';

/**
 * `POST /admin/identity/client/rotate`: rotates the API's own (stored, auto-provisioned) client
 * through the same ServiceAccountProvider as service accounts. The new secret is sealed in the
 * store and never returned; replicas sharing the store pick it up on their next `invalid_client`.
 */
@Controller('admin/identity/client')
@UseGuards(ServiceAccountsAdminGuard)
export class ApiClientController {
  constructor(private readonly provisioning: ClientProvisioningService) {}

  @Post('rotate')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  rotate(@Body() body: unknown, @CurrentIdentity() identity?: Identity): Promise<ApiClientRotation> {
    return setupErrorsAsHttp(() => {
      const { invalidatePrevious } = parseRotateRequest(body, ['invalidatePrevious']);
      return this.provisioning.rotate(identity?.describe() ?? 'anonymous', { invalidatePrevious });
    });
  }
}
