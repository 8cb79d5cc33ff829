import { appendFile, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { AuditEvent, AuditSink } from './audit-sink.js';

/**
 * Appends one JSON object per line to a file (mode 0600, directory 0700), created on the first
 * event. JSON escapes newlines, so a value can never forge a second line.
 */
export class JsonLinesAuditSink implements AuditSink {
  readonly path: string;
  #writes: Promise<unknown> = Promise.resolve();

  constructor(path: string) {
    // Absolute now, so a later process.chdir() cannot move the log.
    this.path = resolve(path);
  }

  write(event: AuditEvent): Promise<void> {
    const line = `${JSON.stringify(event)}\n`;
    const task = async (): Promise<void> => {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      await appendFile(this.path, line, { encoding: 'utf8', mode: 0o600 });
    };
    // One append at a time keeps lines in order.
    const run = this.#writes.then(task, task);
    this.#writes = run.catch(() => undefined);
    return run;
  }
}
