import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenEndpointProbe } from './secret-probe.js';

const POLICY = Object.freeze({ timeoutMs: 2000, maxBytes: 65536, allowInsecureHttp: true, allowedHosts: Object.freeze(['127.0.0.1']), issuerHost: '127.0.0.1' });

describe('tokenEndpointProbe', () => {
  let server: Server;
  let url = '';
  let answer: [number, Record<string, unknown>] = [200, {}];
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(answer[0], { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer[1]));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const cases: Array<[string, [number, Record<string, unknown>], string]> = [
    ['a token', [200, { access_token: 'x', token_type: 'Bearer' }], 'accepted'],
    ['invalid_client', [401, { error: 'invalid_client' }], 'refused'],
    ['a bare 401', [401, {}], 'refused'],
    ["Auth0's 401 access_denied for a wrong secret", [401, { error: 'access_denied', error_description: 'Unauthorized' }], 'refused'],
    ["Auth0's 403 access_denied for a missing grant (the secret worked)", [403, { error: 'access_denied' }], 'accepted'],
    ['unauthorized_client (authenticated, grant not allowed)', [400, { error: 'unauthorized_client' }], 'accepted'],
    ['a server error', [500, { error: 'server_error' }], 'unknown'],
  ];
  it.each(cases)('%s', async (_name, response, expected) => {
    answer = response;
    expect(await tokenEndpointProbe(url, { clientId: 'c' }, POLICY)('s')).toBe(expected);
  });

  it('is unknown without a token endpoint or when it cannot be reached', async () => {
    expect(await tokenEndpointProbe(undefined, { clientId: 'c' }, POLICY)('s')).toBe('unknown');
    expect(await tokenEndpointProbe('http://127.0.0.1:1/token', { clientId: 'c' }, POLICY)('s')).toBe('unknown');
  });
});
