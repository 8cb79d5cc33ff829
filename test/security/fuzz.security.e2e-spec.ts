import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevelopmentIdentityProvider } from '../../src/testing/index.js';
import { b64url, decodeSegment } from './support/craft.js';
import { SecretRegistry } from './support/secrets.js';
import { AUDIENCE, PLATFORMS, startSecurityApp, type SecurityApp } from './support/security-app.js';

/**
 * Property-based fuzzing of the request path: mutated genuine tokens, random Authorization
 * headers, random bytes. Every answer is 400 or 401 (never 200 for a mutated token, never 5xx),
 * and none repeats the token.
 *
 * The default run is bounded in count and time so CI stays fast. A larger run:
 *   FUZZ_RUNS=3000 FUZZ_TIME_MS=0 npx vitest run test/security/fuzz.security.e2e-spec.ts
 * (`npm run fuzz`). FUZZ_SEED replays a failing run (fast-check prints the seed and path).
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 80);
const TIME_MS = Number(process.env.FUZZ_TIME_MS ?? 1000);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const TEST_TIMEOUT = TIME_MS > 0 ? 30_000 : 30_000 + RUNS * 50;
const params = (): fc.Parameters<unknown> => ({
  numRuns: RUNS,
  ...(TIME_MS > 0 ? { interruptAfterTimeLimit: TIME_MS, markInterruptAsFailure: false } : {}),
  ...(SEED === undefined ? {} : { seed: SEED }),
});

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** Characters a header value may carry that Node's client will send (no CR, LF, NUL). */
const HEADER_CHARS = `${B64URL}.=+/~ \t!"#$%&'()*,:;<>?@[\\]^\`{|}\u00e9\u00ff\u0080`;

type Mutation = (token: string) => string;

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // One character replaced, inserted or removed anywhere.
  fc.tuple(fc.nat(), fc.constantFrom(...HEADER_CHARS.replace(/[ \t]/g, ''))).map(([at, c]): Mutation => (t) => {
    const i = at % t.length;
    return t.slice(0, i) + c + t.slice(i + 1);
  }),
  fc.tuple(fc.nat(), fc.constantFrom(...B64URL, '.', '=')).map(([at, c]): Mutation => (t) => {
    const i = at % (t.length + 1);
    return t.slice(0, i) + c + t.slice(i);
  }),
  fc.nat().map((at): Mutation => (t) => {
    const i = at % t.length;
    return t.slice(0, i) + t.slice(i + 1);
  }),
  // Truncation, segment games.
  fc.nat().map((at): Mutation => (t) => t.slice(0, at % t.length)),
  fc.constantFrom<Mutation>(
    (t) => t.split('.').reverse().join('.'),
    (t) => `${t}.${t.split('.')[2]}`,
    (t) => t.split('.').slice(0, 2).join('.'),
    (t) => `${t.split('.')[0]}.${t.split('.')[0]}.${t.split('.')[2]}`,
    (t) => t.replace(/-/g, '+').replace(/_/g, '/'),
    (t) => `${t}=`,
    (t) => t.replace(/[a-z]/g, (c) => c.toUpperCase()),
    (t) => t.replace(/[A-Z]/g, (c) => c.toLowerCase()),
  ),
  // A segment replaced by random base64url.
  fc.tuple(fc.constantFrom(0, 1, 2), fc.stringMatching(/^[A-Za-z0-9_-]{0,80}$/)).map(([index, text]): Mutation => (t) => {
    const parts = t.split('.');
    parts[index] = text;
    return parts.join('.');
  }),
  // A header or payload member changed to any JSON value, the signature kept.
  fc.tuple(fc.constantFrom(0, 1), fc.constantFrom('alg', 'kid', 'typ', 'crit', 'jku', 'iss', 'aud', 'exp', 'nbf', 'scope', 'sub', 'token_use', '__proto__'), fc.jsonValue({ maxDepth: 2 })).map(
    ([index, name, value]): Mutation => (t) => {
      const parts = t.split('.');
      let decoded: Record<string, unknown>;
      try {
        decoded = decodeSegment(parts[index] ?? '');
      } catch {
        return `${t}A`; // an earlier mutation already broke this segment
      }
      parts[index] = b64url({ ...decoded, [name]: value });
      return parts.join('.');
    },
  ),
);

describe.each(PLATFORMS)('fuzzing on %s', (platform) => {
  let idp: DevelopmentIdentityProvider;
  let s: SecurityApp;
  const tokens: string[] = [];
  const secrets = new SecretRegistry();

  beforeAll(async () => {
    idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE });
    s = await startSecurityApp(platform, () => ({ url: idp.issuer, audience: AUDIENCE }));
    tokens.push(await idp.mintToken(), await idp.mintToken({ kind: 'user' }), await idp.mintToken({ alg: 'ES256' }), await idp.serviceAccountToken());
    for (const token of tokens) secrets.token(token);
    secrets.privateKey(idp.signingKeyMaterial().privateKey);
  });

  afterAll(async () => {
    secrets.assertAbsent(s.logs.text, `${platform} logs`);
    await s?.close();
    await idp?.stop();
  });

  /** Sends a header value; one Node's HTTP client itself refuses to send is no test of the server. */
  const sendAuthorization = async (value: string) => {
    try {
      return await s.http.get('/sec/any').set('Authorization', value);
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_INVALID_CHAR') fc.pre(false);
      throw error;
    }
  };

  const expectRefused = (response: { status: number; text: string; headers: Record<string, string> }, sent: string) => {
    expect([400, 401], `${response.status} ${response.text}`).toContain(response.status);
    const answer = response.text + JSON.stringify(response.headers);
    for (const part of sent.split('.').filter((p) => p.length >= 24)) expect(answer.includes(part)).toBe(false);
  };

  it('genuine tokens are accepted (the property below departs from them)', async () => {
    for (const token of tokens) expect((await s.http.get('/sec/any').set('Authorization', `Bearer ${token}`)).status).toBe(200);
  });

  it(
    'a mutated token is never accepted and never answered 5xx',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...tokens.keys()), fc.array(mutation, { minLength: 1, maxLength: 3 }), async (which, mutations) => {
          const original = tokens[which]!;
          const mutated = mutations.reduce((t, m) => m(t), original);
          // What the server sees once it strips spaces around the header value.
          fc.pre(mutated.trim() !== original && mutated.length > 0);
          expectRefused(await sendAuthorization(`Bearer ${mutated}`), mutated);
        }),
        params(),
      );
    },
    TEST_TIMEOUT,
  );

  it(
    'any Authorization header value is answered 400 or 401',
    async () => {
      const scheme = fc.constantFrom('Bearer ', 'bearer ', 'Bearer', 'Basic ', '', 'Bearer\t', 'Bearer  ', 'Token ', 'DPoP ');
      const value = fc.string({ unit: fc.constantFrom(...HEADER_CHARS), maxLength: 400 });
      await fc.assert(
        fc.asyncProperty(scheme, value, async (prefix, rest) => {
          const header = `${prefix}${rest}`;
          fc.pre(!tokens.some((t) => header.trim().replace(/^bearer +/i, '') === t));
          expectRefused(await sendAuthorization(header), header);
        }),
        params(),
      );
    },
    TEST_TIMEOUT,
  );

  it(
    'random bytes as a token, a body or a query string are answered 400 or 401',
    async () => {
      const headerSafe = (bytes: Uint8Array) => Buffer.from(bytes.filter((b) => b === 9 || (b >= 0x20 && b !== 0x7f))).toString('latin1');
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), fc.uint8Array({ maxLength: 2048 }), async (tokenBytes, body) => {
          const token = headerSafe(tokenBytes);
          expectRefused(await sendAuthorization(`Bearer ${token}`), token);
          const asBody = await s.http.post(`/sec/any?access_token=${encodeURIComponent(token)}`).set('content-type', 'application/json').send(Buffer.from(body));
          expect([400, 401, 413, 415]).toContain(asBody.status);
        }),
        params(),
      );
    },
    TEST_TIMEOUT,
  );

  it(
    'random bytes on the socket never take the server down',
    async () => {
      const server = s.app.getHttpServer() as import('node:http').Server;
      if (!server.listening) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      const send = (bytes: Uint8Array) =>
        new Promise<void>((resolve) => {
          const socket = connect(port, '127.0.0.1', () => socket.end(Buffer.from(bytes)));
          socket.on('error', () => resolve());
          socket.on('close', () => resolve());
          socket.setTimeout(1000, () => socket.destroy());
          socket.resume();
        });
      const prefix = fc.constantFrom('', 'GET /sec/any HTTP/1.1\r\n', 'GET /sec/any HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ', 'POST /sec/any HTTP/1.1\r\nContent-Length: 99999\r\n\r\n');
      await fc.assert(
        fc.asyncProperty(prefix, fc.uint8Array({ maxLength: 1024 }), async (start, bytes) => {
          await send(Buffer.concat([Buffer.from(start, 'latin1'), Buffer.from(bytes)]));
        }),
        { ...params(), numRuns: Math.min(RUNS, 40) },
      );
      const alive = await s.http.get('/sec/any').set('Authorization', `Bearer ${tokens[0]}`);
      expect(alive.status).toBe(200);
    },
    TEST_TIMEOUT,
  );
});
