import { describe, expect, it } from 'vitest';
import { IdentityConfigurationError } from '../errors/identity-configuration.error.js';
import { resolveIdentityOptions, type IdentityModuleOptions, type ResolvedIdentityOptions } from '../identity-options.js';
import { MemoryCredentialStore } from '../client/memory-credential-store.js';
import { assertKnownOptions, closest, levenshtein } from './unknown-options.js';

const BASE = { url: 'https://auth.example.com', audience: 'https://api.example.com' };

/** As resolveIdentityOptions will compose them: the known-options check first, then validation and defaults. */
function resolve(options: unknown): ResolvedIdentityOptions {
  assertKnownOptions(options);
  return resolveIdentityOptions(options as IdentityModuleOptions);
}

function refusal(options: Record<string, unknown>): IdentityConfigurationError {
  try {
    resolve({ ...BASE, ...options });
  } catch (error) {
    expect(error).toBeInstanceOf(IdentityConfigurationError);
    return error as IdentityConfigurationError;
  }
  throw new Error(`accepted ${Object.keys(options).join(', ')}`);
}

describe('unknown options', () => {
  it('refuses a misspelt option, naming it and the closest known one', () => {
    const error = refusal({ requireFreshMetadta: true });
    expect(error.option).toBe('requireFreshMetadta');
    expect(error.message).toBe(
      'nestjs-identity: option "requireFreshMetadta": is not an option of IdentityModule; did you mean "requireFreshMetadata"? (A misspelt option, or one from a newer release of nestjs-identity, would otherwise be ignored.)',
    );
    expect(refusal({ maxStal: 60 }).message).toContain('did you mean "maxStale"?');
    expect(refusal({ Audience: 'x' }).message).toContain('did you mean "audience"?');
  });

  it('refuses unknown keys at every level, with the key path', () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ http: { timeoutMS: 100 } }, 'http.timeoutMS', 'http.timeoutMs'],
      [{ tokenCache: { maxEntrys: 10 } }, 'tokenCache.maxEntrys', 'tokenCache.maxEntries'],
      [{ client: { clientId: 'a', clientSecert: 'b' } }, 'client.clientSecert', 'client.clientSecret'],
      [{ autoProvision: { scope: ['a'] } }, 'autoProvision.scope', 'autoProvision.scopes'],
      [{ admin: { enable: true } }, 'admin.enable', 'admin.enabled'],
      [{ health: { exposed: true } }, 'health.exposed', 'health.expose'],
      [{ revocation: { maxEntires: 10 } }, 'revocation.maxEntires', 'revocation.maxEntries'],
      [{ store: { type: 'file', pth: 'x.json' } }, 'store.pth', 'store.path'],
      [{ store: { type: 'redis', url: 'redis://r', keyPrefx: 'a:' } }, 'store.keyPrefx', 'store.keyPrefix'],
      [{ audit: { fil: 'a.log' } }, 'audit.fil', 'audit.file'],
      [{ claims: { preset: 'keycloak', rolse: 'realm_access.roles' } }, 'claims.rolse', 'claims.roles'],
      [{ dpop: { nonce: { rotationSecond: 30 } } }, 'dpop.nonce.rotationSecond', 'dpop.nonce.rotationSeconds'],
      [{ dpop: { replayStore: { type: 'redis', keyprefix: 'a:' } } }, 'dpop.replayStore.keyprefix', 'dpop.replayStore.keyPrefix'],
      [{ resourceMetadata: { resource: 'https://api.example.com', scopeSupported: [] } }, 'resourceMetadata.scopeSupported', 'resourceMetadata.scopesSupported'],
    ];
    for (const [options, path, suggestion] of cases) {
      const error = refusal(options);
      expect(error.option, path).toBe(path);
      expect(error.message, path).toContain(`did you mean "${suggestion}"?`);
    }
  });

  it('points at the same name at another level, or lists the options of that level', () => {
    expect(refusal({ timeoutMs: 100 }).message).toContain('did you mean "http.timeoutMs"?');
    expect(refusal({ enabled: true }).message).toContain('did you mean "admin.enabled" or "revocation.enabled"?');
    const nested = refusal({ http: { retries: 3 } });
    expect(nested.message).toContain('is not an option of "http"; the options of "http" are timeoutMs, maxBytes');
    const file = refusal({ store: { type: 'file', path: 'c.json', keyPrefix: 'a:' } });
    expect(file.option).toBe('store.keyPrefix');
    expect(file.message).toContain('is not an option of "store" with type: "file"; it applies to type: "redis"; the options of "store" with type: "file" are type, path');
    expect(refusal({ http: { allowInsecureHttp: true } }).message).toContain('is not an option of "http"; did you mean "allowInsecureHttp"?');
    expect(refusal({ somethingElse: 1 }).message).toContain('see IdentityModuleOptions for the options this version knows');
  });

  it('refuses a store of an unknown type', () => {
    const error = refusal({ store: { type: 'fille', path: 'c.json' } });
    expect(error.option).toBe('store.type');
    expect(error.message).toContain('must be "file" or "redis", got a string of 5 characters; did you mean "file"?');
  });

  it('says where isGlobal and routes go when forRootAsync returns them', () => {
    expect(refusal({ isGlobal: true }).message).toMatch(/option "isGlobal": is an argument of forRoot\/forRootAsync, not an option: with forRootAsync, pass it beside useFactory/);
    expect(refusal({ routes: { health: true } }).message).toMatch(/option "routes": is an argument of forRootAsync, not an option: pass routes: \{ admin, health, metrics \} beside useFactory/);
  });

  it('does not look inside instances, the metadata option or claim readers', () => {
    class AuditToFile {
      extra = 'not an option';
      write(): void {}
    }
    const store = Object.assign(new MemoryCredentialStore(), { anything: 1 });
    const resolved = resolve({
      ...BASE,
      store,
      audit: new AuditToFile(),
      serviceAccountProvider: { listAccounts: () => [], unknownField: true },
      claims: { preset: 's3db', roles: (claims: Record<string, unknown>) => claims.roles, scopes: ['scope', 'scp'], kind: () => 'user' },
    });
    expect(resolved.store).toBe(store);
    expect(() => resolve({ ...BASE, url: undefined, metadata: { issuer: BASE.url, jwksUrl: `${BASE.url}/jwks`, notChecked: true } })).not.toThrow();
    expect(() => resolve({ ...BASE, url: undefined, issuer: BASE.url, metadata: () => ({ issuer: BASE.url, jwksUrl: `${BASE.url}/jwks` }) })).not.toThrow();
    expect(() => resolve({ ...BASE, audit: { write: async () => undefined, whatever: 1 } })).not.toThrow();
  });

  it('accepts every option of IdentityModuleOptions', () => {
    const every: Required<IdentityModuleOptions> = {
      url: 'https://auth.example.com',
      issuer: 'https://auth.example.com',
      metadata: { issuer: 'https://auth.example.com', jwksUrl: 'https://auth.example.com/jwks' },
      audience: ['https://api.example.com', 'api'],
      algorithms: ['RS256', 'ES256'],
      clockTolerance: 5,
      cacheTtl: 60,
      maxStale: 600,
      require: false,
      requireFreshMetadata: false,
      requireSignedMetadata: false,
      requireAccessTokenType: true,
      allowInsecureHttp: false,
      allowedHosts: ['keys.example.com'],
      http: { timeoutMs: 1000, maxBytes: 4096 },
      claims: { preset: 'keycloak', keycloakClientId: 'api', auth0RolesClaim: 'https://x/roles', tenant: 'tid', email: 'email', name: 'name', clientId: 'azp', audiences: 'aud' },
      global: true,
      realm: 'api',
      maxTokenLength: 4096,
      tokenCache: { maxEntries: 10, maxBytes: 1 << 20 },
      jwksCooldown: 30,
      client: { clientId: 'a', clientSecret: 'b', redirectUri: 'https://api.example.com/cb', tokenEndpointAuthMethod: 'client_secret_post' },
      autoProvision: { name: 'api', scopes: ['a'], audience: 'https://api.example.com' },
      encryptionKey: Buffer.alloc(32, 7).toString('base64'),
      store: { type: 'redis', url: 'redis://localhost:6379', keyPrefix: 'api:' },
      admin: { enabled: true, scope: 'identity:admin', role: 'admin' },
      serviceAccountProvider: { create: async () => ({}) } as never,
      audit: { file: 'audit.log' },
      health: { expose: true },
      metrics: false,
      revocation: { enabled: true, maxTokenLifetimeSeconds: 3600, maxEntries: 100, channel: 'x:revocations' },
      resourceMetadata: {
        resource: 'https://api.example.com',
        authorizationServers: ['https://auth.example.com'],
        scopesSupported: ['orders:read'],
        resourceName: 'Orders',
        resourceDocumentation: 'https://api.example.com/docs',
        bearerMethodsSupported: ['header'],
        dpopBoundAccessTokensRequired: false,
        extra: { resource_policy_uri: 'https://api.example.com/policy', anything: { nested: true } },
        cacheMaxAge: 60,
      },
      dpop: {
        mode: 'allowed',
        algorithms: ['ES256'],
        iatWindow: 60,
        nonce: { rotationSeconds: 60, secret: 'n'.repeat(32) },
        replayStore: 'memory',
        publicUrl: 'https://api.example.com',
        trustProxyHeaders: false,
      },
    };
    expect(() => resolve(every)).not.toThrow();
    // The other shapes of the unions.
    for (const variant of [
      { claims: 'auth0' },
      { tokenCache: false },
      { autoProvision: true },
      { store: { type: 'file', path: 'c.json' } },
      { audit: false },
      { dpop: { mode: 'allowed', nonce: true, replayStore: { remember: () => true, extra: 1 } } },
      { dpop: { mode: 'allowed', replayStore: { type: 'redis', url: 'redis://localhost:6379', keyPrefix: 'api:' } } },
      { audience: 'api', algorithms: undefined, client: undefined },
    ]) {
      expect(() => resolve({ ...BASE, ...variant }), JSON.stringify(variant)).not.toThrow();
    }
  });

  it('leaves non-objects to resolveIdentityOptions', () => {
    expect(() => resolve(undefined)).toThrow(/option "options": IdentityModule needs an options object/);
    expect(() => assertKnownOptions('x')).not.toThrow();
  });
});

describe('values of the wrong type', () => {
  it('refuses a string for a boolean, which used to count as true', () => {
    // Without the check, the string "false" (e.g. from process.env) is kept as is: a truthy `require`.
    const error = refusal({ require: 'false' });
    expect(error.option).toBe('require');
    expect(error.message).toMatch(/^nestjs-identity: option "require": must be true or false, got the string "false"; values read from environment variables are strings: convert it, e\.g\. process\.env\.X === 'true'/);
    expect(error.message).toContain('z.stringbool()');
    for (const [options, path] of [
      [{ requireFreshMetadata: 'true' }, 'requireFreshMetadata'],
      [{ allowInsecureHttp: 'false' }, 'allowInsecureHttp'],
      [{ global: 1 }, 'global'],
      [{ metrics: 'false' }, 'metrics'],
      [{ admin: { enabled: 'false' } }, 'admin.enabled'],
      [{ health: { expose: 'true' } }, 'health.expose'],
      [{ revocation: { enabled: 'false' } }, 'revocation.enabled'],
      [{ dpop: { trustProxyHeaders: 'true' } }, 'dpop.trustProxyHeaders'],
      [{ dpop: { nonce: 'true' } }, 'dpop.nonce'],
    ] as const) {
      expect(refusal(options).option, path).toBe(path);
    }
  });

  it('refuses strings where a union takes a boolean or false', () => {
    const provision = refusal({ autoProvision: 'true' });
    expect(provision.message).toContain('must be true or false or an object { name, scopes, audience }, got the string "true"; values read from environment variables');
    const cache = refusal({ tokenCache: 'false' });
    expect(cache.message).toContain('must be false or an object { maxEntries, maxBytes }, got the string "false"; values read from environment variables');
    expect(refusal({ tokenCache: true }).option).toBe('tokenCache');
    expect(refusal({ audit: true }).message).toContain('must be false, an AuditSink instance or an object { file }, got true');
  });

  it('refuses strings for numbers and lists, with the conversion to use', () => {
    expect(refusal({ clockTolerance: '30' }).message).toContain('must be a number, got the string "30"; values read from environment variables are strings: convert it, e.g. Number(process.env.X)');
    expect(refusal({ revocation: { maxEntries: '10' } }).option).toBe('revocation.maxEntries');
    expect(refusal({ allowedHosts: 'a.example.com,b.example.com' }).message).toContain('must be an array of strings, got a string of 27 characters; a list read from an environment variable is one string: split it');
    expect(refusal({ algorithms: ['RS256', 256] }).option).toBe('algorithms');
  });

  it('refuses null, saying to leave the option out', () => {
    const error = refusal({ store: null });
    expect(error.message).toContain('option "store": must be a CredentialStore instance or { type: "file", path } or { type: "redis", url, keyPrefix }, got null; leave the option out (or undefined) for its default');
  });

  it('refuses an object where an instance is expected, and never shows a long string value', () => {
    expect(refusal({ serviceAccountProvider: {} }).message).toContain('must be a ServiceAccountProvider instance, got an object');
    const secret = 'a-client-secret-that-must-not-be-logged';
    const error = refusal({ client: secret });
    expect(error.message).toContain('must be an object { clientId, clientSecret, redirectUri, tokenEndpointAuthMethod }, got a string of');
    expect(error.message).not.toContain(secret);
    expect(refusal({ client: { clientId: 'a', clientSecret: 42 } }).option).toBe('client.clientSecret');
  });
});

describe('closest / levenshtein', () => {
  it('measures edits', () => {
    expect(levenshtein('maxStal', 'maxStale')).toBe(1);
    expect(levenshtein('requireFreshMetadta', 'requireFreshMetadata')).toBe(1);
    expect(levenshtein('kitten', 'sitting')).toBe(3);
    expect(levenshtein('', 'abc')).toBe(3);
  });

  it('suggests within 3 edits, and less for short names', () => {
    expect(closest('requireFreshMetdt', ['requireFreshMetadata', 'require'])).toBe('requireFreshMetadata');
    expect(closest('xyzStale', ['maxStale'])).toBe('maxStale');
    expect(closest('abcdStale', ['maxStale'])).toBeUndefined();
    expect(closest('ur', ['url'])).toBe('url');
    expect(closest('xy', ['url'])).toBeUndefined();
    expect(closest('METRICS', ['metrics'])).toBe('metrics');
  });
});
