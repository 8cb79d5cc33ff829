import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Configuration } from 'oidc-provider';
import { loadOidcProvider } from '../../../src/testing/load-oidc-provider.js';
import { MemoryStore } from '../../../src/testing/memory-store.js';

export interface StockOidcProvider {
  /** `http://127.0.0.1:<port>`. */
  issuer: string;
  /** From discovery (`token_endpoint`). */
  tokenUrl: string;
  /** From discovery (`registration_endpoint`, RFC 7591). */
  registrationUrl: string;
  /** The one resource indicator that gets JWT access tokens. */
  audience: string;
  stop(): Promise<void>;
}

export interface StockOidcProviderOptions {
  /** Default `https://api.example.com`. */
  audience?: string;
  /** Supported scopes (and the resource server's). Default `orders:read orders:write`. */
  scopes?: string[];
}

/**
 * A plain, stock panva oidc-provider: configuration only, no hooks, middleware or customizers, so
 * it behaves the way the library behaves for anyone who deploys it (RFC 7592 PUT keeps the secret,
 * JWT access tokens, default routes). The yardstick the development provider's default mode must
 * not be kinder than.
 */
export async function startStockOidcProvider(options: StockOidcProviderOptions = {}): Promise<StockOidcProvider> {
  const audience = options.audience ?? 'https://api.example.com';
  const scopes = options.scopes ?? ['orders:read', 'orders:write'];
  const { Provider, errors } = await loadOidcProvider();

  // The issuer holds the port, so the socket is bound before the Provider exists.
  let handler: ReturnType<InstanceType<typeof Provider>['callback']> | undefined;
  const server: Server = createServer((req, res) => {
    if (handler) return void handler(req, res);
    res.writeHead(503).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const configuration: Configuration = {
    // A per-instance store instead of oidc-provider's process-global default adapter, which also
    // prints a "development-only adapter" warning; storage only, no protocol behaviour.
    adapter: new MemoryStore().adapterFactory,
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'stock-rs256', alg: 'RS256', use: 'sig' }] as NonNullable<Configuration['jwks']>['keys'] },
    scopes: ['openid', ...scopes],
    clientDefaults: { grant_types: ['client_credentials'], response_types: [], token_endpoint_auth_method: 'client_secret_post' },
    // oidc-provider's own default values, spelled out only to silence its "you SHOULD change" notices.
    ttl: { AccessToken: 3600, ClientCredentials: 600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      registration: { enabled: true },
      registrationManagement: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Without a resource indicator the token is opaque; with ours it is a JWT for that audience.
        getResourceServerInfo: (_ctx, resource) => {
          if (resource !== audience) throw new errors.InvalidTarget();
          return { scope: scopes.join(' '), audience, accessTokenFormat: 'jwt' };
        },
      },
    },
  };
  const provider = new Provider(issuer, configuration);
  handler = provider.callback();

  const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
  const tokenUrl = discovery['token_endpoint'];
  const registrationUrl = discovery['registration_endpoint'];
  if (typeof tokenUrl !== 'string' || typeof registrationUrl !== 'string') throw new Error('stock oidc-provider: discovery lacks token or registration endpoint');

  return {
    issuer,
    tokenUrl,
    registrationUrl,
    audience,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
