import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sendJson } from './development-util.js';

/**
 * The provider's socket on 127.0.0.1: one HTTP server for the provider's whole life, so the port
 * (and with it the issuer) survives key rotation and stop/restart.
 */
export class LoopbackServer {
  private readonly server: Server;
  private boundPort = 0;

  /** `handle` failures answer 500 (or cut the socket once headers left) and go to `onError`. */
  constructor(handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>, onError: (error: unknown) => void) {
    this.server = createServer((req, res) => {
      handle(req, res).catch((error: unknown) => {
        onError(error);
        if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
        else res.destroy();
      });
    });
  }

  /** The port actually bound (0 before the first listen). */
  get port(): number {
    return this.boundPort;
  }

  get listening(): boolean {
    return this.server.listening;
  }

  async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (this.server.address() as AddressInfo).port;
  }

  /** Closes the server and every open socket (keep-alive ones included) at once. Idempotent. */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
