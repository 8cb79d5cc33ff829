import { InvalidRequestError } from '../errors/invalid-request.error.js';
import { InvalidTokenError } from '../errors/invalid-token.error.js';

/** RFC 6750 §2.1 b64token. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** The request shape we read: Node's IncomingMessage (Express) or Fastify's request. */
export interface RequestWithHeaders {
  headers: Record<string, string | string[] | undefined>;
  rawHeaders?: string[];
  raw?: { rawHeaders?: string[] };
}

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
