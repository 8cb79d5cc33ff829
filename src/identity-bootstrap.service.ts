import { Injectable, type OnModuleInit } from '@nestjs/common';
import { ClientProvisioningService } from './client/client-provisioning.service.js';
import { IdentityMetadataService } from './metadata/identity-metadata.service.js';
import { JwksService } from './tokens/jwks.service.js';

/**
 * Boot order: metadata, then keys, then the API's own client (probe, or auto-provisioning). Runs
 * in onModuleInit so that `app.init()`/`listen()` only resolve once the API can verify tokens
 * (or has failed with a message that names the fix).
 */
@Injectable()
export class IdentityBootstrap implements OnModuleInit {
  constructor(
    private readonly metadata: IdentityMetadataService,
    private readonly jwks: JwksService,
    private readonly client: ClientProvisioningService,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.metadata.load();
    await this.jwks.warm();
    await this.client.boot();
  }
}
