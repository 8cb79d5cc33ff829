import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary } from './find-binary.js';
import { freePort } from './free-port.js';

/** A throwaway redis-server on 127.0.0.1: no persistence, its own temp dir. */
export interface RedisServerHandle {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Path of Debian's redis-server binary (REDIS_SERVER_BIN, then PATH, then /usr/bin), or undefined. */
export function findRedisServerBinary(): string | undefined {
  return findBinary(process.env.REDIS_SERVER_BIN, ['redis-server'], ['/usr/bin', '/usr/sbin']);
}

/** Why Redis tests are skipped here, or undefined when they can run. */
export const redisSkipReason: string | undefined = findRedisServerBinary()
  ? undefined
  : 'redis-server binary not found (install Debian\'s redis-server package or set REDIS_SERVER_BIN); Redis tests skipped';

/** Starts redis-server on a free port and resolves once it accepts connections. */
export async function startRedisServer(options: { timeoutMs?: number } = {}): Promise<RedisServerHandle> {
  const binary = findRedisServerBinary();
  if (!binary) throw new Error(redisSkipReason);
  let lastError: unknown;
  // The free port can be taken between probing and binding: retry with another one.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const dir = await mkdtemp(join(tmpdir(), 'nestjs-identity-redis-'));
    try {
      const child = await launch(binary, port, dir, options.timeoutMs ?? 10_000);
      return {
        url: `redis://127.0.0.1:${port}`,
        port,
        stop: async () => {
          await terminate(child);
          await rm(dir, { recursive: true, force: true });
        },
      };
    } catch (error) {
      lastError = error;
      await rm(dir, { recursive: true, force: true });
    }
  }
  throw lastError;
}

function launch(binary: string, port: number, dir: string, timeoutMs: number): Promise<ChildProcess> {
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--save', '',
    '--appendonly', 'no',
    '--dir', dir,
    '--daemonize', 'no',
    '--logfile', '',
    '--loglevel', 'notice',
  ];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server did not become ready within ${timeoutMs} ms:\n${output.slice(-2000)}`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        // Keep draining so a full pipe never blocks the server.
        child.stdout?.resume();
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited early (code ${code}, signal ${signal}):\n${output.slice(-2000)}`));
    });
  });
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}

