import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Module } from '@nestjs/common';
import { GraphQLModule } from '@nestjs/graphql';
import { identitySubscriptions, RevocationService, TokenAuthenticator } from '../../src/index.js';
import { OrdersGateway } from './orders.gateway.js';
import { OrdersMessages } from './orders.messages.js';
import { OrdersResolver } from './orders.resolver.js';

/**
 * GraphQL (Apollo, /graphql, subscriptions over graphql-ws), a socket.io gateway and a message
 * handler, all behind the module's one guard. Import it in AppModule and call wireContexts(app)
 * (contexts.wiring.ts) before listen().
 */
@Module({
  imports: [
    GraphQLModule.forRootAsync<ApolloDriverConfig>({
      driver: ApolloDriver,
      inject: [TokenAuthenticator, RevocationService],
      useFactory: (authenticator: TokenAuthenticator, revocations: RevocationService) => ({
        autoSchemaFile: true,
        // Apollo adds stack traces to error answers outside production: never in an API's answers.
        includeStacktraceInErrorResponses: false,
        // Guards on @ResolveField too; the token is still verified once per request.
        fieldResolverEnhancers: ['guards', 'filters'],
        subscriptions: identitySubscriptions(authenticator, { revocations }),
      }),
    }),
  ],
  providers: [OrdersResolver, OrdersGateway],
  controllers: [OrdersMessages],
})
export class ContextsModule {}
