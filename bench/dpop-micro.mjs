// In-process micro-benchmark of DPoP on the token path, without HTTP: `node bench/dpop-micro.mjs [--iterations N]`.
// Uses the compiled dist/ (npm run build first), like bench/micro.mjs. Each figure is the minimum
// over 30 short trials of the wall time per call, pinned to one core (--core, default 1).
//
// What a DPoP request costs next to a Bearer cache hit: the token's verification is cached as
// always, but the proof is checked on every request (jose: thumbprint, key import unless cached,
// ES256/PS256/Ed25519 signature, claims, ath; then the replay cache). Figures:
//   - TokenAuthenticator.identify, Bearer, cache hit (DPoP off, and DPoP allowed): the baseline;
//   - identify, DPoP scheme, token cache hit + full proof check (memory replay cache), per alg;
//   - the pieces: DpopProofVerifier.verify, calculateJwkThumbprint, importJWK, compactVerify, sha256 (ath);
//   - with --redis redis://..., the Redis replay cache (SET NX PX) instead of memory.
// Tokens are minted here with a local key served as a JWKS on 127.0.0.1 (no provider process needed).
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { calculateJwkThumbprint, compactVerify, exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';
import { useScratchDir } from './scratch.mjs';

useScratchDir();
const { values } = parseArgs({ options: { iterations: { type: 'string', default: '20000' }, core: { type: 'string', default: '1' }, redis: { type: 'string' } } });
const N = Math.max(1000, Math.min(200_000, Number.parseInt(values.iterations, 10) || 20000));
try {
  execFileSync('taskset', ['-a', '-p', '-c', values.core, String(process.pid)], { stdio: 'ignore' });
} catch {
  console.log('(taskset unavailable: not pinned)');
}

const lib = await import('../dist/src/index.js');
const { DpopProofVerifier } = await import('../dist/src/dpop/dpop-proof.js');
const { RequireDpop } = await import('../dist/src/dpop/require-dpop.decorator.js');
void RequireDpop;

// ---- an issuer of our own: an RS256 key, its JWKS on loopback, tokens bound to DPoP keys
const ISSUER = 'https://bench.example';
const AUDIENCE = 'https://api.example.com';
const signer = await generateKeyPair('RS256', { extractable: true });
const signerJwk = { ...(await exportJWK(signer.publicKey)), kid: 'bench', alg: 'RS256', use: 'sig' };
const jwksServer = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [signerJwk] })));
await new Promise((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
const jwksUrl = `http://127.0.0.1:${jwksServer.address().port}/jwks`;
const now = () => Math.floor(Date.now() / 1000);
const mint = (claims) =>
  new SignJWT({ sub: 'sa:bench', client_id: 'bench', scope: 'orders:read', token_use: 'service', service_account: { clientId: 'bench', scopes: ['orders:read'] }, ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: 'bench', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(signer.privateKey);

// ---- the apps: DPoP off, DPoP allowed (memory replay cache), and allowed with Redis when asked
class Hello {
  hello() {
    return 'hello';
  }
}
Reflect.decorate([Get('hello'), lib.Authenticated()], Hello.prototype, 'hello', Object.getOwnPropertyDescriptor(Hello.prototype, 'hello'));
Reflect.decorate([Controller()], Hello);
const context = (request) => ({ getClass: () => Hello, getHandler: () => Hello.prototype.hello, getType: () => 'http', switchToHttp: () => ({ getRequest: () => request, getResponse: () => ({}) }) });
async function build(extra) {
  class AppModule {}
  Reflect.decorate([Module({ imports: [lib.IdentityModule.forRoot({ metadata: { issuer: ISSUER, jwksUrl }, allowedHosts: [new URL(jwksUrl).host], audience: AUDIENCE, metrics: false, audit: false, ...extra })], controllers: [Hello] })], AppModule);
  const app = await NestFactory.create(AppModule, { logger: false });
  await app.init();
  return { app, authenticator: app.get(lib.TokenAuthenticator) };
}
const off = await build({});
const allowed = await build({ dpop: { mode: 'allowed', publicUrl: 'https://api.example.com' } });
const redis = values.redis ? await build({ dpop: { mode: 'allowed', publicUrl: 'https://api.example.com', replayStore: { type: 'redis', url: values.redis, keyPrefix: `bench-${randomUUID().slice(0, 8)}:` } } }) : undefined;

const TRIALS = 30;
const report = (name, best) => console.log(`${best.toFixed(2).padStart(9)} µs  ${name}`);
async function timeAsync(name, iterations, fn) {
  const n = Math.max(20, Math.ceil(iterations / TRIALS));
  for (let i = 0; i < n; i++) await fn(i);
  let best = Infinity;
  for (let t = 0; t < TRIALS; t++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const result = fn(n + t * n + i);
      if (result instanceof Promise) await result;
    }
    best = Math.min(best, ((performance.now() - t0) * 1000) / n);
  }
  report(name, best);
  return best;
}
const calls = (iterations) => Math.max(20, Math.ceil(iterations / TRIALS)) * (TRIALS + 1);

const bearerRequest = (token) => ({ method: 'GET', url: '/hello', headers: { host: '127.0.0.1', authorization: `Bearer ${token}` }, rawHeaders: ['Host', '127.0.0.1', 'Authorization', `Bearer ${token}`] });
const dpopRequest = (token, proof) => ({
  method: 'GET',
  url: '/hello',
  headers: { host: '127.0.0.1', authorization: `DPoP ${token}`, dpop: proof },
  rawHeaders: ['Host', '127.0.0.1', 'Authorization', `DPoP ${token}`, 'DPoP', proof],
});

/** A DPoP key, a token bound to it, and `count` fresh proofs (unique jti) for GET https://api.example.com/hello. */
async function client(alg, count) {
  const keys = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(keys.publicKey);
  const token = await mint({ cnf: { jkt: await calculateJwkThumbprint(jwk) } });
  const ath = createHash('sha256').update(token).digest('base64url');
  const proofs = [];
  for (let i = 0; i < count; i++) {
    proofs.push(await new SignJWT({ jti: randomUUID(), htm: 'GET', htu: 'https://api.example.com/hello', iat: now(), ath }).setProtectedHeader({ typ: 'dpop+jwt', alg, jwk }).sign(keys.privateKey));
  }
  return { token, proofs, jwk, alg };
}

console.log(`${N} iterations per figure; proofs are made in advance (client-side signing is not timed)`);
const plain = await mint({});
console.log('\n-- Bearer, verified-token cache hit (the baseline)');
await off.authenticator.identify(bearerRequest(plain));
const bearerOff = await timeAsync('identify, Bearer, cache hit, DPoP off', N, () => off.authenticator.identify(bearerRequest(plain), context()));
await allowed.authenticator.identify(bearerRequest(plain));
await timeAsync('identify, Bearer, cache hit, DPoP allowed', N, () => allowed.authenticator.identify(bearerRequest(plain), context()));

const results = {};
for (const alg of ['ES256', 'Ed25519', 'PS256']) {
  const c = await client(alg, calls(N) + 1);
  await allowed.authenticator.identify(dpopRequest(c.token, c.proofs[0])); // token cached, key imported
  console.log(`\n-- DPoP, ${alg} proof, token cache hit (proof checked in full, memory replay cache)`);
  results[alg] = await timeAsync(`identify, DPoP ${alg}: token cache hit + proof check`, N, (i) => allowed.authenticator.identify(dpopRequest(c.token, c.proofs[i + 1])));
}

console.log('\n-- the pieces of a proof check (ES256)');
const es = await client('ES256', calls(N) * 2 + 2);
const verifier = new DpopProofVerifier({ algorithms: new Set(['ES256']), iatWindowSeconds: 60 });
const jkt = await calculateJwkThumbprint(es.jwk);
await timeAsync('DpopProofVerifier.verify (key cached)', N, (i) => verifier.verify({ proof: es.proofs[i], method: 'GET', url: 'https://api.example.com/hello', accessToken: es.token, jkt, now: Date.now() }));
await timeAsync('DpopProofVerifier.verify (new verifier: key imported each time)', N / 4, (i) =>
  new DpopProofVerifier({ algorithms: new Set(['ES256']), iatWindowSeconds: 60 }).verify({ proof: es.proofs[i], method: 'GET', url: 'https://api.example.com/hello', accessToken: es.token, jkt, now: Date.now() }),
);
await timeAsync('jose calculateJwkThumbprint', N, () => calculateJwkThumbprint(es.jwk));
await timeAsync('jose importJWK (ES256)', N, () => importJWK(es.jwk, 'ES256'));
const key = await importJWK(es.jwk, 'ES256');
await timeAsync('jose compactVerify (ES256)', N, (i) => compactVerify(es.proofs[i], key, { algorithms: ['ES256'] }));
await timeAsync('sha256 of the token (ath)', N * 5, () => createHash('sha256').update(es.token).digest('base64url'));

if (redis) {
  console.log('\n-- Redis replay cache (SET NX PX, one round trip on loopback)');
  const c = await client('ES256', calls(N) + 1);
  await redis.authenticator.identify(dpopRequest(c.token, c.proofs[0]));
  await timeAsync('identify, DPoP ES256, token cache hit + proof check, Redis replay cache', N, (i) => redis.authenticator.identify(dpopRequest(c.token, c.proofs[i + 1])));
}

console.log(`\n${(results.ES256 / bearerOff).toFixed(0)}× a Bearer cache hit for an ES256 DPoP request (${(results.ES256 - bearerOff).toFixed(1)} µs added per request)`);
await Promise.all([off.app.close(), allowed.app.close(), redis?.app.close()]);
jwksServer.close();
