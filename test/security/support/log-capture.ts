import { inspect } from 'node:util';
import { Logger, type LoggerService } from '@nestjs/common';

function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Error) return `${value.name}: ${value.message}\n${value.stack ?? ''}${value.cause ? `\ncause: ${render(value.cause)}` : ''}`;
  return inspect(value, { depth: 8, breakLength: Infinity });
}

/**
 * A Nest logger that keeps every line at every level (debug and verbose included) and, while
 * installed, everything written to stdout and stderr or through console.*: whatever the module
 * or Nest prints, one way or another, lands in `text`.
 */
export class LogCapture implements LoggerService {
  readonly lines: string[] = [];
  private restore: Array<() => void> = [];

  log(message: unknown, ...rest: unknown[]): void {
    this.push('log', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.push('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.push('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.push('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.push('verbose', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.push('fatal', message, rest);
  }

  private push(level: string, message: unknown, rest: unknown[]): void {
    this.lines.push(`[${level}] ${[message, ...rest].map(render).join(' ')}`);
  }

  get text(): string {
    return this.lines.join('\n');
  }

  /** Routes Nest's static Logger and the process's output here until uninstall(). */
  install(): this {
    Logger.overrideLogger(this);
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write.bind(stream);
      stream.write = ((chunk: unknown, ...args: unknown[]) => {
        this.lines.push(`[${stream === process.stdout ? 'stdout' : 'stderr'}] ${Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk)}`);
        return (original as (...a: unknown[]) => boolean)(chunk, ...args);
      }) as typeof stream.write;
      this.restore.push(() => (stream.write = original as typeof stream.write));
    }
    for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
      const original = console[method];
      console[method] = (...args: unknown[]) => {
        this.lines.push(`[console.${method}] ${args.map(render).join(' ')}`);
      };
      this.restore.push(() => (console[method] = original));
    }
    return this;
  }

  uninstall(): void {
    for (const undo of this.restore.splice(0).reverse()) undo();
  }
}
