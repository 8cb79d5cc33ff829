import { ConsoleLogger, type LogLevel } from '@nestjs/common';

/** Nest's console logger, but every level goes to stderr: stdout is the command's output (and `--json`). */
export class StderrLogger extends ConsoleLogger {
  protected override printMessages(messages: unknown[], context?: string, logLevel?: LogLevel, _stream?: 'stdout' | 'stderr', errorStack?: unknown, params?: Record<string, unknown>): void {
    super.printMessages(messages, context, logLevel, 'stderr', errorStack, params);
  }
}
