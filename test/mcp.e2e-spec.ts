import 'reflect-metadata';
import { discoverAuthorizationServerMetadata, discoverOAuthProtectedResourceMetadata, extractWWWAuthenticateParams } from '@modelcontextprotocol/sdk/client/auth.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevelopmentIdentityProvider } from '../src/testing/index.js';
import { startMcpApp, type McpApp } from './support/mcp-app.js';
import { PLATFORMS } from './support/platforms.js';

/** A token from the provider's token endpoint: client_credentials for `resource` (RFC 8707). */
async function clientCredentialsToken(tokenEndpoint: string, clientId: string, clientSecret: string, params: { scope: string; resource: string }): Promise<string> {
  const response = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...params }),
  });
  const body = (await response.json()) as { access_token?: string };
  if (!response.ok || !body.access_token) throw new Error(`token request failed: ${response.status}`);
  return body.access_token;
}

/** One JSON-RPC POST the way a Streamable HTTP client sends it. */
function rpc(url: string, message: object, token?: string): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, ...message }),
  });
}

async function mcpClient(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'e2e', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

describe.each(PLATFORMS)('an MCP server in a Nest app, protected by IdentityModule, on %s', (platform) => {
  let idp: DevelopmentIdentityProvider;
  let s: McpApp;
  let metadataUrl: string;

  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start();
    s = await startMcpApp(platform, idp.issuer);
    metadataUrl = `${s.origin}/.well-known/oauth-protected-resource/mcp`;
  });

  afterAll(async () => {
    await s?.close();
    await idp?.stop();
  });

  it('without a token: 401 whose challenge leads, through the SDK discovery, to our metadata and then the provider', async () => {
    const response = await rpc(s.resource, { method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'e2e', version: '1' } } });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(`Bearer realm="${s.resource}", resource_metadata="${metadataUrl}"`);
    const challenge = extractWWWAuthenticateParams(response);
    expect(challenge).toEqual({ resourceMetadataUrl: new URL(metadataUrl), scope: undefined, error: undefined });

    const resourceMetadata = await discoverOAuthProtectedResourceMetadata(s.resource, { resourceMetadataUrl: challenge.resourceMetadataUrl });
    expect(resourceMetadata).toMatchObject({ resource: s.resource, authorization_servers: [idp.issuer], scopes_supported: ['orders:read', 'orders:write'], bearer_methods_supported: ['header'], resource_name: 'Orders MCP server' });
    // Path-aware discovery without the header finds the same document.
    expect(await discoverOAuthProtectedResourceMetadata(s.resource)).toEqual(resourceMetadata);

    const provider = await discoverAuthorizationServerMetadata(resourceMetadata.authorization_servers![0]!);
    expect(provider?.issuer).toBe(idp.issuer);
    const { clientId, clientSecret } = idp.defaultServiceAccount;
    const token = await clientCredentialsToken(provider!.token_endpoint, clientId, clientSecret!, { scope: 'orders:read', resource: resourceMetadata.resource });
    expect(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).aud).toBe(s.resource);

    const client = await mcpClient(s.resource, token);
    try {
      expect((await client.listTools()).tools.map((tool) => tool.name).sort()).toEqual(['cancel_order', 'list_orders']);
      const result = await client.callTool({ name: 'list_orders', arguments: {} });
      expect(result.isError).toBeFalsy();
      expect(JSON.parse((result.content as Array<{ text: string }>)[0]!.text)).toEqual([
        { id: '1', item: 'book', status: 'open' },
        { id: '2', item: 'lamp', status: 'open' },
      ]);
    } finally {
      await client.close();
    }
  });

  it("the SDK's own OAuth flow (ClientCredentialsProvider) follows the challenge and gets a token for the resource", async () => {
    const { clientId, clientSecret } = idp.defaultServiceAccount;
    // For client_credentials the SDK requests the provider's own `scope` (not scopes_supported).
    const provider = new ClientCredentialsProvider({ clientId, clientSecret: clientSecret!, scope: 'orders:read orders:write', expectedIssuer: idp.issuer });
    const client = new Client({ name: 'e2e-oauth', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(s.resource), { authProvider: provider }));
    try {
      const result = await client.callTool({ name: 'cancel_order', arguments: { id: '2' } });
      expect((result.content as Array<{ text: string }>)[0]!.text).toMatch(/^order 2 cancelled by service-account:dev-service-account/);
      const token = provider.tokens()!.access_token;
      const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
      expect(claims.aud).toBe(s.resource);
      expect(claims.scope.split(' ').sort()).toEqual(['orders:read', 'orders:write']);
    } finally {
      await client.close();
    }
  });

  it('a token for another resource: 401 invalid_token', async () => {
    const token = await idp.serviceAccountToken({ scopes: ['orders:read'], audience: 'https://other.example.com/mcp' });
    const response = await rpc(s.resource, { method: 'tools/list' }, token);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer realm="${s.resource}", error="invalid_token", error_description="The access token is not meant for this resource server", resource_metadata="${metadataUrl}"`,
    );
    await expect(mcpClient(s.resource, token)).rejects.toThrow();
  });

  it("a token missing a tool's scope: 403 with the scope challenge; the tools it may use still work", async () => {
    const token = await idp.serviceAccountToken({ scopes: ['orders:read'], audience: s.resource });
    const response = await rpc(s.resource, { method: 'tools/call', params: { name: 'cancel_order', arguments: { id: '1' } } }, token);
    expect(response.status).toBe(403);
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer realm="${s.resource}", error="insufficient_scope", error_description="Missing required scope: orders:write", scope="orders:write", resource_metadata="${metadataUrl}"`,
    );
    expect(extractWWWAuthenticateParams(response)).toEqual({ resourceMetadataUrl: new URL(metadataUrl), scope: 'orders:write', error: 'insufficient_scope' });

    const client = await mcpClient(s.resource, token);
    try {
      await expect(client.callTool({ name: 'cancel_order', arguments: { id: '1' } })).rejects.toThrow(/403/);
      expect((await client.callTool({ name: 'list_orders', arguments: {} })).isError).toBeFalsy();
    } finally {
      await client.close();
    }
  });

  it('GET and DELETE answer 405 (stateless server), without authentication', async () => {
    expect((await fetch(s.resource)).status).toBe(405);
    expect((await fetch(s.resource, { method: 'DELETE' })).status).toBe(405);
  });
});
