import { Body, Controller, Delete, Get, Header, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { CurrentIdentity } from '../access/current-identity.decorator.js';
import { ServiceAccountsAdminGuard } from '../admin/service-accounts-admin.guard.js';
import type { Identity } from '../identity/identity.js';
import type { RevocationView, RevokeInput } from './revocation.js';
import { RevocationService } from './revocation.service.js';

function actor(identity: Identity | undefined): string {
  return identity?.describe() ?? 'anonymous';
}

/**
 * `/admin/identity/revocations`: thin HTTP over RevocationService (which validates, bounds, shares
 * and audits). Registered with the service-account routes (`routes.admin` / `admin.enabled`),
 * behind the same guard: 404 while `admin.enabled` is false, then the admin scope or role.
 */
@Controller('admin/identity/revocations')
@UseGuards(ServiceAccountsAdminGuard)
export class RevocationsController {
  constructor(private readonly revocations: RevocationService) {}

  @Post()
  @HttpCode(201)
  @Header('Cache-Control', 'no-store')
  revoke(@Body() body: unknown, @CurrentIdentity() identity?: Identity): Promise<RevocationView> {
    // Fastify gives undefined for an empty body, Express {}: the service names what is missing either way.
    return this.revocations.revoke(body as RevokeInput, actor(identity));
  }

  @Get()
  @Header('Cache-Control', 'no-store')
  list(): Promise<RevocationView[]> {
    return this.revocations.list();
  }

  @Delete(':id')
  @HttpCode(204)
  @Header('Cache-Control', 'no-store')
  async remove(@Param('id') id: string, @CurrentIdentity() identity?: Identity): Promise<void> {
    await this.revocations.remove(id, actor(identity));
  }
}
