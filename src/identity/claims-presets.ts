import type { ClaimReader, ClaimsMapping, ClaimsPresetName, IdentityKind } from './claims-mapping.js';
import { asNameList, asRoleList, asString, claimPathReader, isRecord, type JwtClaims } from './jwt-claims.js';

/**
 * Upstream s3db rule (made explicit): `token_use` decides when present; without it a
 * `service_account` object or a `sa:` subject means a service account. Contradicting signals
 * (e.g. `token_use: "user"` with a `service_account` object, or a `user` object on a service
 * token) are 'ambiguous' and refused.
 */
export function s3dbKind(claims: JwtClaims): IdentityKind | 'ambiguous' {
  const use = claims.token_use;
  const sub = typeof claims.sub === 'string' ? claims.sub : '';
  const serviceSignals = isRecord(claims.service_account) || sub.startsWith('sa:');
  const userSignals = isRecord(claims.user);
  if (use === 'service') return userSignals ? 'ambiguous' : 'service';
  if (use === 'user') return serviceSignals ? 'ambiguous' : 'user';
  if (use !== undefined) return 'ambiguous';
  if (serviceSignals && userSignals) return 'ambiguous';
  return serviceSignals ? 'service' : 'user';
}

const PRESETS: Record<ClaimsPresetName, (m: ClaimsMapping) => Required<Pick<ClaimsMapping, 'scopes' | 'roles' | 'tenant' | 'email' | 'name' | 'clientId' | 'audiences' | 'kind'>>> = {
  s3db: () => ({
    scopes: 'scope',
    roles: 'user.roles',
    tenant: ['tenantId', 'user.tenantId', 'service_account.tenantId', 'tenant_id'],
    email: ['email', 'user.email'],
    name: ['user.name', 'service_account.name', 'name'],
    clientId: ['service_account.clientId', 'service_account.client_id', 'client_id'],
    audiences: ['service_account.audiences', 'aud'],
    kind: s3dbKind,
  }),
  keycloak: (m) => ({
    scopes: 'scope',
    roles: m.keycloakClientId ? ['realm_access.roles', `resource_access.${m.keycloakClientId}.roles`] : 'realm_access.roles',
    tenant: 'tenant',
    email: 'email',
    name: ['name', 'preferred_username'],
    clientId: ['client_id', 'clientId', 'azp'],
    audiences: 'aud',
    // Keycloak names the user behind a client's service account `service-account-<client>`.
    kind: (c) => (typeof c.preferred_username === 'string' && c.preferred_username.startsWith('service-account-') ? 'service' : 'user'),
  }),
  auth0: (m) => ({
    scopes: ['scope', 'permissions'],
    roles: m.auth0RolesClaim ?? 'roles',
    tenant: 'org_id',
    email: 'email',
    name: 'name',
    clientId: ['azp', 'client_id'],
    audiences: 'aud',
    kind: (c) => (c.gty === 'client-credentials' ? 'service' : 'user'),
  }),
  entra: () => ({
    scopes: 'scp',
    roles: 'roles',
    tenant: 'tid',
    email: ['email', 'preferred_username', 'upn'],
    name: ['name', 'app_displayname'],
    clientId: ['azp', 'appid'],
    audiences: 'aud',
    // App-only tokens carry idtyp=app (optional claim) and never a delegated `scp`.
    kind: (c) => (c.idtyp === 'app' || (c.idtyp === undefined && c.scp === undefined) ? 'service' : 'user'),
  }),
};

/** Compiled readers: what the strategy calls on every verified token. */
export interface ClaimsReader {
  scopes(claims: JwtClaims): string[];
  roles(claims: JwtClaims): string[];
  tenant(claims: JwtClaims): string | undefined;
  email(claims: JwtClaims): string | undefined;
  name(claims: JwtClaims): string | undefined;
  clientId(claims: JwtClaims): string | undefined;
  audiences(claims: JwtClaims): string[];
  kind(claims: JwtClaims): IdentityKind | 'ambiguous';
}

/** The names without repeats, first occurrence first; short lists (the usual case) without a Set. */
function unique(names: string[]): string[] {
  if (names.length > 16) return [...new Set(names)];
  for (let i = 1; i < names.length; i++) {
    for (let j = 0; j < i; j++) if (names[i] === names[j]) return [...new Set(names)];
  }
  return names;
}

/**
 * Reads a list from one or more claims. `parse` decides what a string means: scopes are
 * space-separated (OAuth `scope`), a roles string is one role (never split into several).
 */
function listReader(reader: ClaimReader, parse: (value: unknown) => string[] = asNameList): (claims: JwtClaims) => string[] {
  if (typeof reader === 'function') return (claims) => parse(reader(claims));
  const paths = (typeof reader === 'string' ? [reader] : reader).map(claimPathReader);
  return (claims) => {
    let out: string[] | undefined;
    for (const read of paths) {
      const names = parse(read(claims));
      if (names.length > 0) out = out === undefined ? names : out.concat(names);
    }
    return out === undefined ? [] : unique(out);
  };
}

function stringReader(reader: ClaimReader): (claims: JwtClaims) => string | undefined {
  if (typeof reader === 'function') return (claims) => asString(reader(claims));
  const paths = (typeof reader === 'string' ? [reader] : reader).map(claimPathReader);
  return (claims) => {
    for (const read of paths) {
      const value = asString(read(claims));
      if (value !== undefined) return value;
    }
    return undefined;
  };
}

/** Turns a preset name or mapping into readers, once at boot. */
export function compileClaims(config: ClaimsPresetName | ClaimsMapping): ClaimsReader {
  const mapping: ClaimsMapping = typeof config === 'string' ? { preset: config } : config;
  const presetName = mapping.preset ?? 's3db';
  const preset = PRESETS[presetName];
  if (!preset) throw new Error(`nestjs-identity: option "claims": unknown preset "${String(presetName)}"; use s3db, keycloak, auth0 or entra`);
  const base = preset(mapping);
  return {
    scopes: listReader(mapping.scopes ?? base.scopes),
    roles: listReader(mapping.roles ?? base.roles, asRoleList),
    tenant: stringReader(mapping.tenant ?? base.tenant),
    email: stringReader(mapping.email ?? base.email),
    name: stringReader(mapping.name ?? base.name),
    clientId: stringReader(mapping.clientId ?? base.clientId),
    audiences: listReader(mapping.audiences ?? base.audiences),
    kind: mapping.kind ?? base.kind,
  };
}

export const CLAIMS_PRESETS: readonly ClaimsPresetName[] = Object.freeze(Object.keys(PRESETS) as ClaimsPresetName[]);
