import { Inject, Injectable, Logger, Optional, type Provider } from '@nestjs/common';
import { dirname, join } from 'node:path';
import { credentialStoreFile, DEFAULT_CREDENTIAL_STORE_PATH } from '../client/credential-store.factory.js';
import { IDENTITY_OPTIONS } from '../identity-options.token.js';
import type { ResolvedIdentityOptions } from '../identity-options.js';
import { IDENTITY_AUDIT_SINK, type AuditEvent, type AuditSink } from './audit-sink.js';
import { JsonLinesAuditSink } from './json-lines-audit-sink.js';

function isAuditSink(value: unknown): value is AuditSink {
  return typeof (value as Partial<AuditSink> | undefined)?.write === 'function';
}

/** `audit` option → sink: an instance as is; `{ file }`; `false` = logger only; default `audit.log` beside the credential store. */
export function createAuditSink(options: ResolvedIdentityOptions): AuditSink | undefined {
  const option = options.audit;
  if (option === false) return undefined;
  if (isAuditSink(option)) return option;
  if (option?.file) return new JsonLinesAuditSink(option.file);
  return new JsonLinesAuditSink(join(dirname(credentialStoreFile(options.store) ?? DEFAULT_CREDENTIAL_STORE_PATH), 'audit.log'));
}

export const auditSinkProvider: Provider = {
  provide: IDENTITY_AUDIT_SINK,
  useFactory: createAuditSink,
  inject: [IDENTITY_OPTIONS],
};

/**
 * Records audit events: to the sink and to the Nest logger. Callers build events from ids,
 * names and safe sentences only; a secret or token never reaches this class. A failing sink is
 * logged, never allowed to fail the audited operation after the fact.
 */
@Injectable()
export class IdentityAudit {
  private readonly logger = new Logger('IdentityAudit');

  constructor(@Optional() @Inject(IDENTITY_AUDIT_SINK) private readonly sink?: AuditSink) {}

  async record(event: Omit<AuditEvent, 'at'>): Promise<void> {
    const full: AuditEvent = { at: new Date().toISOString(), ...event };
    const line = `${full.action} ${full.outcome} by ${full.actor}${full.target ? ` on ${full.target}` : ''}${full.detail ? `: ${full.detail}` : ''}`;
    // One level for every outcome: the CLI shows warnings, and its failures already speak for themselves.
    this.logger.log(line);
    try {
      await this.sink?.write(full);
    } catch (error) {
      this.logger.error(`Could not write the audit event (${error instanceof Error ? error.message : 'unknown error'})`);
    }
  }
}
