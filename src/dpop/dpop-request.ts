import { InvalidRequestError } from '../errors/invalid-request.error.js';
import { InvalidTokenError } from '../errors/invalid-token.error.js';
import type { RequestWithHeaders } from '../tokens/bearer-token.js';

/** The request fields DPoP reads, on Express (IncomingMessage) and Fastify (FastifyRequest) alike. */
export interface DpopRequest extends RequestWithHeaders {
  method?: string;
  url?: string;
  originalUrl?: string;
  socket?: { encrypted?: boolean };
  raw?: { rawHeaders?: string[]; url?: string; socket?: { encrypted?: boolean } };
  /** Express puts the response on the request. */
  res?: unknown;
}

export interface RequestUrlPolicy {
  /** Public base URL without trailing slash (scheme, host, any prefix a proxy strips). */
  readonly publicUrl?: string;
  readonly trustProxyHeaders: boolean;
}

/** How many headers of this (lower-case) name the request carries: rawHeaders shows duplicates that `headers` merges. */
export function headerCount(request: DpopRequest, name: string): number {
  const raw = request.rawHeaders ?? request.raw?.rawHeaders;
  if (raw === undefined) {
    const value = request.headers[name];
    return value === undefined ? 0 : Array.isArray(value) ? value.length : 1;
  }
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) count++;
  return count;
}

function firstValue(request: DpopRequest, name: string): string | undefined {
  const value = request.headers[name];
  const text = Array.isArray(value) ? value[0] : value;
  if (typeof text !== 'string') return undefined;
  const first = text.split(',')[0]!.trim();
  return first.length > 0 ? first : undefined;
}

const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
const PREFIX = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/;

/**
 * The URL the client addressed, without query or fragment, normalised as `htu` is compared: from
 * `publicUrl` plus the request path when configured; else from `X-Forwarded-Proto`, `-Host` and
 * `-Prefix` when trusted; else from the connection (TLS or not) and the Host header. Undefined
 * when it cannot be rebuilt (no Host, a malformed forwarded value): the proof's htu then fails.
 */
export function requestUrl(request: DpopRequest, policy: RequestUrlPolicy): string | undefined {
  // Express: originalUrl (before any mount rewrote url); Fastify: originalUrl too, else the raw URL.
  const target = request.originalUrl ?? request.raw?.url ?? request.url;
  if (typeof target !== 'string' || !target.startsWith('/')) return undefined;
  const end = target.search(/[?#]/);
  const path = end === -1 ? target : target.slice(0, end);
  let base: string;
  if (policy.publicUrl !== undefined) {
    base = policy.publicUrl;
  } else {
    const encrypted = request.socket?.encrypted ?? request.raw?.socket?.encrypted ?? false;
    let proto = encrypted ? 'https' : 'http';
    let host = firstValue(request, 'host');
    let prefix = '';
    if (policy.trustProxyHeaders) {
      proto = firstValue(request, 'x-forwarded-proto')?.toLowerCase() ?? proto;
      host = firstValue(request, 'x-forwarded-host') ?? host;
      prefix = firstValue(request, 'x-forwarded-prefix') ?? '';
      if (prefix !== '' && !PREFIX.test(prefix)) return undefined;
      prefix = prefix.replace(/\/+$/, '');
    }
    if ((proto !== 'http' && proto !== 'https') || host === undefined || !HOST.test(host)) return undefined;
    base = `${proto}://${host}${prefix}`;
  }
  const url = URL.parse(`${base}${path}`);
  return url === null ? undefined : url.href;
}

/** RFC 6750 §2.1 b64token, which RFC 9449 §7.1 keeps for the DPoP scheme. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * The access token of `Authorization: DPoP <token>` (RFC 9449 §7.1), or undefined when the header
 * uses another scheme (or there is none). Same rules as the Bearer extraction: exactly one
 * Authorization header, one or more spaces, a b64token within the length limit; a malformed header
 * throws 400 invalid_request, an oversized token 401 invalid_token.
 */
export function dpopSchemeToken(request: DpopRequest, maxLength: number): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string' || !usesDpopScheme(request)) return undefined;
  if (headerCount(request, 'authorization') > 1) throw new InvalidRequestError('Send exactly one Authorization header');
  if (header.length > 4 && header.charCodeAt(4) !== 32) throw new InvalidRequestError("Malformed Authorization header: use 'DPoP <token>'");
  let start = 4;
  while (start < header.length && header.charCodeAt(start) === 32) start++;
  const token = header.slice(start);
  if (token.length === 0) throw new InvalidRequestError('Malformed Authorization header: the DPoP access token is empty');
  if (token.length > maxLength) throw new InvalidTokenError('too_large');
  if (!B64TOKEN.test(token)) throw new InvalidRequestError("Malformed Authorization header: use 'DPoP <token>'");
  return token;
}

/** Whether the Authorization header uses the DPoP scheme (cheap: no validation). */
export function usesDpopScheme(request: RequestWithHeaders): boolean {
  const header = request.headers.authorization;
  return typeof header === 'string' && header.length >= 4 && (header.charCodeAt(0) | 32) === 100 && /^dpop(\s|$)/i.test(header);
}
