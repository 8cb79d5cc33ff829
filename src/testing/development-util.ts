import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';

export type JsonObject = Record<string, unknown>;

/** A client secret or cookie key: 256 random bits, base64url. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function epochSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** What RFC 8707 accepts as a resource indicator. */
export function isAbsoluteUri(value: string): boolean {
  return URL.canParse(value) && !value.includes('#');
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}
