import { InsufficientScopeError, type Identity } from '../../src/index.js';

/**
 * Refuses an identity that lacks any of `scopes` with the RFC 6750 403 answer: `insufficient_scope`
 * and `scope="<every scope needed>"`, which the module's exception filter sends with
 * `resource_metadata`. An MCP client reads that challenge and asks for a token with those scopes
 * (MCP step-up authorization).
 */
export function requireScopes(identity: Identity, scopes: readonly string[]): void {
  const missing = scopes.filter((scope) => !identity.scopes.has(scope));
  if (missing.length > 0) throw new InsufficientScopeError(scopes.join(' '), `Missing required scope: ${missing.join(' ')}`);
}

/** A JSON-RPC message as far as the scope check reads it. */
interface JsonRpcLike {
  method?: unknown;
  params?: { name?: unknown };
}

/**
 * Checks every `tools/call` in a Streamable HTTP POST body (one message or a batch) against the
 * scopes the tool was registered with, before the MCP server sees it: a missing scope is an HTTP
 * 403 with the scope challenge, not a tool error inside a 200. Unknown tools are left to the
 * server (it answers with a JSON-RPC error).
 */
export function checkToolScopes(identity: Identity, body: unknown, scopesOf: (tool: string) => readonly string[] | undefined): void {
  const messages = Array.isArray(body) ? body : [body];
  for (const message of messages as JsonRpcLike[]) {
    if (message?.method !== 'tools/call' || typeof message.params?.name !== 'string') continue;
    const scopes = scopesOf(message.params.name);
    if (scopes) requireScopes(identity, scopes);
  }
}
