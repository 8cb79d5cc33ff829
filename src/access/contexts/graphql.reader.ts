import { Identity } from '../../identity/identity.js';
import type { RequestWithHeaders } from '../../tokens/bearer-token.js';
import { IDENTITY_ON_REQUEST } from '../identity-on-request.js';
import { connectionParamsCredentials, NO_CREDENTIALS } from './credentials.js';
import { isObject, type CredentialReader, type IdentityCarrier } from './credential-reader.js';
import { graphqlCode, identityErrorBody } from './identity-error-body.js';
import { graphqlPackage } from './optional-package.js';

/**
 * GraphQL (`@nestjs/graphql`, Apollo or Mercurius): resolver arguments are `[root, args, context,
 * info]`. Queries and mutations read the HTTP request in the context (`context.req`, which both
 * Nest drivers set; Mercurius also has `context.reply.request`) and keep the identity on it, so
 * every guarded field of one request shares one verification. A graphql-ws subscription's
 * `context.req` is the graphql-ws connection context: the identity `identitySubscriptions()` put
 * there at `connection_init`, else `connectionParams.authorization`. A Mercurius subscription's
 * context carries the identity `identityMercuriusSubscription()` returned at `connection_init`, else
 * its `connection_init` payload (`_connectionInit.authorization`), read per operation.
 */
export const graphqlReader: CredentialReader = {
  type: 'graphql',
  package: graphqlPackage,

  carrier(context) {
    const graphqlContext: unknown = context.getArgByIndex(2);
    if (!isObject(graphqlContext)) return undefined;
    if (graphqlContext[IDENTITY_ON_REQUEST] instanceof Identity) return graphqlContext;
    if (isObject(graphqlContext.req)) return graphqlContext.req;
    const reply = graphqlContext.reply;
    if (isObject(reply) && isObject(reply.request)) return reply.request;
    // A graphql-ws context handed over as the GraphQL context itself, or a Mercurius subscription's.
    if (isGraphqlWsContext(graphqlContext) || isMercuriusSubscriptionContext(graphqlContext)) return graphqlContext;
    return undefined;
  },

  credentials(carrier, maxTokenLength) {
    const value = carrier as Record<string, unknown>;
    if (isObject(value.headers)) return carrier as RequestWithHeaders;
    if (isGraphqlWsContext(value)) return connectionParamsCredentials(value.connectionParams, maxTokenLength);
    if (isMercuriusSubscriptionContext(value)) return connectionParamsCredentials(value._connectionInit, maxTokenLength);
    return NO_CREDENTIALS;
  },

  toError(error) {
    const { GraphQLError } = graphqlPackage.loaded!;
    const { error: code, error_description, scope, retryAfter } = identityErrorBody(error);
    return new GraphQLError(error.description, {
      extensions: { code: graphqlCode(error), error: code, error_description, ...(scope && { scope }), ...(retryAfter !== undefined && { retryAfter }) },
    });
  },
};

/** graphql-ws's per-connection context (`{ connectionParams, extra, subscriptions, ... }`). */
export function isGraphqlWsContext(value: IdentityCarrier | Record<PropertyKey, unknown>): boolean {
  const candidate = value as Record<string, unknown>;
  return typeof candidate.connectionInitReceived === 'boolean' || ('connectionParams' in candidate && 'extra' in candidate);
}

/** Mercurius' subscription context (`{ app, pubsub, request, _connectionInit, ... }`), copied per operation. */
export function isMercuriusSubscriptionContext(value: IdentityCarrier | Record<PropertyKey, unknown>): boolean {
  const candidate = value as Record<string, unknown>;
  return '_connectionInit' in candidate && 'pubsub' in candidate;
}
