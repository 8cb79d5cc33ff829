import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { IdentityModule } from '../../src/index.js';
import { DevelopmentIdentityProvider } from '../../src/testing/index.js';
import { McpModule } from './mcp.module.js';
import { ORDERS_SCOPES } from './orders-tools.js';

// npx tsc -p tsconfig.sample.json && node dist/sample/mcp/main.js
const PORT = Number(process.env.MCP_PORT ?? 3001);
const IDP_PORT = Number(process.env.IDP_PORT ?? 4001);
const RESOURCE = `http://127.0.0.1:${PORT}/mcp`;

async function main(): Promise<void> {
  // The development provider issues tokens for any resource it is asked for (RFC 8707).
  const idp = await DevelopmentIdentityProvider.start({ port: IDP_PORT, audience: RESOURCE });

  @Module({
    imports: [
      IdentityModule.forRoot({
        url: idp.issuer,
        // The canonical URI of the MCP server: the audience tokens must carry, and what the metadata says.
        resourceMetadata: { resource: RESOURCE, scopesSupported: ORDERS_SCOPES, resourceName: 'Orders MCP server' },
        // DPoP-bound tokens are accepted too (MCP clients may send either).
        dpop: { mode: 'allowed' },
      }),
      McpModule,
    ],
  })
  class McpSampleModule {}

  const app = await NestFactory.create(McpSampleModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  await app.listen(PORT, '127.0.0.1');
  const { clientId, clientSecret } = idp.defaultServiceAccount;
  console.log(`
Orders MCP server on ${RESOURCE}
  metadata:   curl -s http://127.0.0.1:${PORT}/.well-known/oauth-protected-resource/mcp
  challenge:  curl -si -X POST ${RESOURCE} | grep -i www-authenticate
  a token:    curl -s -u ${clientId}:${clientSecret} -d grant_type=client_credentials -d scope=orders:read -d resource=${RESOURCE} ${idp.issuer}/oauth/token
  an MCP client (e.g. MCP Inspector, Streamable HTTP) with client credentials ${clientId} / ${clientSecret}
`);
  const stop = async () => {
    await app.close();
    await idp.stop();
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

void main();
