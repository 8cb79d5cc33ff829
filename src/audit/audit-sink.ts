/** One audited action. Never carries a secret, a token or key material. */
export interface AuditEvent {
  /** ISO time. */
  at: string;
  /** e.g. service-account.create, service-account.rotate, service-account.delete, client.provision, admin.denied */
  action: string;
  /** Who: `identity.describe()` for HTTP callers, `cli:<operator>` for the CLI, `system` at boot. */
  actor: string;
  /** Which account or client id, when there is one. */
  target?: string;
  /** `unconfirmed`: done, but its effect could not be checked (e.g. whether a rotated-away secret really died). */
  outcome: 'success' | 'unconfirmed' | 'failure' | 'denied';
  /** A safe sentence on failures. */
  detail?: string;
}

export interface AuditSink {
  write(event: AuditEvent): Promise<void> | void;
}

export const IDENTITY_AUDIT_SINK = Symbol('IDENTITY_AUDIT_SINK');
