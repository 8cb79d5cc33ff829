import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { Identity } from '../../src/index.js';
import { requireScopes } from './tool-scopes.js';

/** The orders the sample serves. */
const ORDERS = [
  { id: '1', item: 'book', status: 'open' },
  { id: '2', item: 'lamp', status: 'open' },
];

/** Each tool and the scopes a token needs to call it: the one table the scope check and the metadata read. */
export const ORDERS_TOOL_SCOPES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  list_orders: ['orders:read'],
  cancel_order: ['orders:write'],
});

/** Every scope a tool needs: the sample's `scopes_supported`. */
export const ORDERS_SCOPES = [...new Set(Object.values(ORDERS_TOOL_SCOPES).flat())].sort();

/** The identity the controller put in the MCP request's auth info. */
function callerOf(extra: { authInfo?: { extra?: Record<string, unknown> } }): Identity {
  const identity = extra.authInfo?.extra?.['identity'];
  if (!identity) throw new Error('no authenticated caller');
  return identity as Identity;
}

/**
 * An MCP server with the orders tools. One per request (the transport runs stateless). Each tool
 * checks its own scopes again from the caller's identity, so a tool stays protected even if it is
 * reached some other way than through the controller's check.
 */
export function ordersMcpServer(): McpServer {
  const server = new McpServer({ name: 'orders', version: '1.0.0' });
  server.registerTool(
    'list_orders',
    { title: 'List orders', description: 'Lists the open orders (needs orders:read)' },
    async (extra) => {
      requireScopes(callerOf(extra), ORDERS_TOOL_SCOPES.list_orders!);
      return { content: [{ type: 'text', text: JSON.stringify(ORDERS) }] };
    },
  );
  server.registerTool(
    'cancel_order',
    { title: 'Cancel an order', description: 'Cancels one order (needs orders:write)', inputSchema: { id: z.string().min(1) } },
    async ({ id }, extra) => {
      const caller = callerOf(extra);
      requireScopes(caller, ORDERS_TOOL_SCOPES.cancel_order!);
      return { content: [{ type: 'text', text: `order ${id} cancelled by ${caller.describe()}` }] };
    },
  );
  return server;
}
