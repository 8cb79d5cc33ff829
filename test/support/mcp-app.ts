import type { INestApplication } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { createServer } from 'node:net';
import { McpModule } from '../../sample/mcp/mcp.module.js';
import { ORDERS_SCOPES } from '../../sample/mcp/orders-tools.js';
import { IdentityModule, type IdentityModuleOptions } from '../../src/index.js';
import { LogGuard } from './log-guard.js';
import type { PlatformName } from './platforms.js';

export interface McpApp {
  app: INestApplication;
  /** http://127.0.0.1:<port> */
  origin: string;
  /** The MCP endpoint, also the resource identifier: http://127.0.0.1:<port>/mcp */
  resource: string;
  close(): Promise<void>;
}

/** A port that was free a moment ago (the resource URI must be known before the app is built). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The sample's MCP server (sample/mcp) in a Nest app protected by IdentityModule, listening on 127.0.0.1. */
export async function startMcpApp(platform: PlatformName, issuer: string, extra: Partial<IdentityModuleOptions> = {}): Promise<McpApp> {
  const port = await freePort();
  const resource = `http://127.0.0.1:${port}/mcp`;
  const moduleRef = await Test.createTestingModule({
    imports: [
      IdentityModule.forRoot({ url: issuer, metrics: false, resourceMetadata: { resource, scopesSupported: ORDERS_SCOPES, resourceName: 'Orders MCP server' }, ...extra }),
      McpModule,
    ],
  }).compile();
  const app = platform === 'fastify' ? moduleRef.createNestApplication(new FastifyAdapter()) : moduleRef.createNestApplication();
  app.useLogger(new LogGuard());
  await app.listen(port, '127.0.0.1');
  return { app, origin: `http://127.0.0.1:${port}`, resource, close: () => app.close() };
}
