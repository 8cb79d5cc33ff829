import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { NestFactory } from '@nestjs/core';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { AppModule } from './app.module.js';
import { CONTEXTS_TCP_PORT, wireContexts } from './contexts/contexts.wiring.js';
import { serveSwaggerUi } from './openapi.js';

const API_PORT = Number(process.env.PORT ?? 3000);
const IDP_PORT = Number(process.env.IDP_PORT ?? 4000);
const AUDIENCE = 'https://api.example.com';
const STATE_DIR = '.identity';

/** A development key, made once and kept beside the credential store (never do this in production). */
function developmentEncryptionKey(): string {
  const file = `${STATE_DIR}/dev-encryption-key`;
  mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

async function main(): Promise<void> {
  // 1. The embedded development Identity provider (oidc-provider) on loopback. It keeps its keys
  //    and registered clients in .identity/dev-provider.json, so a restart reuses them. Like stock
  //    oidc-provider it keeps a client's secret on an RFC 7592 update (so rotation answers 501);
  //    IDP_ROTATE_ON_PUT=1 makes it issue a new one instead (rotation then succeeds, confirmed).
  const rotateOnPut = process.env.IDP_ROTATE_ON_PUT === '1';
  const idp = await DevelopmentIdentityProvider.start({
    port: IDP_PORT,
    audience: AUDIENCE,
    stateFile: `${STATE_DIR}/dev-provider.json`,
    rotateClientSecretOnUpdate: rotateOnPut,
    clients: [{ clientId: 'orders-worker', name: 'Orders Worker', scopes: ['orders:read', 'jobs:dispatch'], tenantId: 't1' }],
  });

  // 2. The API, configured the way production would be: from the environment via ConfigService.
  process.env.IDENTITY_URL ??= idp.issuer;
  process.env.IDENTITY_AUDIENCE ??= AUDIENCE;
  process.env.IDENTITY_ENCRYPTION_KEY ??= developmentEncryptionKey();
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  const docs = await serveSwaggerUi(app, { clientId: 'orders-worker' });
  await wireContexts(app, Number(process.env.TCP_PORT ?? CONTEXTS_TCP_PORT));
  await app.listen(API_PORT, '127.0.0.1');

  // 3. Fresh tokens and commands to paste.
  const api = `http://127.0.0.1:${API_PORT}`;
  const service = await idp.serviceAccountToken({ clientId: 'orders-worker', scopes: ['orders:read', 'jobs:dispatch'] });
  const user = await idp.userToken({ scopes: ['openid', 'email', 'orders:read'] });
  const admin = await idp.serviceAccountToken({ scopes: ['identity:admin'] });
  const expired = await idp.mintToken({ expiresIn: -60 });
  const alice = idp.user.id;
  const rotation = rotateOnPut
    ? '-> 200: new secret, previousSecret "refused" (checked at the token endpoint), old tokens revoked'
    : '-> 501: this provider (like stock oidc-provider) kept the secret; nothing changed. Try IDP_ROTATE_ON_PUT=1 npm start';
  const line = '-'.repeat(78);
  console.log(`
${line}
nestjs-identity sample API on ${api}
development Identity provider on ${idp.issuer} (metadata: ${idp.issuer}/.well-known/s3db-identity.json)
${line}
Tokens below are development tokens from the embedded provider; they expire in 15 minutes
(restart with npm start for fresh ones).

export SA_TOKEN='${service}'
export USER_TOKEN='${user}'
export ADMIN_TOKEN='${admin}'

# Public route                                                       -> 200
curl -s ${api}/hello -w '\\n'
# No token on a protected route                                      -> 401 + WWW-Authenticate: Bearer realm=...
curl -si ${api}/orders | head -n 1
# Who am I: a service account, then a person (Alice)                 -> 200
curl -s -w '\\n' ${api}/me -H "Authorization: Bearer $SA_TOKEN"
curl -s -w '\\n' ${api}/me -H "Authorization: Bearer $USER_TOKEN"
# @RequireScope('orders:read')                                       -> 200 for both
curl -s -w '\\n' ${api}/orders -H "Authorization: Bearer $SA_TOKEN"
# @RequireRole('admin'): Alice has it, the service account does not  -> 200, then 403 insufficient_scope
curl -s -w '\\n' ${api}/reports -H "Authorization: Bearer $USER_TOKEN"
curl -si ${api}/reports -H "Authorization: Bearer $SA_TOKEN" | grep -i -E '^HTTP|www-authenticate'
# @Authenticated({ kind: 'service' })                                -> 200, then 403 for a person
curl -s -w '\\n' ${api}/internal/sync -H "Authorization: Bearer $SA_TOKEN"
curl -s -w '\\n' ${api}/internal/sync -H "Authorization: Bearer $USER_TOKEN"
# POST /jobs (design document): service needs jobs:dispatch, people need admin -> 201
curl -s -w '\\n' -X POST ${api}/jobs -H "Authorization: Bearer $SA_TOKEN" -H 'content-type: application/json' -d '{"kind":"reindex"}'
curl -s -w '\\n' -X POST ${api}/jobs -H "Authorization: Bearer $USER_TOKEN" -H 'content-type: application/json' -d '{"kind":"export"}'
# A forged token (the service token's claims with another signature)  -> 401 invalid_token, signature invalid
curl -si ${api}/me -H "Authorization: Bearer \${SA_TOKEN%.*}.\${USER_TOKEN##*.}" | grep -i www-authenticate
# An expired token                                                   -> 401 invalid_token, expired
curl -si ${api}/me -H "Authorization: Bearer ${expired}" | grep -i www-authenticate
# Health (identity section: up / degraded / down) and Prometheus metrics
curl -s -w '\\n' ${api}/health
curl -s ${api}/metrics | grep '^identity_'
# Service accounts through the admin routes (needs identity:admin)
curl -s -w '\\n' -X POST ${api}/admin/identity/service-accounts -H "Authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' \\
  -d '{"name":"reports-worker","scopes":["reports:read"],"audience":"${AUDIENCE}"}'
curl -s -w '\\n' ${api}/admin/identity/service-accounts -H "Authorization: Bearer $ADMIN_TOKEN"
# Rotate it ${rotation}
curl -s -w '\\n' -X POST ${api}/admin/identity/service-accounts/reports-worker/rotate -H "Authorization: Bearer $ADMIN_TOKEN"
# Delete it (revokes its tokens on every replica)                     -> 204
curl -s -X DELETE ${api}/admin/identity/service-accounts/reports-worker -H "Authorization: Bearer $ADMIN_TOKEN" -o /dev/null -w '%{http_code}\\n'
# Rotate the API's own client through the same adapter (never returns the secret) ${rotateOnPut ? '-> 200' : '-> 501 here'}
curl -s -w '\\n' -X POST ${api}/admin/identity/client/rotate -H "Authorization: Bearer $ADMIN_TOKEN"
# Revoke Alice's tokens: her token is refused at once, on every replica -> 201, then 401 "The access token was revoked"
curl -s -w '\\n' -X POST ${api}/admin/identity/revocations -H "Authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' -d '{"subject":"${alice}","reason":"demo"}'
curl -si ${api}/me -H "Authorization: Bearer $USER_TOKEN" | grep -i www-authenticate
# List revocations (never a token), then lift Alice's                 -> 200, then 204 and her token passes again
curl -s -w '\\n' ${api}/admin/identity/revocations -H "Authorization: Bearer $ADMIN_TOKEN"
REVOCATION_ID=$(curl -s ${api}/admin/identity/revocations -H "Authorization: Bearer $ADMIN_TOKEN" | node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).find((r) => r.subject === "${alice}").id')
curl -s -X DELETE ${api}/admin/identity/revocations/$REVOCATION_ID -H "Authorization: Bearer $ADMIN_TOKEN" -o /dev/null -w '%{http_code}\\n'
curl -s -w '\\n' ${api}/me -H "Authorization: Bearer $USER_TOKEN"
# GraphQL: a query with and without a token                         -> data, then UNAUTHENTICATED
curl -s -w '\\n' ${api}/graphql -H "Authorization: Bearer $SA_TOKEN" -H 'content-type: application/json' -d '{"query":"{ sampleOrders { id item } }"}'
curl -s -w '\\n' ${api}/graphql -H 'content-type: application/json' -d '{"query":"{ sampleOrders { id } }"}'
# GraphQL mutation: the worker lacks orders:write                    -> FORBIDDEN, insufficient_scope
curl -s -w '\\n' ${api}/graphql -H "Authorization: Bearer $SA_TOKEN" -H 'content-type: application/json' -d '{"query":"mutation { placeOrder(item: \\"pen\\") { id } }"}'
# A graphql-ws subscription (authenticated once in onConnect; closed 4401 when the token expires)
node sample/contexts/try-subscription.mjs "$SA_TOKEN" ${api}
# socket.io gateway: the handshake is verified                       -> admitted, then refused without a token
node sample/contexts/try-socket.mjs "$SA_TOKEN" whoami ${api}
node sample/contexts/try-socket.mjs '' whoami ${api}
# TCP microservice message, token in the packet metadata             -> answered, then 401
node sample/contexts/try-message.mjs "$SA_TOKEN" ${Number(process.env.TCP_PORT ?? CONTEXTS_TCP_PORT)}
node sample/contexts/try-message.mjs '' ${Number(process.env.TCP_PORT ?? CONTEXTS_TCP_PORT)}
# OpenAPI from the decorators: Swagger UI (Authorize with client_credentials, client orders-worker / secret below)
echo "open ${api}${docs}  (development client orders-worker, secret ${String(idp.clientMetadata('orders-worker')?.client_secret)})"
curl -s ${api}${docs}-json | node -pe 'Object.keys(JSON.parse(require("fs").readFileSync(0, "utf8")).components.securitySchemes).join(", ")'
# A person without the admin scope                                   -> 403 insufficient_scope
curl -s ${api}/admin/identity/service-accounts -H "Authorization: Bearer $USER_TOKEN" -w '\\n'
# The same through the CLI (from this folder; it shares the API's store and audit log)
export IDENTITY_URL=${idp.issuer} IDENTITY_AUDIENCE=${AUDIENCE} IDENTITY_REDIRECT_URI=http://127.0.0.1/callback IDENTITY_ENCRYPTION_KEY=$(cat ${STATE_DIR}/dev-encryption-key)
node dist/src/cli/main.js service-account create --name orders-worker-2 --scopes orders:read --audience ${AUDIENCE}
node dist/src/cli/main.js service-account rotate --client-id orders-worker-2     # ${rotateOnPut ? 'exit 0' : 'exit 1: the provider kept the secret'}
node dist/src/cli/main.js revoke --client-id orders-worker-2 --reason demo
node dist/src/cli/main.js revoke list
node dist/src/cli/main.js service-account list
node dist/src/cli/main.js doctor
cat ${STATE_DIR}/audit.log
${line}
Ctrl-C to stop.`);

  const stop = async () => {
    await app.close();
    await idp.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
