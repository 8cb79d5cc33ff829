import { InsufficientScopeError } from '../errors/insufficient-scope.error.js';
import type { IdentityKind } from './claims-mapping.js';
import type { ClaimsReader } from './claims-presets.js';
import type { JwtClaims } from './jwt-claims.js';

/** A person, as the token describes them. */
export interface IdentityUser {
  readonly sub: string;
  readonly email?: string;
  readonly name?: string;
  readonly tenantId?: string;
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
}

/** A machine caller (client_credentials). */
export interface ServiceAccount {
  readonly clientId: string;
  readonly name?: string;
  readonly scopes: readonly string[];
  readonly audiences: readonly string[];
  readonly tenantId?: string;
}

/** Who is calling: what `@CurrentIdentity()` injects. Immutable. */
export class Identity {
  readonly kind: IdentityKind;
  readonly subject: string;
  readonly tenantId?: string;
  readonly scopes: ReadonlySet<string>;
  readonly roles: ReadonlySet<string>;
  readonly user?: IdentityUser;
  readonly serviceAccount?: ServiceAccount;
  /** The verified JWT payload. */
  readonly claims: JwtClaims;

  constructor(init: {
    kind: IdentityKind;
    subject: string;
    tenantId?: string;
    scopes: readonly string[];
    roles: readonly string[];
    user?: IdentityUser;
    serviceAccount?: ServiceAccount;
    claims: JwtClaims;
  }) {
    this.kind = init.kind;
    this.subject = init.subject;
    this.tenantId = init.tenantId;
    this.scopes = new Set(init.scopes);
    this.roles = new Set(init.roles);
    this.user = init.user;
    this.serviceAccount = init.serviceAccount;
    this.claims = init.claims;
    Object.freeze(this);
  }

  /** Builds an Identity from verified claims; undefined when the token claims to be both kinds. */
  static fromClaims(claims: JwtClaims, reader: ClaimsReader): Identity | undefined {
    const kind = reader.kind(claims);
    if (kind === 'ambiguous') return undefined;
    const sub = typeof claims.sub === 'string' ? claims.sub : '';
    const scopes = reader.scopes(claims);
    const roles = reader.roles(claims);
    const tenantId = reader.tenant(claims);
    if (kind === 'service') {
      const clientId = reader.clientId(claims) ?? (sub.startsWith('sa:') ? sub.slice(3) : sub);
      if (!clientId) return undefined;
      return new Identity({
        kind,
        subject: sub || clientId,
        tenantId,
        scopes,
        roles,
        claims,
        serviceAccount: Object.freeze({ clientId, name: reader.name(claims), scopes, audiences: reader.audiences(claims), tenantId }),
      });
    }
    if (!sub) return undefined;
    return new Identity({
      kind,
      subject: sub,
      tenantId,
      scopes,
      roles,
      claims,
      user: Object.freeze({ sub, email: reader.email(claims), name: reader.name(claims), tenantId, roles, scopes }),
    });
  }

  isServiceAccount(): boolean {
    return this.kind === 'service';
  }

  isUser(): boolean {
    return this.kind === 'user';
  }

  hasScope(scope: string): boolean {
    return this.scopes.has(scope);
  }

  hasRole(role: string): boolean {
    return this.roles.has(role);
  }

  /** Throws 403 insufficient_scope unless every scope is granted. */
  assertScope(...scopes: string[]): void {
    const missing = scopes.filter((scope) => !this.scopes.has(scope));
    if (missing.length > 0) throw new InsufficientScopeError(scopes.join(' '), `Missing required scope: ${missing.join(' ')}`);
  }

  /** Throws 403 insufficient_scope unless every role is held. */
  assertRole(...roles: string[]): void {
    const missing = roles.filter((role) => !this.roles.has(role));
    if (missing.length > 0) throw new InsufficientScopeError(undefined, `Missing required role: ${missing.join(' ')}`);
  }

  /** A short, safe summary for logs and audit: kind, id, name, tenant. Never the token. */
  describe(): string {
    const parts =
      this.kind === 'service'
        ? [`service-account:${this.serviceAccount!.clientId}`, this.serviceAccount!.name && `name=${JSON.stringify(this.serviceAccount!.name)}`]
        : [`user:${this.user!.sub}`, this.user!.email && `email=${this.user!.email}`];
    if (this.tenantId) parts.push(`tenant=${this.tenantId}`);
    return parts.filter(Boolean).join(' ');
  }

  toJSON(): Record<string, unknown> {
    return { kind: this.kind, subject: this.subject, tenantId: this.tenantId, scopes: [...this.scopes], roles: [...this.roles], user: this.user, serviceAccount: this.serviceAccount };
  }
}
