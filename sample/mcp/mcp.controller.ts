import { Body, Controller, Delete, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { Authenticated, CurrentIdentity, InjectIdentityOptions, Public, type Identity, type ResolvedIdentityOptions } from '../../src/index.js';
import { ORDERS_TOOL_SCOPES, ordersMcpServer } from './orders-tools.js';
import { checkToolScopes } from './tool-scopes.js';

const METHOD_NOT_ALLOWED = Object.freeze({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this MCP server is stateless; POST JSON-RPC messages' }, id: null });

/** Express hands Node's own objects; Fastify wraps them (`request.raw`, `reply.raw`). */
type AnyRequest = IncomingMessage & { raw?: IncomingMessage };
type AnyResponse = ServerResponse & { raw?: ServerResponse; hijack?: () => void };

/**
 * The MCP endpoint: Streamable HTTP (MCP 2025-06-18), stateless, behind the identity guard. The
 * route demands a valid token (`@Authenticated()`: no token → 401 with `resource_metadata`, which
 * MCP clients follow to the authorization server); each tool's scopes are checked from the tool
 * table before the MCP server runs (a missing scope → 403 with `scope="…"`).
 *
 * The client's token stays here: the tools get the caller's identity, never the token (no
 * passthrough; see docs/mcp.md). A tool that calls another API uses the API's own client
 * credentials (ClientCredentialsService).
 */
@Controller('mcp')
export class McpController {
  constructor(@InjectIdentityOptions() private readonly options: ResolvedIdentityOptions) {}

  @Post()
  @Authenticated()
  async handle(@Req() request: AnyRequest, @Res() response: AnyResponse, @Body() body: unknown, @CurrentIdentity() identity: Identity): Promise<void> {
    checkToolScopes(identity, body, (tool) => ORDERS_TOOL_SCOPES[tool]);
    const server = ordersMcpServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    const raw = request.raw ?? request;
    const rawResponse = response.raw ?? response;
    // Fastify: this handler answers on the raw response itself.
    response.hijack?.();
    rawResponse.on('close', () => {
      void transport.close();
      void server.close();
    });
    const auth = {
      // Never the client's token: nothing downstream can forward it.
      token: '',
      clientId: identity.serviceAccount?.clientId ?? String(identity.claims.client_id ?? identity.subject),
      scopes: [...identity.scopes],
      expiresAt: typeof identity.claims.exp === 'number' ? identity.claims.exp : undefined,
      resource: this.options.resourceMetadata ? new URL(this.options.resourceMetadata.resource) : undefined,
      extra: { identity },
    };
    await server.connect(transport);
    await transport.handleRequest(Object.assign(raw, { auth }), rawResponse, body);
  }

  /** Stateless: no server-initiated stream to open... */
  @Get()
  @Public()
  @HttpCode(405)
  noStream() {
    return METHOD_NOT_ALLOWED;
  }

  /** ...and no session to end. */
  @Delete()
  @Public()
  @HttpCode(405)
  noSession() {
    return METHOD_NOT_ALLOWED;
  }
}
