import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findRedisServerBinary, redisSkipReason } from './redis-server.js';
import { freePort } from './free-port.js';

/**
 * A throwaway redis-server on 127.0.0.1 that can be stopped and started again on the same port
 * (what replicas see when Redis restarts). No persistence: a restart comes back empty, as a Redis
 * without AOF/RDB does.
 */
export class ReplicaRedis {
  private child?: ChildProcess;

  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly binary: string,
  ) {}

  static async start(): Promise<ReplicaRedis> {
    const binary = findRedisServerBinary();
    if (!binary) throw new Error(redisSkipReason);
    const redis = new ReplicaRedis(await freePort(), await mkdtemp(join(tmpdir(), 'nestjs-identity-replica-redis-')), binary);
    await redis.resume();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts the server (again) on its port; resolves once it accepts connections. */
  async resume(timeoutMs = 10_000): Promise<void> {
    if (this.child) return;
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--daemonize', 'no', '--logfile', ''];
    const child = spawn(this.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`redis-server did not become ready within ${timeoutMs} ms:\n${output.slice(-2000)}`));
      }, timeoutMs);
      const onData = (chunk: Buffer): void => {
        output += chunk.toString('utf8');
        if (!output.includes('Ready to accept connections')) return;
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume(); // keep draining so a full pipe never blocks the server
        child.off('exit', onExit);
        resolve();
      };
      const onExit = (code: number | null, signal: string | null): void => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited early (code ${code}, signal ${signal}):\n${output.slice(-2000)}`));
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      child.once('exit', onExit);
    });
    this.child = child;
  }

  /** Freezes (SIGSTOP) or thaws (SIGCONT) the server: its sockets stay open but nothing answers, like a network partition. */
  freeze(frozen: boolean): void {
    this.child?.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
  }

  /** Stops the server (SIGTERM, then SIGKILL after 3 s); the port stays this instance's. */
  async pause(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || (child.signalCode !== null && child.signalCode !== 'SIGSTOP' && child.signalCode !== 'SIGCONT')) return;
    child.kill('SIGCONT'); // a frozen server cannot handle SIGTERM
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  }

  async stop(): Promise<void> {
    await this.pause();
    await rm(this.dir, { recursive: true, force: true });
  }
}

