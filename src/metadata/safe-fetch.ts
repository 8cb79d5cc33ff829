import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import type { ResolvedIdentityOptions } from '../identity-options.js';

/** Where the module may send requests, and how much it will wait for and read. */
export interface OutboundPolicy {
  /** Deadline for the whole exchange: DNS, connect, headers and body. */
  readonly timeoutMs: number;
  /** Largest response body read; reading stops past it. */
  readonly maxBytes: number;
  /** Allow `http://` outside loopback (development only). */
  readonly allowInsecureHttp: boolean;
  /** Hosts (`name` or `name:port`) allowed besides the issuer's. */
  readonly allowedHosts: readonly string[];
  /** The issuer's `host` (`name` or `name:port`, as `URL.host` gives it). */
  readonly issuerHost: string;
}

export type OutboundErrorKind = 'policy' | 'timeout' | 'too_large' | 'http_status' | 'network' | 'invalid_json';

/**
 * An outbound request that was refused or failed. The message names the URL (scheme, host and
 * path only: no credentials, no query) and never contains the response body.
 */
export class OutboundRequestError extends Error {
  /** Written to hold no secret, token or response body (see errors/safe-message.ts). */
  readonly safeMessage = true as const;
  override readonly name = 'OutboundRequestError';
  constructor(
    readonly kind: OutboundErrorKind,
    /** What was being fetched, e.g. "metadata", "JWKS", "token endpoint". */
    readonly what: string,
    /** The URL as shown in the message (no userinfo, no query), or "(invalid URL)". */
    readonly url: string,
    /** The reason alone, without the URL: safe to embed in other messages. */
    readonly reason: string,
    /** The HTTP status, for `http_status`. */
    readonly status?: number,
  ) {
    super(`${what} request to ${url} ${kind === 'policy' ? 'refused' : 'failed'}: ${reason}`);
  }
}

export interface SafeFetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | URLSearchParams;
  /**
   * Return 4xx/5xx answers instead of throwing (e.g. a token endpoint's `invalid_client` body).
   * Redirects are refused regardless.
   */
  allowErrorStatus?: boolean;
}

export interface SafeResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as a JSON object; throws `invalid_json` for anything else (array, string, garbage). */
  json<T = Record<string, unknown>>(): T;
}

/** The outbound policy the options describe. The configured `url`'s host is trusted like the issuer's. */
export function outboundPolicyFor(options: ResolvedIdentityOptions): OutboundPolicy {
  const issuerHost = new URL(options.issuer).host;
  const allowedHosts = [...options.allowedHosts.map((h) => h.toLowerCase())];
  if (options.url) {
    const urlHost = new URL(options.url).host;
    if (urlHost !== issuerHost && !allowedHosts.includes(urlHost)) allowedHosts.push(urlHost);
  }
  return Object.freeze({
    timeoutMs: options.http.timeoutMs,
    maxBytes: options.http.maxBytes,
    allowInsecureHttp: options.allowInsecureHttp,
    allowedHosts: Object.freeze(allowedHosts),
    issuerHost,
  });
}

// Link-local and cloud instance-metadata endpoints: reachable from inside a VM, never an IdP.
const FORBIDDEN = new BlockList();
FORBIDDEN.addSubnet('169.254.0.0', 16, 'ipv4');
FORBIDDEN.addSubnet('fe80::', 10, 'ipv6');
FORBIDDEN.addAddress('100.100.100.200', 'ipv4');
FORBIDDEN.addAddress('fd00:ec2::254', 'ipv6');
const FORBIDDEN_NAMES = new Set(['metadata.google.internal', 'metadata.goog']);

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Host name without IPv6 brackets or a trailing dot, lower case. */
function bareHost(hostname: string): string {
  return hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
}

function inList(list: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

function isForbiddenAddress(host: string): boolean {
  return FORBIDDEN_NAMES.has(host) || inList(FORBIDDEN, host);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || inList(LOOPBACK, host);
}

/** Scheme, host and path: what messages may show of a URL. */
function displayUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function hostAllowed(url: URL, policy: OutboundPolicy): boolean {
  const name = bareHost(url.hostname);
  // An entry with a port must match host:port; an entry without one matches any port of that host.
  return [policy.issuerHost, ...policy.allowedHosts].some((entry) => {
    const e = entry.toLowerCase();
    return e === url.host || bareHost(e) === name;
  });
}

/**
 * Parses url and checks it against the policy: https only (http on loopback, or with
 * allowInsecureHttp), no credentials, never link-local or cloud-metadata addresses, and only the
 * issuer's host or an allow-listed one. Returns the parsed URL; throws OutboundRequestError('policy').
 */
export function assertAllowedUrl(url: string, policy: OutboundPolicy, what: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new OutboundRequestError('policy', what, '(invalid URL)', 'not an absolute URL');
  }
  const shown = displayUrl(parsed);
  const refuse = (reason: string): never => {
    throw new OutboundRequestError('policy', what, shown, reason);
  };
  const host = bareHost(parsed.hostname);
  if (parsed.protocol === 'http:') {
    if (!isLoopback(host) && !policy.allowInsecureHttp) {
      refuse('only https:// is allowed (http:// only on loopback; allowInsecureHttp enables it for development)');
    }
  } else if (parsed.protocol !== 'https:') {
    // Node's fetch also serves data: (and would try others): never let a document pick one.
    refuse(`the ${parsed.protocol} scheme is not allowed; use https://`);
  }
  if (parsed.username || parsed.password) refuse('URLs must not carry credentials (user:password@)');
  if (isForbiddenAddress(host)) refuse('link-local and cloud metadata addresses are never contacted');
  if (!hostAllowed(parsed, policy)) {
    refuse(`host ${parsed.host} is neither the issuer's host (${policy.issuerHost}) nor in allowedHosts; add it to allowedHosts if you trust it`);
  }
  return parsed;
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** A name that resolves to a forbidden address is refused too (best effort: fetch resolves again). */
async function assertResolvesSafely(url: URL, signal: AbortSignal, what: string): Promise<void> {
  const host = bareHost(url.hostname);
  if (isIP(host) || host === 'localhost') return;
  const addresses = await untilAborted(lookup(host, { all: true }), signal);
  if (addresses.some((a) => isForbiddenAddress(a.address))) {
    throw new OutboundRequestError('policy', what, displayUrl(url), 'the host resolves to a link-local or cloud metadata address');
  }
}

function discard(response: Response): void {
  response.body?.cancel().catch(() => undefined);
}

async function readCapped(response: Response, maxBytes: number, stop: AbortController, tooLarge: () => OutboundRequestError): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    discard(response);
    stop.abort();
    throw tooLarge();
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      // Stop reading and drop the connection: an endless body must not keep us busy.
      reader.cancel().catch(() => undefined);
      stop.abort();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string' && /^[A-Z0-9_]+$/.test(cause.code)) return `network error (${cause.code})`;
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && /^[A-Z0-9_]+$/.test(code)) return `network error (${code})`;
  return 'network error';
}

/**
 * The one outbound HTTP call of the module. Checks the URL policy, refuses redirects, enforces a
 * deadline over the whole exchange and a byte cap while streaming. Non-2xx answers throw
 * `http_status` unless `allowErrorStatus` is set; 3xx always throws.
 */
export async function safeFetch(url: string, init: SafeFetchInit, policy: OutboundPolicy, what: string): Promise<SafeResponse> {
  const target = assertAllowedUrl(url, policy, what);
  const shown = displayUrl(target);
  const fail = (kind: OutboundErrorKind, reason: string, status?: number) => new OutboundRequestError(kind, what, shown, reason, status);
  const deadline = AbortSignal.timeout(policy.timeoutMs);
  const stop = new AbortController();
  const signal = AbortSignal.any([deadline, stop.signal]);
  try {
    await assertResolvesSafely(target, signal, what);
    const response = await fetch(target, {
      method: init.method ?? 'GET',
      headers: { accept: 'application/json', ...init.headers },
      body: init.body,
      redirect: 'manual',
      signal,
    });
    const status = response.status;
    if (status >= 300 && status < 400) {
      discard(response);
      throw fail('http_status', `answered HTTP ${status}; redirects are not followed, configure the final URL`, status);
    }
    if ((status < 200 || status >= 300) && !init.allowErrorStatus) {
      discard(response);
      throw fail('http_status', `answered HTTP ${status}`, status);
    }
    const text = await readCapped(response, policy.maxBytes, stop, () => fail('too_large', `the response exceeds ${policy.maxBytes} bytes`));
    return {
      status,
      headers: response.headers,
      text,
      json<T>(): T {
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch {
          throw fail('invalid_json', 'the response is not valid JSON');
        }
        if (value === null || typeof value !== 'object' || Array.isArray(value)) {
          throw fail('invalid_json', 'the response is JSON but not an object');
        }
        return value as T;
      },
    };
  } catch (error) {
    if (error instanceof OutboundRequestError) throw error;
    if (deadline.aborted) throw fail('timeout', `no complete answer within ${policy.timeoutMs} ms`);
    throw fail('network', networkReason(error));
  }
}
