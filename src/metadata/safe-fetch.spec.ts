import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertAllowedUrl, OutboundRequestError, safeFetch, type OutboundPolicy } from './safe-fetch.js';

let server: Server;
let base: string;
let port: number;
let redirectTargetHits = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    switch (req.url) {
      case '/ok':
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ hello: 'world', method: req.method, accept: req.headers.accept }));
        return;
      case '/redirect':
        res.writeHead(302, { location: '/target' });
        res.end();
        return;
      case '/target':
        redirectTargetHits += 1;
        res.end('{}');
        return;
      case '/stall-headers':
        return; // never answers
      case '/stall-body':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"a":');
        return; // never finishes
      case '/endless': {
        res.writeHead(200);
        const chunk = 'x'.repeat(16 * 1024);
        const pump = (): void => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', pump);
        };
        pump();
        return;
      }
      case '/declared-large':
        res.writeHead(200, { 'content-length': String(10 * 1024 * 1024) });
        res.write('{');
        return;
      case '/not-json':
        res.end('<html>SECRET-BODY</html>');
        return;
      case '/array':
        res.end('[1,2,3]');
        return;
      case '/error':
        res.writeHead(500);
        res.end('SECRET-BODY');
        return;
      case '/oauth-error':
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"error":"invalid_client"}');
        return;
      default:
        res.writeHead(404);
        res.end('nope');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function policy(overrides: Partial<OutboundPolicy> = {}): OutboundPolicy {
  return { timeoutMs: 500, maxBytes: 64 * 1024, allowInsecureHttp: false, allowedHosts: [], issuerHost: `127.0.0.1:${port}`, ...overrides };
}

async function failure(promise: Promise<unknown>): Promise<OutboundRequestError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OutboundRequestError);
  return error as OutboundRequestError;
}

function refusal(fn: () => unknown): OutboundRequestError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(OutboundRequestError);
    expect((error as OutboundRequestError).kind).toBe('policy');
    return error as OutboundRequestError;
  }
  throw new Error('expected a refusal');
}

describe('safeFetch', () => {
  it('fetches a JSON object from loopback over http', async () => {
    const res = await safeFetch(`${base}/ok`, {}, policy(), 'metadata');
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ hello: 'world', method: 'GET', accept: 'application/json' });
  });

  it('refuses redirects without following them', async () => {
    const error = await failure(safeFetch(`${base}/redirect`, {}, policy(), 'metadata'));
    expect(error.kind).toBe('http_status');
    expect(error.status).toBe(302);
    expect(error.message).toContain(`${base}/redirect`);
    expect(redirectTargetHits).toBe(0);
  });

  it('times out when headers never come', async () => {
    const started = Date.now();
    const error = await failure(safeFetch(`${base}/stall-headers`, {}, policy({ timeoutMs: 200 }), 'metadata'));
    expect(error.kind).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('times out when the body never ends (the deadline covers the whole response)', async () => {
    const error = await failure(safeFetch(`${base}/stall-body`, {}, policy({ timeoutMs: 200 }), 'metadata'));
    expect(error.kind).toBe('timeout');
  });

  it('stops reading an endless body at the byte cap', async () => {
    const started = Date.now();
    const error = await failure(safeFetch(`${base}/endless`, {}, policy({ maxBytes: 100_000, timeoutMs: 5000 }), 'JWKS'));
    expect(error.kind).toBe('too_large');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('refuses a declared Content-Length over the cap before reading', async () => {
    const error = await failure(safeFetch(`${base}/declared-large`, {}, policy({ maxBytes: 1024, timeoutMs: 5000 }), 'JWKS'));
    expect(error.kind).toBe('too_large');
  });

  it('turns non-2xx answers into http_status errors that never echo the body', async () => {
    const error = await failure(safeFetch(`${base}/error`, {}, policy(), 'metadata'));
    expect(error.kind).toBe('http_status');
    expect(error.status).toBe(500);
    expect(error.message).not.toContain('SECRET');
  });

  it('returns 4xx answers when allowErrorStatus is set', async () => {
    const res = await safeFetch(`${base}/oauth-error`, { method: 'POST', body: 'grant_type=client_credentials', allowErrorStatus: true }, policy(), 'token endpoint');
    expect(res.status).toBe(401);
    expect(res.json()).toEqual({ error: 'invalid_client' });
  });

  it('rejects bodies that are not JSON objects, without echoing them', async () => {
    const html = await safeFetch(`${base}/not-json`, {}, policy(), 'metadata');
    let error: unknown;
    try {
      html.json();
    } catch (e) {
      error = e;
    }
    expect((error as OutboundRequestError).kind).toBe('invalid_json');
    expect((error as Error).message).not.toContain('SECRET');
    const array = await safeFetch(`${base}/array`, {}, policy(), 'metadata');
    expect(() => array.json()).toThrow(/not an object/);
  });

  it('reports a closed port as a network error', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await failure(safeFetch(`http://127.0.0.1:${closedPort}/`, {}, policy({ issuerHost: `127.0.0.1:${closedPort}` }), 'metadata'));
    expect(error.kind).toBe('network');
  });

  it('refuses another host unless it is allow-listed', async () => {
    const error = await failure(safeFetch(`http://localhost:${port}/ok`, {}, policy(), 'JWKS'));
    expect(error.kind).toBe('policy');
    expect(error.message).toMatch(/allowedHosts/);
    const res = await safeFetch(`http://localhost:${port}/ok`, {}, policy({ allowedHosts: ['localhost'] }), 'JWKS');
    expect(res.status).toBe(200);
    const withPort = await safeFetch(`http://localhost:${port}/ok`, {}, policy({ allowedHosts: [`localhost:${port}`] }), 'JWKS');
    expect(withPort.status).toBe(200);
    await expect(safeFetch(`http://localhost:${port}/ok`, {}, policy({ allowedHosts: ['localhost:1'] }), 'JWKS')).rejects.toThrow(/allowedHosts/);
  });
});

describe('assertAllowedUrl', () => {
  const remote = (overrides: Partial<OutboundPolicy> = {}): OutboundPolicy =>
    ({ timeoutMs: 1000, maxBytes: 1024, allowInsecureHttp: false, allowedHosts: [], issuerHost: 'auth.example.com', ...overrides });

  it('accepts https on the issuer host', () => {
    expect(assertAllowedUrl('https://auth.example.com/.well-known/jwks.json', remote(), 'JWKS').pathname).toBe('/.well-known/jwks.json');
  });

  it('refuses http outside loopback unless allowInsecureHttp', () => {
    expect(refusal(() => assertAllowedUrl('http://auth.example.com/x', remote(), 'JWKS')).reason).toMatch(/https/);
    expect(assertAllowedUrl('http://auth.example.com/x', remote({ allowInsecureHttp: true }), 'JWKS').protocol).toBe('http:');
    for (const loopback of ['127.0.0.1', '127.9.9.9', '[::1]', 'localhost']) {
      expect(assertAllowedUrl(`http://${loopback}:8080/x`, remote({ allowedHosts: [loopback.replace(/[[\]]/g, '')] }), 'JWKS').protocol).toBe('http:');
    }
  });

  it('refuses credentials in URLs without echoing them', () => {
    const error = refusal(() => assertAllowedUrl('https://user:hunter2@auth.example.com/x', remote(), 'JWKS'));
    expect(error.message).toMatch(/credentials/);
    expect(error.message).not.toContain('hunter2');
  });

  it('refuses other schemes', () => {
    for (const url of ['file:///etc/passwd', 'data:application/json,{}', 'ftp://auth.example.com/x', 'javascript:alert(1)']) {
      refusal(() => assertAllowedUrl(url, remote({ allowInsecureHttp: true }), 'metadata'));
    }
  });

  it('refuses relative and garbage URLs', () => {
    expect(refusal(() => assertAllowedUrl('/.well-known/jwks.json', remote(), 'JWKS')).url).toBe('(invalid URL)');
  });

  it('refuses link-local and cloud metadata addresses even when allow-listed', () => {
    const hosts = ['169.254.169.254', '169.254.0.1', '[fe80::1]', '[febf::1]', '100.100.100.200', '[fd00:ec2::254]', 'metadata.google.internal', 'metadata.google.internal.', '[::ffff:169.254.169.254]', '0xA9FEA9FE'];
    for (const host of hosts) {
      const allowed = remote({ allowInsecureHttp: true, allowedHosts: [host.replace(/[[\]]/g, ''), new URL(`https://${host}/`).hostname.replace(/[[\]]/g, '')] });
      expect(refusal(() => assertAllowedUrl(`https://${host}/latest/meta-data`, allowed, 'JWKS')).reason).toMatch(/link-local|metadata/);
    }
  });

  it('refuses hosts that are neither the issuer host nor allow-listed', () => {
    refusal(() => assertAllowedUrl('https://evil.example.net/jwks', remote(), 'JWKS'));
    refusal(() => assertAllowedUrl('https://auth.example.com.evil.net/jwks', remote(), 'JWKS'));
    expect(assertAllowedUrl('https://keys.example.net/jwks', remote({ allowedHosts: ['keys.example.net'] }), 'JWKS').host).toBe('keys.example.net');
  });
});
