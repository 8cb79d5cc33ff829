import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { IdentityModule } from '../src/index.js';
import { ContextsModule } from './contexts/contexts.module.js';
import { JobsController } from './jobs.controller.js';
import { OrdersController } from './orders.controller.js';

@Module({
  imports: [
    ConfigModule.forRoot({ ignoreEnvFile: true }),
    IdentityModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        url: config.getOrThrow<string>('IDENTITY_URL'),
        audience: config.getOrThrow<string>('IDENTITY_AUDIENCE'),
        // Deny by default: every route needs a token unless it is @Public().
        global: true,
        // The development provider runs on http://127.0.0.1, which is allowed as loopback.
        encryptionKey: config.getOrThrow<string>('IDENTITY_ENCRYPTION_KEY'),
        store: { type: 'file', path: config.get<string>('IDENTITY_STORE') ?? '.identity/credentials.json' },
        autoProvision: { name: 'sample-api', scopes: ['orders:read'] },
        client: { redirectUri: 'http://127.0.0.1/callback' },
        admin: { enabled: true },
      }),
      // Controllers are decided before useFactory runs, so they are named here.
      routes: { admin: true, health: true, metrics: true },
    }),
    // GraphQL (Apollo, with graphql-ws subscriptions), a socket.io gateway and a TCP message handler.
    ContextsModule,
  ],
  controllers: [OrdersController, JobsController],
})
export class AppModule {}
