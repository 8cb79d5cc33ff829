import type { LoggerService } from '@nestjs/common';
import { afterEach, expect } from 'vitest';

/** What must never reach a log line: tokens, private keys, secrets. */
const FORBIDDEN: Array<[string, RegExp]> = [
  ['a JWT', /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/],
  ['a private key (PEM)', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ['a private JWK member', /"(d|p|q|dp|dq|qi)"\s*:\s*"[A-Za-z0-9_-]{16,}"/],
  ['a client secret', /client_?secret["'=:\s]+[A-Za-z0-9_-]{16,}/i],
];

const violations: string[] = [];

/**
 * The logger every e2e app gets (test/support/platforms.ts): it prints nothing, and scans every
 * line at every level. Any token, key or secret found fails the test that produced it, so the
 * whole e2e suite proves that nothing secret is logged.
 */
export class LogGuard implements LoggerService {
  log(...parts: unknown[]): void {
    scan(parts);
  }
  error(...parts: unknown[]): void {
    scan(parts);
  }
  warn(...parts: unknown[]): void {
    scan(parts);
  }
  debug(...parts: unknown[]): void {
    scan(parts);
  }
  verbose(...parts: unknown[]): void {
    scan(parts);
  }
  fatal(...parts: unknown[]): void {
    scan(parts);
  }
}

function scan(parts: unknown[]): void {
  const text = parts.map((part) => (part instanceof Error ? `${part.message} ${part.stack ?? ''}` : typeof part === 'string' ? part : JSON.stringify(part))).join(' ');
  for (const [what, pattern] of FORBIDDEN) if (pattern.test(text)) violations.push(`${what} in a log line: ${text.slice(0, 120).replace(pattern, '<redacted>')}`);
}

afterEach(() => {
  const found = violations.splice(0);
  expect(found, 'secrets in log lines').toEqual([]);
});
