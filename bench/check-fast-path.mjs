// Checks that the cache-hit fast path answers exactly what the full path answers:
//   node bench/check-fast-path.mjs
// Two apps on the compiled dist/: one with the verified-token cache (primed with the token), one
// with `tokenCache: false`. For many Authorization header shapes (duplicates, case, spaces,
// padding, foreign characters, oversize, Express and Fastify request shapes) both must give the
// same outcome: the same subject, or the same error class, status and description. Exit code 1
// on any difference.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { useScratchDir } from './scratch.mjs';

// Apps built here keep their last good metadata under the working directory: not the repository.
useScratchDir();

const lib = await import('../dist/src/index.js');
const { DevelopmentIdentityProvider } = await import('../dist/src/testing/index.js');
const AUDIENCE = 'https://api.example.com';
const idp = await DevelopmentIdentityProvider.start({ audience: AUDIENCE, accessTokenTtl: 3600 });
const token = await idp.mintToken({ expiresIn: 3600 });

async function build(tokenCache, maxTokenLength) {
  class AppModule {}
  Reflect.decorate([Module({ imports: [lib.IdentityModule.forRoot({ url: idp.issuer, audience: AUDIENCE, tokenCache, maxTokenLength })] })], AppModule);
  const app = await NestFactory.create(AppModule, { logger: false });
  await app.init();
  return { app, authenticator: app.get(lib.TokenAuthenticator) };
}

async function outcome(authenticator, request) {
  try {
    const identity = await authenticator.authenticate(request);
    return `ok ${identity.subject}`;
  } catch (error) {
    return `${error?.constructor?.name} ${error?.getStatus?.()} ${error?.description ?? error?.message}`;
  }
}

/** An Express-shaped request (rawHeaders on the request) and a Fastify-shaped one (on request.raw). */
function requests(values) {
  const rawHeaders = ['Host', '127.0.0.1'];
  for (const [name, value] of values) rawHeaders.push(name, value);
  const headers = { host: '127.0.0.1' };
  for (const [name, value] of values) if (headers[name.toLowerCase()] === undefined) headers[name.toLowerCase()] = value;
  return [
    ['express', { headers, rawHeaders }],
    ['fastify', { headers, raw: { rawHeaders } }],
    ['headers only', { headers }],
  ];
}

const cases = {
  'plain Bearer': [['Authorization', `Bearer ${token}`]],
  'lower-case header name': [['authorization', `Bearer ${token}`]],
  'lower-case scheme': [['Authorization', `bearer ${token}`]],
  'upper-case scheme': [['Authorization', `BEARER ${token}`]],
  'two spaces': [['Authorization', `Bearer  ${token}`]],
  'tab after scheme': [['Authorization', `Bearer\t${token}`]],
  'trailing space': [['Authorization', `Bearer ${token} `]],
  'trailing padding': [['Authorization', `Bearer ${token}=`]],
  'foreign character': [['Authorization', `Bearer ${token}!`]],
  'empty token': [['Authorization', 'Bearer ']],
  'scheme only': [['Authorization', 'Bearer']],
  'Basic scheme': [['Authorization', 'Basic dXNlcjpwYXNz']],
  'duplicate Authorization (same token)': [
    ['Authorization', `Bearer ${token}`],
    ['Authorization', `Bearer ${token}`],
  ],
  'duplicate Authorization (other case)': [
    ['Authorization', `Bearer ${token}`],
    ['AUTHORIZATION', 'Bearer x.y.z'],
  ],
  'no Authorization': [],
};

let differences = 0;
for (const maxTokenLength of [undefined, token.length, token.length - 1]) {
  const cached = await build(undefined, maxTokenLength);
  const full = await build(false, maxTokenLength);
  // Prime the cache through the raw-token API, which has no header rules at all.
  await cached.authenticator.verify(token).catch(() => undefined);
  for (const [name, values] of Object.entries(cases)) {
    for (const [shape, request] of requests(values)) {
      const fast = await outcome(cached.authenticator, structuredClone(request));
      const slow = await outcome(full.authenticator, structuredClone(request));
      const same = fast === slow;
      if (!same) differences++;
      console.log(`${same ? 'same' : 'DIFFERENT'}  maxTokenLength ${maxTokenLength ?? 'default'}  ${shape.padEnd(12)}  ${name.padEnd(38)}  ${fast}${same ? '' : `  vs  ${slow}`}`);
    }
  }
  await cached.app.close();
  await full.app.close();
}
await idp.stop();
console.log(differences === 0 ? '\nThe cache-hit fast path answers like the full path in every case.' : `\n${differences} difference(s).`);
process.exit(differences === 0 ? 0 : 1);
