import { IdentityConfigurationError } from '../errors/identity-configuration.error.js';
import { isDpopReplayStore, type DpopReplayStore } from './dpop-replay-store.js';

/** `off`: only Bearer; `allowed`: Bearer and DPoP; `required`: DPoP only. */
export type DpopMode = 'off' | 'allowed' | 'required';

/** Asymmetric JWS algorithms a DPoP proof may use (RFC 9449 §4.2: never none, never a MAC). */
export const DPOP_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512', 'EdDSA', 'Ed25519'] as const;
export type DpopAlgorithm = (typeof DPOP_ALGORITHMS)[number];

const DEFAULT_ALGORITHMS: readonly DpopAlgorithm[] = ['ES256', 'EdDSA', 'Ed25519', 'PS256', 'RS256'];

export type DpopReplayStoreOption = 'memory' | { type: 'redis'; url?: string; keyPrefix?: string } | DpopReplayStore;

export interface DpopNonceOptions {
  /** Seconds a nonce stays current; the previous and next ones are accepted too. Default 60. */
  rotationSeconds?: number;
  /**
   * Replicas that share this secret (at least 32 characters) issue and accept the same nonces.
   * Default: derived from `encryptionKey` when set, else random per process (one replica).
   */
  secret?: string;
}

/** DPoP (RFC 9449): sender-constrained access tokens. See docs/dpop.md. */
export interface DpopOptions {
  /** Default `off`. `@RequireDpop()` makes one route `required` whatever the mode. */
  mode?: DpopMode;
  /** Proof algorithms accepted (also the DPoP challenge's `algs`). Default ES256, EdDSA, Ed25519, PS256, RS256. */
  algorithms?: DpopAlgorithm[];
  /** Seconds a proof's `iat` may lie before or after now. Default 60. */
  iatWindow?: number;
  /** Server-provided nonces (RFC 9449 §9): `true` for the defaults. Default off. */
  nonce?: boolean | DpopNonceOptions;
  /** Where proof `jti`s are remembered. Default `memory` (one replica); `{ type: 'redis' }` shares them. */
  replayStore?: DpopReplayStoreOption;
  /**
   * The public base URL of this API as clients see it (scheme, host, and any path prefix a proxy
   * strips), e.g. `https://api.example.com/orders-api`: `htu` must be this plus the request path.
   */
  publicUrl?: string;
  /**
   * Rebuild the request URL from `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Forwarded-Prefix`.
   * Only behind a proxy that sets (overwrites) them. Ignored when `publicUrl` is set. Default false.
   */
  trustProxyHeaders?: boolean;
}

export type ResolvedDpopReplayStore =
  | { readonly type: 'memory' }
  | { readonly type: 'redis'; readonly url: string; readonly keyPrefix: string }
  | { readonly type: 'custom'; readonly store: DpopReplayStore };

export interface ResolvedDpopOptions {
  readonly mode: DpopMode;
  readonly algorithms: readonly DpopAlgorithm[];
  readonly iatWindowSeconds: number;
  readonly nonce: false | { readonly rotationSeconds: number; readonly secret?: string };
  readonly replayStore: ResolvedDpopReplayStore;
  readonly publicUrl?: string;
  readonly trustProxyHeaders: boolean;
}

function fail(option: string, message: string): never {
  throw new IdentityConfigurationError(option, message);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function seconds(option: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(option, `must be a whole number of seconds from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Validates `dpop` once at boot. `redisStoreUrl` is the credential store's Redis URL, the default
 * of `replayStore: { type: 'redis' }`; `allowInsecureHttp` lets `publicUrl` be http:// off loopback.
 */
export function resolveDpopOptions(option: DpopOptions | undefined, context: { redisStoreUrl?: string; redisKeyPrefix?: string; allowInsecureHttp: boolean }): ResolvedDpopOptions {
  if (option !== undefined && (typeof option !== 'object' || option === null || Array.isArray(option))) fail('dpop', "must be an object such as { mode: 'allowed' }");
  const mode = option?.mode ?? 'off';
  if (mode !== 'off' && mode !== 'allowed' && mode !== 'required') fail('dpop.mode', `must be 'off', 'allowed' or 'required', got ${JSON.stringify(mode)}`);

  const algorithms = option?.algorithms ?? DEFAULT_ALGORITHMS;
  if (!Array.isArray(algorithms) || algorithms.length === 0) fail('dpop.algorithms', `must list at least one of ${DPOP_ALGORITHMS.join(', ')}`);
  for (const alg of algorithms) {
    if (!(DPOP_ALGORITHMS as readonly string[]).includes(alg)) {
      fail('dpop.algorithms', `"${String(alg)}" is not accepted for DPoP proofs: only asymmetric algorithms (never none or HS*). Use some of ${DPOP_ALGORITHMS.join(', ')}`);
    }
  }

  const iatWindowSeconds = seconds('dpop.iatWindow', option?.iatWindow, 60, 1, 3600);

  let nonce: ResolvedDpopOptions['nonce'] = false;
  const nonceOption = option?.nonce;
  if (nonceOption === true) nonce = Object.freeze({ rotationSeconds: 60 });
  else if (isPlainObject(nonceOption)) {
    const secret = nonceOption.secret;
    if (secret !== undefined && (typeof secret !== 'string' || secret.length < 32)) {
      fail('dpop.nonce.secret', 'must be a string of at least 32 random characters, the same on every replica');
    }
    nonce = Object.freeze({ rotationSeconds: seconds('dpop.nonce.rotationSeconds', nonceOption.rotationSeconds, 60, 5, 86_400), secret });
  } else if (nonceOption !== undefined && nonceOption !== false) {
    fail('dpop.nonce', 'must be true, false or { rotationSeconds, secret }');
  }

  const replayStore = resolveReplayStore(option?.replayStore, context);

  let publicUrl: string | undefined;
  if (option?.publicUrl !== undefined) publicUrl = resolvePublicUrl(option.publicUrl, context.allowInsecureHttp);
  const trustProxyHeaders = option?.trustProxyHeaders ?? false;
  if (typeof trustProxyHeaders !== 'boolean') fail('dpop.trustProxyHeaders', `must be true or false, got ${JSON.stringify(trustProxyHeaders)}`);

  return Object.freeze({
    mode,
    algorithms: Object.freeze([...new Set(algorithms)]),
    iatWindowSeconds,
    nonce,
    replayStore,
    publicUrl,
    trustProxyHeaders,
  });
}

function resolveReplayStore(option: DpopReplayStoreOption | undefined, context: { redisStoreUrl?: string; redisKeyPrefix?: string }): ResolvedDpopReplayStore {
  if (option === undefined || option === 'memory') return Object.freeze({ type: 'memory' });
  if (isDpopReplayStore(option)) return Object.freeze({ type: 'custom', store: option });
  if (isPlainObject(option) && option.type === 'redis') {
    const url = option.url ?? context.redisStoreUrl;
    if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) {
      fail('dpop.replayStore.url', 'must be a redis:// or rediss:// URL (or configure store: { type: "redis", url } and it is used)');
    }
    const keyPrefix = option.keyPrefix ?? context.redisKeyPrefix ?? 'nestjs-identity:';
    if (typeof keyPrefix !== 'string' || !/^[\x21-\x7E]{0,128}$/.test(keyPrefix)) fail('dpop.replayStore.keyPrefix', 'must be up to 128 printable ASCII characters without spaces');
    return Object.freeze({ type: 'redis', url, keyPrefix });
  }
  return fail('dpop.replayStore', "must be 'memory', { type: 'redis', url?, keyPrefix? } or an object with remember(key, ttlMs)");
}

function resolvePublicUrl(value: unknown, allowInsecureHttp: boolean): string {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    fail('dpop.publicUrl', `must be an absolute URL such as "https://api.example.com" or "https://api.example.com/prefix", got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail('dpop.publicUrl', `must use https://, got ${url.protocol}`);
  if (url.protocol === 'http:' && !allowInsecureHttp && !isLoopback(url.hostname)) fail('dpop.publicUrl', 'must use https:// (http:// only on loopback or with allowInsecureHttp)');
  if (url.username || url.password) fail('dpop.publicUrl', 'must not contain credentials (user:password@)');
  if (url.search || url.hash || String(value).includes('#') || String(value).includes('?')) fail('dpop.publicUrl', 'must not contain a query or a fragment');
  // Kept without a trailing slash: the request path (which starts with one) is appended.
  return url.href.replace(/\/+$/, '');
}

export function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}
