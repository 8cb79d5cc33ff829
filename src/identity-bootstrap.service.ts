import { Injectable, type OnModuleInit } from '@nestjs/common';
import { ClientProvisioningService } from './client/client-provisioning.service.js';
import { IdentityMetadataService } from './metadata/identity-metadata.service.js';
import { JwksService } from './tokens/jwks.service.js';

/**
 * Boot order: metadata, then keys, then the API's own client (probe, or auto-provisioning). Runs
 * in onModuleInit so that `app.init()`/`listen()` only resolve once the API can verify tokens
 * (or has failed with a message that names the fix).
 *
 * A refused boot changes nothing: the last good metadata and JWKS fetched during the boot are
 * written to the store only once every step has succeeded (a wrong encryptionKey, found by the
 * client step, leaves the store byte for byte as it was). Later refreshes persist at once.
 */
@Injectable()
export class IdentityBootstrap implements OnModuleInit {
  constructor(
    private readonly metadata: IdentityMetadataService,
    private readonly jwks: JwksService,
    private readonly client: ClientProvisioningService,
  ) {}

  async onModuleInit(): Promise<void> {
    this.metadata.holdPersistence();
    this.jwks.holdPersistence();
    await this.metadata.load();
    await this.jwks.warm();
    await this.client.boot();
    // Best effort, as every persist: not awaited, so a slow or failing store never delays or fails
    // the boot. Both writes are issued now, metadata first.
    void this.metadata.releasePersistence();
    void this.jwks.releasePersistence();
  }
}
