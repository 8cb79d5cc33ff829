import { describe, expect, it } from 'vitest';
import { decodeEncryptionKey, resolveIdentityOptions } from './identity-options.js';

describe('resolveIdentityOptions', () => {
  const base = { url: 'https://auth.example.com', audience: 'https://api.example.com' };

  it('fills defaults and freezes the result', () => {
    const options = resolveIdentityOptions(base);
    expect(options).toMatchObject({ issuer: 'https://auth.example.com', audiences: ['https://api.example.com'], algorithms: ['RS256', 'PS256', 'ES256'], clockTolerance: 5, require: true, global: false, claims: 's3db', realm: 'https://api.example.com' });
    expect(Object.isFrozen(options)).toBe(true);
  });

  it('requires an audience and says why', () => {
    expect(() => resolveIdentityOptions({ url: base.url } as never)).toThrow(/option "audience": is required.*accepts tokens meant for other services/);
    expect(() => resolveIdentityOptions({ ...base, audience: [] })).toThrow(/option "audience"/);
  });

  it('refuses HMAC and none with the reason, and accepts EdDSA when listed', () => {
    expect(() => resolveIdentityOptions({ ...base, algorithms: ['HS256' as never] })).toThrow(/option "algorithms": "HS256" is not supported: only asymmetric/);
    expect(() => resolveIdentityOptions({ ...base, algorithms: ['none' as never] })).toThrow(/never none/);
    expect(() => resolveIdentityOptions({ ...base, algorithms: ['eddsa' as never] })).toThrow(/"eddsa" is not supported/);
    expect(resolveIdentityOptions({ ...base, algorithms: ['RS256', 'EdDSA'] }).algorithms).toEqual(['RS256', 'EdDSA']);
    expect(resolveIdentityOptions(base).algorithms).toEqual(['RS256', 'PS256', 'ES256']);
  });

  it('names the option for bad URLs, numbers and credentials in URLs', () => {
    expect(() => resolveIdentityOptions({ ...base, url: 'auth.example.com' })).toThrow(/option "url": must be an absolute URL/);
    expect(() => resolveIdentityOptions({ ...base, url: 'https://u:p@auth.example.com' })).toThrow(/must not contain credentials/);
    expect(() => resolveIdentityOptions({ ...base, clockTolerance: -1 })).toThrow(/option "clockTolerance"/);
    expect(() => resolveIdentityOptions({ audience: 'x' })).toThrow(/option "url"/);
  });

  it('resolves revocation options with defaults, naming the option when one is wrong', () => {
    expect(resolveIdentityOptions(base).revocation).toEqual({ enabled: true, maxTokenLifetimeSeconds: 86_400, maxEntries: 10_000, channel: undefined });
    const custom = resolveIdentityOptions({ ...base, revocation: { enabled: false, maxTokenLifetimeSeconds: 3600, maxEntries: 50, channel: 'orders:revocations' } }).revocation;
    expect(custom).toEqual({ enabled: false, maxTokenLifetimeSeconds: 3600, maxEntries: 50, channel: 'orders:revocations' });
    expect(Object.isFrozen(custom)).toBe(true);
    expect(() => resolveIdentityOptions({ ...base, revocation: 'on' as never })).toThrow(/option "revocation": must be an object/);
    expect(() => resolveIdentityOptions({ ...base, revocation: { enabled: 'yes' as never } })).toThrow(/option "revocation\.enabled": must be true or false/);
    expect(() => resolveIdentityOptions({ ...base, revocation: { maxEntries: 0 } })).toThrow(/option "revocation\.maxEntries": must be a whole number from 1 to 1,000,000, got 0/);
    expect(() => resolveIdentityOptions({ ...base, revocation: { maxEntries: 1.5 } })).toThrow(/option "revocation\.maxEntries"/);
    expect(() => resolveIdentityOptions({ ...base, revocation: { maxTokenLifetimeSeconds: -1 } })).toThrow(/option "revocation\.maxTokenLifetimeSeconds"/);
    expect(() => resolveIdentityOptions({ ...base, revocation: { maxTokenLifetimeSeconds: Number.POSITIVE_INFINITY } })).toThrow(/option "revocation\.maxTokenLifetimeSeconds"/);
    expect(() => resolveIdentityOptions({ ...base, revocation: { channel: 'has space' } })).toThrow(/option "revocation\.channel"/);
    expect(() => resolveIdentityOptions({ ...base, revocation: { channel: '' } })).toThrow(/option "revocation\.channel"/);
  });

  it('accepts inline metadata without a url', () => {
    const options = resolveIdentityOptions({ audience: 'a', metadata: { issuer: 'https://idp.example', jwksUrl: 'https://idp.example/jwks' } });
    expect(options.issuer).toBe('https://idp.example');
  });
});

describe('decodeEncryptionKey', () => {
  it('takes 32 bytes as hex or base64', () => {
    const key = Buffer.alloc(32, 7);
    expect(decodeEncryptionKey(key.toString('hex')).equals(key)).toBe(true);
    expect(decodeEncryptionKey(key.toString('base64')).equals(key)).toBe(true);
  });
  it('refuses other lengths and says how to generate a key', () => {
    expect(() => decodeEncryptionKey(Buffer.alloc(16).toString('base64'))).toThrow(/exactly 32 bytes \(got 16\).*randomBytes\(32\)/);
    expect(() => decodeEncryptionKey('')).toThrow(/option "encryptionKey"/);
  });
});

describe('resolveIdentityOptions: resource metadata and DPoP', () => {
  const url = 'https://auth.example.com';

  it('takes the audience (and realm) from resourceMetadata.resource, canonical, and builds the challenge', () => {
    const options = resolveIdentityOptions({ url, resourceMetadata: { resource: 'HTTPS://API.Example.com/mcp' } });
    expect(options.audiences).toEqual(['https://api.example.com/mcp']);
    expect(options.realm).toBe('https://api.example.com/mcp');
    expect(options.resourceMetadata).toMatchObject({ resource: 'https://api.example.com/mcp', path: '/.well-known/oauth-protected-resource/mcp', url: 'https://api.example.com/.well-known/oauth-protected-resource/mcp' });
    expect(options.challenge).toEqual({ realm: 'https://api.example.com/mcp', schemes: ['Bearer'], dpopAlgs: options.dpop.algorithms, resourceMetadata: 'https://api.example.com/.well-known/oauth-protected-resource/mcp' });
    expect(resolveIdentityOptions({ url, audience: 'a', resourceMetadata: { resource: 'https://api.example.com' } }).audiences).toEqual(['a']);
  });

  it('offers Bearer, both schemes, or DPoP alone by dpop.mode', () => {
    const schemes = (mode: 'off' | 'allowed' | 'required') => resolveIdentityOptions({ url, audience: 'a', dpop: { mode } }).challenge.schemes;
    expect(schemes('off')).toEqual(['Bearer']);
    expect(schemes('allowed')).toEqual(['Bearer', 'DPoP']);
    expect(schemes('required')).toEqual(['DPoP']);
    expect(resolveIdentityOptions({ url, audience: 'a', dpop: { mode: 'required' }, resourceMetadata: { resource: 'https://a.example' } }).resourceMetadata?.dpopBoundAccessTokensRequired).toBe(true);
  });

  it('still requires an audience when there is no resource, and says how to give one', () => {
    expect(() => resolveIdentityOptions({ url })).toThrow(/option "audience": is required.*or set resourceMetadata.resource/);
  });
});
