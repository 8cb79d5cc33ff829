import { Injectable, type OnModuleInit } from '@nestjs/common';
import { IdentityMetadataService } from './metadata/identity-metadata.service.js';
import { JwksService } from './tokens/jwks.service.js';

/**
 * Boot order: metadata, then keys. Runs in onModuleInit so that `app.init()`/`listen()` only
 * resolve once the API can verify tokens (or has failed with a message that names the fix).
 */
@Injectable()
export class IdentityBootstrap implements OnModuleInit {
  constructor(
    private readonly metadata: IdentityMetadataService,
    private readonly jwks: JwksService,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.metadata.load();
    await this.jwks.warm();
  }
}
