import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { nowSeconds, signRaw, type CraftAlg } from './craft.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * A scriptable Identity provider on 127.0.0.1 that the test fully controls: its metadata
 * document, its JWKS and any other path can be replaced by a hostile answer at any moment (wrong
 * issuer, redirects, stalls, endless bodies, garbage). It signs access tokens with its own key,
 * so a test can check the app keeps verifying while a bad copy is refused.
 */
export class HostileProvider {
  static async start(audience: string): Promise<HostileProvider> {
    const provider = new HostileProvider(audience);
    await new Promise<void>((resolve) => provider.server.listen(0, '127.0.0.1', resolve));
    provider.port = (provider.server.address() as AddressInfo).port;
    provider.reset();
    return provider;
  }

  port = 0;
  readonly hits: Record<string, number> = {};
  readonly key = { kid: 'hostile-good', ...generateKeyPairSync('rsa', { modulusLength: 2048 }) };
  /** The answers by path; reset() restores the good ones. */
  readonly routes = new Map<string, Handler>();
  private readonly server: Server;

  private constructor(readonly audience: string) {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0]!;
      this.hits[path] = (this.hits[path] ?? 0) + 1;
      const handler = this.routes.get(path);
      if (handler) handler(req, res);
      else json(404, { error: 'not_found' })(req, res);
    });
  }

  get issuer(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get jwksUrl(): string {
    return `${this.issuer}/jwks.json`;
  }

  goodJwk(): Record<string, unknown> {
    return { ...this.key.publicKey.export({ format: 'jwk' }), kid: this.key.kid, alg: 'RS256', use: 'sig' };
  }

  goodDocument(): Record<string, unknown> {
    return { version: 1, issuer: this.issuer, jwksUrl: this.jwksUrl, cacheTtl: 3600 };
  }

  /** The s3db metadata document and the JWKS answer well again; other routes are dropped. */
  reset(): void {
    this.routes.clear();
    this.serveDocument(this.goodDocument());
    this.serveJwks({ keys: [this.goodJwk()] });
  }

  serveDocument(document: unknown): void {
    this.routes.set('/.well-known/s3db-identity.json', json(200, document));
  }

  serveJwks(jwks: unknown): void {
    this.routes.set('/jwks.json', json(200, jwks));
  }

  hitCount(path: string): number {
    return this.hits[path] ?? 0;
  }

  /** An access token this provider would issue, signed with its good key unless told otherwise. */
  mint(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key: KeyObject = this.key.privateKey, alg: CraftAlg = 'RS256'): string {
    const now = nowSeconds();
    const payload = { iss: this.issuer, sub: 'sa:hostile-worker', aud: this.audience, scope: 'orders:read', token_use: 'service', client_id: 'hostile-worker', iat: now, exp: now + 300, ...claims };
    return signRaw({ alg, typ: 'JWT', kid: this.key.kid, ...header }, payload, key, alg);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Handler {
  return (_req, res) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(text);
  };
}

export function redirect(location: string, status = 302): Handler {
  return (_req, res) => {
    res.writeHead(status, { location });
    res.end();
  };
}

/** Answers nothing at all (headers never come). */
export const stall: Handler = () => undefined;

/** Sends headers and a first byte, then nothing. */
export const stallBody: Handler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write('{"issuer":');
};

/** A body that never ends. */
export const endless: Handler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write('{"padding":"');
  const chunk = 'x'.repeat(16 * 1024);
  const pump = (): void => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', pump);
  };
  pump();
};
