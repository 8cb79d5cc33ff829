import { InvalidRequestError } from '../errors/invalid-request.error.js';
import { InvalidTokenError } from '../errors/invalid-token.error.js';

/** RFC 6750 §2.1 b64token. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** The request shape we read: Node's IncomingMessage (Express) or Fastify's request. */
export interface RequestWithHeaders {
  headers: Record<string, string | string[] | undefined>;
  rawHeaders?: string[];
  raw?: { rawHeaders?: string[]; url?: string };
  /** The request target with its query string: Express's req.url, Fastify's request.url (raw.url elsewhere). */
  url?: string;
  /** The parsed body, when a body parser ran (Express's body-parser, Fastify's content parsers). */
  body?: unknown;
}

/** The RFC 6750 §2.2/§2.3 parameter. */
const ACCESS_TOKEN = 'access_token';
const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

function countAuthorizationHeaders(request: RequestWithHeaders): number {
  // Node keeps only the first Authorization header in `headers`; rawHeaders shows them all.
  const raw = request.rawHeaders ?? request.raw?.rawHeaders;
  if (!raw) return request.headers.authorization === undefined ? 0 : 1;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 13 && raw[i]!.toLowerCase() === 'authorization') count++;
  return count;
}

/**
 * Extracts the Bearer token from the Authorization header (RFC 6750 §2.1). Only the header is
 * read: tokens in the query string or body are not accepted.
 * Returns undefined when there are no Bearer credentials (→ a bare 401 challenge); throws
 * 400 invalid_request for a malformed header and 401 invalid_token for an oversized token.
 */
export function extractBearerToken(request: RequestWithHeaders, maxLength: number): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  if (Array.isArray(header) || countAuthorizationHeaders(request) > 1) {
    throw new InvalidRequestError('Send exactly one Authorization header');
  }
  const space = header.indexOf(' ');
  const scheme = space === -1 ? header : header.slice(0, space);
  if (scheme.toLowerCase() !== 'bearer') {
    // Another scheme (Basic, ...) or "Bearer\t...": no Bearer credentials were sent.
    if (/^bearer\s/i.test(header) || scheme.toLowerCase() === 'bearer') {
      throw new InvalidRequestError("Malformed Authorization header: use 'Bearer <token>'");
    }
    return undefined;
  }
  if (space === -1) throw new InvalidRequestError('Malformed Authorization header: the Bearer token is empty');
  // RFC 7235: one or more spaces between scheme and credentials.
  let start = space;
  while (start < header.length && header.charCodeAt(start) === 32) start++;
  const token = header.slice(start);
  if (token.length === 0) throw new InvalidRequestError('Malformed Authorization header: the Bearer token is empty');
  if (token.length > maxLength) throw new InvalidTokenError('too_large');
  if (!B64TOKEN.test(token)) throw new InvalidRequestError("Malformed Authorization header: use 'Bearer <token>'");
  return token;
}

/**
 * RFC 6750 §3.1: a request that carries the access token by more than one method (the
 * Authorization header, and the `access_token` query parameter or form-encoded body parameter)
 * is a 400 invalid_request. Tokens are still never read from the query or the body: without an
 * Authorization header this does nothing, and such a request stays a bare 401.
 *
 * Cheap enough for the cache-hit path: without `?` in the URL and without a parsed object body
 * (every GET of the usual kind) it costs one property read and one indexOf. The query is only
 * parsed when it contains `access_token` or a percent-escape (`access%5Ftoken`); the body is only
 * looked at when it is a plain object (as body parsers leave it) of a form-encoded request.
 */
export function assertSingleTokenMethod(request: RequestWithHeaders): void {
  if (request.headers.authorization === undefined) return;
  const url = typeof request.url === 'string' ? request.url : request.raw?.url;
  if (typeof url === 'string') {
    const query = url.indexOf('?');
    // (A `#` before the `?` starts a fragment, which no server parses as a query.)
    if (query !== -1 && queryHasAccessToken(url, query + 1) && url.lastIndexOf('#', query) === -1) {
      throw new InvalidRequestError('The access token was sent by more than one method (Authorization header and access_token query parameter): send it in the Authorization header only');
    }
  }
  const body = request.body;
  if (typeof body === 'object' && body !== null && formHasAccessToken(request, body)) {
    throw new InvalidRequestError('The access token was sent by more than one method (Authorization header and access_token body parameter): send it in the Authorization header only');
  }
}

/** Whether the query string (from `start`) names the access_token parameter, with or without a value. */
function queryHasAccessToken(url: string, start: number): boolean {
  // The usual query has neither: no parsing at all.
  if (url.indexOf(ACCESS_TOKEN, start) === -1 && url.indexOf('%', start) === -1) return false;
  const end = url.indexOf('#', start);
  const query = end === -1 ? url.slice(start) : url.slice(start, end);
  for (const pair of query.split('&')) {
    const equals = pair.indexOf('=');
    const name = equals === -1 ? pair : pair.slice(0, equals);
    if (name === ACCESS_TOKEN || (name.length >= ACCESS_TOKEN.length && decodeName(name) === ACCESS_TOKEN)) return true;
  }
  return false;
}

/** A query or form parameter name as parsers decode it (`+` is a space; a malformed escape stays as is). */
function decodeName(name: string): string {
  const plain = name.indexOf('+') === -1 ? name : name.replaceAll('+', ' ');
  if (plain.indexOf('%') === -1) return plain;
  try {
    return decodeURIComponent(plain);
  } catch {
    return plain;
  }
}

/** Whether a parsed body is a form-encoded body (RFC 6750 §2.2) with an access_token parameter. */
function formHasAccessToken(request: RequestWithHeaders, body: object): boolean {
  // Only what a body parser leaves: a plain object (body-parser, qs), a null-prototype one (node:querystring),
  // or one whose prototype has a null prototype (fast-querystring's, Fastify's). Not a Buffer, a string, an array or a class instance.
  const prototype = Object.getPrototypeOf(body) as object | null;
  if (prototype !== null && Object.getPrototypeOf(prototype) !== null) return false;
  if (!Object.hasOwn(body, ACCESS_TOKEN)) return false;
  // A JSON body may well have a field of that name (say, a token of another service to link): not a method of sending ours.
  const type = request.headers['content-type'];
  return typeof type === 'string' && type.trimStart().slice(0, FORM_CONTENT_TYPE.length).toLowerCase() === FORM_CONTENT_TYPE;
}
