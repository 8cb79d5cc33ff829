// The development Identity provider in a child process, for the in-process tools (micro.mjs,
// compare.mjs): oidc-provider enters an AsyncLocalStorage, which turns on promise hooks for the
// whole process and would make every promise of the code under test slower than in a real app.
//   const idp = await startProviderProcess({ audience });
//   idp.issuer; await idp.tokens({ count: 1000, alg: 'RS256' }); await idp.stop();
// Run directly (`node bench/provider-process.mjs`), it is the child.
import { fork } from 'node:child_process';
import { sign } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');

if (process.argv[2] === '--child') {
  const { DevelopmentIdentityProvider } = await import(new URL('../dist/src/testing/index.js', import.meta.url).href);
  const idp = await DevelopmentIdentityProvider.start({ audience: process.env.BENCH_AUDIENCE, accessTokenTtl: 3600 });
  process.on('message', async (message) => {
    if (message?.type === 'tokens') {
      // The first token is idp.mintToken()'s own; the others are the same header and payload with a jti each.
      const first = await idp.mintToken({ expiresIn: 3600, alg: message.alg });
      const [h, p] = first.split('.');
      const kid = JSON.parse(Buffer.from(h, 'base64url').toString()).kid;
      const key = idp.signingKeyMaterial(kid).privateKey;
      const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
      const tokens = [first];
      for (let i = 1; i < message.count; i++) {
        const input = `${h}.${b64({ ...payload, jti: `bench-${i}` })}`;
        const signature = message.alg === 'ES256' ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }) : sign('sha256', Buffer.from(input), key);
        tokens.push(`${input}.${signature.toString('base64url')}`);
      }
      process.send({ type: 'tokens', id: message.id, tokens });
    } else if (message?.type === 'stop') {
      await idp.stop();
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ type: 'ready', issuer: idp.issuer });
}

export async function startProviderProcess({ audience = 'https://api.example.com' } = {}) {
  const child = fork(fileURLToPath(import.meta.url), ['--child'], { env: { ...process.env, BENCH_AUDIENCE: audience }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { issuer } = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`provider process exited with ${code}`)));
  });
  let nextId = 0;
  return {
    issuer,
    tokens({ count = 1, alg = 'RS256' } = {}) {
      const id = ++nextId;
      return new Promise((resolve) => {
        const onMessage = (message) => {
          if (message?.type === 'tokens' && message.id === id) {
            child.off('message', onMessage);
            resolve(message.tokens);
          }
        };
        child.on('message', onMessage);
        child.send({ type: 'tokens', id, count, alg });
      });
    },
    async stop() {
      child.send({ type: 'stop' });
      await new Promise((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve();
        }, 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
