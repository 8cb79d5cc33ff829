import { IncomingMessage } from 'node:http';

/** oidc-provider's own limit for form bodies. */
const BODY_LIMIT = 56 * 1024;

/** Reads a whole request body, refusing more than 56 KiB. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    received += buffer.length;
    if (received > BODY_LIMIT) throw new Error('request entity too large');
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, received);
}

/**
 * A fresh, unread copy of a request carrying `body`, to hand to oidc-provider after we had to
 * read (and rewrite) the original. Same socket, method, URL and headers; content-length adjusted.
 */
export function replayRequest(original: IncomingMessage, body: Buffer): IncomingMessage {
  const copy = new IncomingMessage(original.socket);
  copy.method = original.method;
  copy.url = original.url;
  copy.httpVersion = original.httpVersion;
  copy.httpVersionMajor = original.httpVersionMajor;
  copy.httpVersionMinor = original.httpVersionMinor;
  copy.headers = { ...original.headers, 'content-length': String(body.length) };
  delete copy.headers['transfer-encoding'];
  // Without this, destroying the finished copy counts as an aborted request and kills the socket.
  copy.complete = true;
  copy.push(body);
  copy.push(null);
  return copy;
}
