import type { AuditSink } from '../audit/audit-sink.js';
import type { DpopNonceOptions, DpopOptions, DpopReplayStoreOption } from '../dpop/dpop-options.js';
import type { ClaimsMapping } from '../identity/claims-mapping.js';
import type {
  AutoProvisionOptions,
  CredentialStoreOption,
  IdentityClientOptions,
  IdentityModuleOptions,
  RevocationOptions,
} from '../identity-options.js';
import type { ResourceMetadataOptions } from '../resource-metadata/resource-metadata-options.js';

/**
 * Every option IdentityModule knows, with the type of its value: what `assertKnownOptions`
 * (unknown-options.ts) checks the options against at boot, so that a misspelt option or one from
 * a newer release fails the boot instead of being ignored.
 *
 * Written by hand from IdentityModuleOptions (identity-options.ts), one line per option. The
 * `Keys<T>` annotations make the compiler hold the two together: an option added to the interface
 * and not here (or the other way round) is a type error, so a new option needs one line here.
 * Instances (a CredentialStore, an AuditSink, a ServiceAccountProvider) and the `metadata` option
 * are opaque: their own keys are not checked.
 */
export type OptionSchema =
  | { readonly kind: 'boolean' }
  | { readonly kind: 'number' }
  | { readonly kind: 'string' }
  /** An array of strings. */
  | { readonly kind: 'strings' }
  /** The literal `false` (e.g. `tokenCache: false`). */
  | { readonly kind: 'false' }
  /** Any value, not descended into. */
  | { readonly kind: 'opaque'; readonly what: string }
  /** An object with methods (a class instance or an object literal with functions), not descended into. */
  | { readonly kind: 'instance'; readonly what: string }
  | ObjectSchema
  /** Objects told apart by the value of one key, e.g. `store: { type: 'file', ... }`. */
  | { readonly kind: 'tagged'; readonly tag: string; readonly variants: Readonly<Record<string, ObjectSchema>> }
  /** One of several shapes; at most one plain-object member (object or tagged) per union. */
  | { readonly kind: 'oneOf'; readonly members: readonly OptionSchema[] };

export interface ObjectSchema {
  readonly kind: 'object';
  readonly keys: Readonly<Record<string, OptionSchema>>;
}

/** Exactly the keys of T, each with a schema: the compiler refuses a missing or an extra key. */
type Keys<T> = { readonly [K in keyof Required<T>]-?: OptionSchema };

const boolean: OptionSchema = { kind: 'boolean' };
const number: OptionSchema = { kind: 'number' };
const string: OptionSchema = { kind: 'string' };
const strings: OptionSchema = { kind: 'strings' };
const literalFalse: OptionSchema = { kind: 'false' };
const opaque = (what: string): OptionSchema => ({ kind: 'opaque', what });
const instance = (what: string): OptionSchema => ({ kind: 'instance', what });
const oneOf = (...members: OptionSchema[]): OptionSchema => ({ kind: 'oneOf', members });
function object<T>(keys: Keys<T>): ObjectSchema {
  return { kind: 'object', keys };
}
const tagged = (tag: string, variants: Record<string, ObjectSchema>): OptionSchema => ({ kind: 'tagged', tag, variants });

type FileStore = Extract<CredentialStoreOption, { type: 'file' }>;
type RedisStore = Extract<CredentialStoreOption, { type: 'redis' }>;
type RedisReplayStore = Extract<DpopReplayStoreOption, { type: 'redis' }>;
type Options = Required<IdentityModuleOptions>;

/** What a claims reader may be: a claim path, several paths, or a function. Not descended into. */
const claimReader = opaque('a claim path, a list of paths or a function');

/** The options of IdentityModule.forRoot / the object forRootAsync's useFactory returns. */
export const KNOWN_OPTIONS: ObjectSchema = object<IdentityModuleOptions>({
  url: string,
  issuer: string,
  metadata: opaque('an IdentityMetadataInput object or a function returning one'),
  audience: oneOf(string, strings),
  algorithms: strings,
  clockTolerance: number,
  cacheTtl: number,
  maxStale: number,
  require: boolean,
  requireFreshMetadata: boolean,
  requireSignedMetadata: boolean,
  requireAccessTokenType: boolean,
  allowInsecureHttp: boolean,
  allowedHosts: strings,
  http: object<NonNullable<Options['http']>>({ timeoutMs: number, maxBytes: number }),
  claims: oneOf(
    string,
    object<ClaimsMapping>({
      preset: string,
      scopes: claimReader,
      roles: claimReader,
      tenant: claimReader,
      email: claimReader,
      name: claimReader,
      clientId: claimReader,
      audiences: claimReader,
      kind: opaque('a function'),
      keycloakClientId: string,
      auth0RolesClaim: string,
    }),
  ),
  global: boolean,
  realm: string,
  maxTokenLength: number,
  tokenCache: oneOf(literalFalse, object<Exclude<Options['tokenCache'], false>>({ maxEntries: number, maxBytes: number })),
  jwksCooldown: number,
  client: object<IdentityClientOptions>({ clientId: string, clientSecret: string, redirectUri: string, tokenEndpointAuthMethod: string }),
  autoProvision: oneOf(boolean, object<AutoProvisionOptions>({ name: string, scopes: strings, audience: string })),
  encryptionKey: string,
  store: oneOf(
    instance('a CredentialStore instance'),
    tagged('type', { file: object<FileStore>({ type: string, path: string }), redis: object<RedisStore>({ type: string, url: string, keyPrefix: string }) }),
  ),
  admin: object<Options['admin']>({ enabled: boolean, scope: string, role: string }),
  serviceAccountProvider: instance('a ServiceAccountProvider instance'),
  audit: oneOf(literalFalse, instance('an AuditSink instance'), object<Exclude<Options['audit'], false | AuditSink>>({ file: string })),
  health: object<Options['health']>({ expose: boolean }),
  metrics: boolean,
  revocation: object<RevocationOptions>({ enabled: boolean, maxTokenLifetimeSeconds: number, maxEntries: number, channel: string }),
  resourceMetadata: object<ResourceMetadataOptions>({
    resource: string,
    authorizationServers: strings,
    scopesSupported: strings,
    resourceName: string,
    resourceDocumentation: string,
    bearerMethodsSupported: strings,
    dpopBoundAccessTokensRequired: boolean,
    extra: opaque('further members of the document, copied as they are'),
    cacheMaxAge: number,
  }),
  dpop: object<DpopOptions>({
    mode: string,
    algorithms: strings,
    iatWindow: number,
    nonce: oneOf(boolean, object<DpopNonceOptions>({ rotationSeconds: number, secret: string })),
    replayStore: oneOf(string, instance('a DpopReplayStore instance'), tagged('type', { redis: object<RedisReplayStore>({ type: string, url: string, keyPrefix: string }) })),
    publicUrl: string,
    trustProxyHeaders: boolean,
  }),
});

/**
 * Keys that belong beside useFactory in forRootAsync (forRoot takes them out of its options
 * before validation), with where they go instead.
 */
export const MODULE_EXTRAS: Readonly<Record<string, string>> = {
  isGlobal: 'is an argument of forRoot/forRootAsync, not an option: with forRootAsync, pass it beside useFactory, not in the object useFactory returns',
  routes: 'is an argument of forRootAsync, not an option: pass routes: { admin, health, metrics } beside useFactory, not in the object useFactory returns',
};
