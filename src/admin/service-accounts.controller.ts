import { Body, Controller, Delete, Get, Header, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { CurrentIdentity } from '../access/current-identity.decorator.js';
import type { Identity } from '../identity/identity.js';
import { ServiceAccountsAdminGuard } from './service-accounts-admin.guard.js';
import { ServiceAccountsService, type IssuedServiceAccountView, type RotatedServiceAccountView, type ServiceAccountDetails, type ServiceAccountView } from './service-accounts.service.js';

function actor(identity: Identity | undefined): string {
  return identity?.describe() ?? 'anonymous';
}

/**
 * `/admin/identity/service-accounts`: thin HTTP over ServiceAccountsService (which validates,
 * locks and audits). Registered with `routes.admin` / `admin.enabled`; answers 404 at runtime
 * while `admin.enabled` is false. Nothing here is cacheable: secrets are shown once.
 */
@Controller('admin/identity/service-accounts')
@UseGuards(ServiceAccountsAdminGuard)
export class ServiceAccountsController {
  constructor(private readonly accounts: ServiceAccountsService) {}

  @Post()
  @HttpCode(201)
  @Header('Cache-Control', 'no-store')
  create(@Body() body: unknown, @CurrentIdentity() identity?: Identity): Promise<IssuedServiceAccountView> {
    return this.accounts.create(body, actor(identity));
  }

  @Post(':id/rotate')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  rotate(@Param('id') id: string, @Body() body: unknown, @CurrentIdentity() identity?: Identity): Promise<RotatedServiceAccountView> {
    return this.accounts.rotate(id, actor(identity), body);
  }

  @Get()
  @Header('Cache-Control', 'no-store')
  list(): Promise<ServiceAccountView[]> {
    return this.accounts.list();
  }

  @Get(':id')
  @Header('Cache-Control', 'no-store')
  get(@Param('id') id: string): Promise<ServiceAccountDetails> {
    return this.accounts.get(id);
  }

  @Delete(':id')
  @HttpCode(204)
  @Header('Cache-Control', 'no-store')
  async delete(@Param('id') id: string, @CurrentIdentity() identity?: Identity): Promise<void> {
    await this.accounts.delete(id, actor(identity));
  }
}
