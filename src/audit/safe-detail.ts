import { HttpException } from '@nestjs/common';
import { hasSafeMessage } from '../errors/safe-message.js';

/**
 * A failure in words fit for an audit event or a log line: HTTP answers and errors that declare
 * a safe message (errors/safe-message.ts) are repeated; anything else is named by its class only.
 * The errors describe themselves, so audit/ knows nothing of the folders that throw them.
 */
export function safeDetail(error: unknown): string {
  if (error instanceof HttpException) return `${error.getStatus()}: ${error.message}`;
  if (hasSafeMessage(error)) return error.message;
  return `unexpected ${error instanceof Error ? error.name : 'error'}`;
}
