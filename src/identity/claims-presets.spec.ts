import { describe, expect, it } from 'vitest';
import { compileClaims, s3dbKind } from './claims-presets.js';
import { Identity } from './identity.js';
import { InsufficientScopeError } from '../errors/insufficient-scope.error.js';

const serviceClaims = {
  iss: 'https://auth.example.com', sub: 'sa:orders-worker', aud: 'https://api.example.com', scope: 'orders:read',
  token_type: 'access_token', token_use: 'service', client_id: 'orders-worker',
  service_account: { clientId: 'orders-worker', client_id: 'orders-worker', name: 'Orders Worker', scopes: ['orders:read'], audiences: ['https://api.example.com'], tenantId: 't1' },
  iat: 1795769176, exp: 1795770076,
};
const userClaims = {
  iss: 'https://auth.example.com', sub: 'W76xhMqQaZiqmOHzN3e6Q0', aud: 'web-app', scope: 'openid profile email orders:read',
  token_type: 'access_token', token_use: 'user', client_id: 'web-app', email: 'alice@example.com', tenantId: 'tenant-001',
  user: { id: 'W76xhMqQaZiqmOHzN3e6Q0', tenantId: 'tenant-001', email: 'alice@example.com', name: 'Alice Example', roles: ['admin', 'orders-manager'] },
  iat: 1795769177, exp: 1795770077,
};

describe('s3db preset', () => {
  const reader = compileClaims('s3db');

  it('models an upstream service-account token', () => {
    const identity = Identity.fromClaims(serviceClaims, reader)!;
    expect(identity.isServiceAccount()).toBe(true);
    expect(identity.isUser()).toBe(false);
    expect(identity.serviceAccount).toEqual({ clientId: 'orders-worker', name: 'Orders Worker', scopes: ['orders:read'], audiences: ['https://api.example.com'], tenantId: 't1' });
    expect(identity.user).toBeUndefined();
    expect(identity.describe()).toBe('service-account:orders-worker name="Orders Worker" tenant=t1');
  });

  it('models an upstream user token, roles only from user.roles', () => {
    const identity = Identity.fromClaims(userClaims, reader)!;
    expect(identity.isUser()).toBe(true);
    expect(identity.user).toMatchObject({ sub: 'W76xhMqQaZiqmOHzN3e6Q0', email: 'alice@example.com', name: 'Alice Example', tenantId: 'tenant-001', roles: ['admin', 'orders-manager'] });
    expect(identity.hasRole('admin')).toBe(true);
    expect(identity.hasScope('orders:read')).toBe(true);
    expect(identity.hasScope('orders')).toBe(false);
    expect(identity.describe()).toBe('user:W76xhMqQaZiqmOHzN3e6Q0 email=alice@example.com tenant=tenant-001');
    expect(Identity.fromClaims({ ...userClaims, roles: ['root'], user: { ...userClaims.user, roles: undefined } }, reader)!.hasRole('root')).toBe(false);
  });

  it('understands older tokens: plain client id subject and a service_account with only client_id', () => {
    const identity = Identity.fromClaims({ sub: 'legacy-worker', scope: 'a', service_account: { client_id: 'legacy-worker' }, exp: 1 }, reader)!;
    expect(identity.serviceAccount?.clientId).toBe('legacy-worker');
  });

  it('tells kinds apart by token_use, service_account or an sa: subject, and refuses contradictions', () => {
    expect(s3dbKind({ sub: 'sa:x' })).toBe('service');
    expect(s3dbKind({ sub: 'u1' })).toBe('user');
    expect(s3dbKind({ token_use: 'user', service_account: { clientId: 'x' } })).toBe('ambiguous');
    expect(s3dbKind({ token_use: 'user', sub: 'sa:x' })).toBe('ambiguous');
    expect(s3dbKind({ token_use: 'service', user: { id: 'u' } })).toBe('ambiguous');
    expect(s3dbKind({ service_account: { clientId: 'x' }, user: { id: 'u' } })).toBe('ambiguous');
    expect(s3dbKind({ token_use: 'refresh' })).toBe('ambiguous');
    expect(Identity.fromClaims({ ...userClaims, service_account: serviceClaims.service_account }, reader)).toBeUndefined();
  });

  it('reads scope strictly: space separated only, array entries holding two names are dropped', () => {
    const identity = (scope: unknown) => Identity.fromClaims({ ...userClaims, scope }, reader)!;
    expect([...identity('a  b').scopes]).toEqual(['a', 'b']);
    expect([...identity('a\tb,c').scopes]).toEqual([]);
    expect([...identity(['a', 'b c', 7]).scopes]).toEqual(['a']);
    expect(identity('ORDERS:READ').hasScope('orders:read')).toBe(false);
  });

  it('ignores prototype keys in claims and keeps the global prototype clean', () => {
    const claims = JSON.parse('{"sub":"u1","token_use":"user","scope":"a","__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}},"user":{"roles":["r"],"__proto__":{"admin":true}}}');
    const identity = Identity.fromClaims(claims, reader)!;
    expect([...identity.roles]).toEqual(['r']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('other presets and custom mappings', () => {
  it('keycloak: realm and client roles; service-account-* users are service accounts', () => {
    const reader = compileClaims({ preset: 'keycloak', keycloakClientId: 'my-api' });
    const user = Identity.fromClaims({ sub: 'u', scope: 'profile', realm_access: { roles: ['user'] }, resource_access: { 'my-api': { roles: ['editor'] }, other: { roles: ['root'] } } }, reader)!;
    expect([...user.roles].sort()).toEqual(['editor', 'user']);
    const service = Identity.fromClaims({ sub: 'x', azp: 'worker', preferred_username: 'service-account-worker', scope: 'a' }, reader)!;
    expect(service.serviceAccount?.clientId).toBe('worker');
  });

  it('auth0: permissions count as scopes; namespaced roles claim; client-credentials grant is a service account', () => {
    const reader = compileClaims({ preset: 'auth0', auth0RolesClaim: 'https://example.com/roles' });
    const user = Identity.fromClaims({ sub: 'auth0|1', scope: 'openid', permissions: ['orders:read'], 'https://example.com/roles': ['admin'] }, reader)!;
    expect(user.hasScope('orders:read') && user.hasScope('openid') && user.hasRole('admin')).toBe(true);
    expect(Identity.fromClaims({ sub: 'abc@clients', azp: 'abc', gty: 'client-credentials', scope: 'a' }, reader)!.isServiceAccount()).toBe(true);
  });

  it('entra: scp for delegated scopes, roles for app roles, idtyp=app is a service account', () => {
    const reader = compileClaims('entra');
    const user = Identity.fromClaims({ sub: 's', oid: 'o', scp: 'Orders.Read', roles: ['Admin'], tid: 'tenant', preferred_username: 'a@b.c' }, reader)!;
    expect(user.isUser() && user.hasScope('Orders.Read') && user.hasRole('Admin') && user.tenantId === 'tenant').toBe(true);
    const app = Identity.fromClaims({ sub: 's', azp: 'app-id', idtyp: 'app', roles: ['Orders.ReadWrite.All'] }, reader)!;
    expect(app.isServiceAccount() && app.hasRole('Orders.ReadWrite.All')).toBe(true);
  });

  it('custom mapping: paths and functions override a preset', () => {
    const reader = compileClaims({ preset: 's3db', roles: (c) => (c.groups as string[]).map((g) => g.toUpperCase()), tenant: 'org.id' });
    const identity = Identity.fromClaims({ ...userClaims, groups: ['ops'], org: { id: 'org-9' } }, reader)!;
    expect([...identity.roles]).toEqual(['OPS']);
    expect(identity.tenantId).toBe('org-9');
  });

  it('refuses an unknown preset with a message naming the option', () => {
    expect(() => compileClaims('okta' as never)).toThrow(/option "claims": unknown preset "okta"/);
  });
});

describe('Identity assertions', () => {
  const identity = Identity.fromClaims(userClaims, compileClaims('s3db'))!;
  it('assertScope/assertRole throw 403 insufficient_scope naming what is missing', () => {
    expect(() => identity.assertScope('orders:read')).not.toThrow();
    expect(() => identity.assertScope('orders:read', 'jobs:dispatch')).toThrow(InsufficientScopeError);
    try {
      identity.assertScope('jobs:dispatch');
    } catch (error) {
      expect((error as InsufficientScopeError).getStatus()).toBe(403);
      expect((error as InsufficientScopeError).headers('api')['WWW-Authenticate']).toBe('Bearer realm="api", error="insufficient_scope", error_description="Missing required scope: jobs:dispatch", scope="jobs:dispatch"');
    }
    expect(() => identity.assertRole('admin')).not.toThrow();
    expect(() => identity.assertRole('auditor')).toThrow(/Missing required role: auditor/);
  });

  it('is immutable', () => {
    expect(() => ((identity as unknown as { kind: string }).kind = 'service')).toThrow();
  });
});
