import { InvalidRequestError } from '../../errors/invalid-request.error.js';
import { InvalidTokenError } from '../../errors/invalid-token.error.js';
import type { RequestWithHeaders } from '../../tokens/bearer-token.js';

/**
 * Credentials that do not come as an HTTP header (connectionParams, socket.io `auth`, message
 * metadata and headers), turned into the request shape TokenAuthenticator reads, so every rule of
 * the Authorization header (one value, `Bearer <b64token>`, the length limit) applies to them too.
 * Values come from the caller: anything but one string is refused here, before any parsing.
 */

/** No credentials: TokenAuthenticator answers MissingTokenError. */
export const NO_CREDENTIALS: RequestWithHeaders = Object.freeze({ headers: Object.freeze({}) }) as RequestWithHeaders;

/** Room for `Bearer ` and a few spaces beyond the token limit; anything longer is refused unread. */
const HEADER_SLACK = 64;

/**
 * One `authorization` value: a string `Bearer <token>` (a Buffer, as Kafka and gRPC carry it, is
 * read as UTF-8; a one-element array, as NATS and gRPC return it, is that element). Undefined or an
 * empty array: no credentials. Several values, or anything else: 400 invalid_request.
 */
export function authorizationCredentials(value: unknown, maxTokenLength: number, where = 'authorization'): RequestWithHeaders {
  if (value === undefined || value === null) return NO_CREDENTIALS;
  if (Array.isArray(value)) {
    if (value.length === 0) return NO_CREDENTIALS;
    if (value.length > 1) throw new InvalidRequestError(`Send exactly one ${where} value`);
    value = value[0];
  }
  if (Buffer.isBuffer(value)) {
    if (value.length > maxTokenLength + HEADER_SLACK) throw new InvalidTokenError('too_large');
    value = value.toString('utf8');
  }
  if (typeof value !== 'string') throw new InvalidRequestError(`The ${where} value must be a string: 'Bearer <token>'`);
  if (value.length > maxTokenLength + HEADER_SLACK) throw new InvalidTokenError('too_large');
  if (value === '') return NO_CREDENTIALS;
  return { headers: { authorization: value } };
}

/**
 * The `authorization` member of an object (connectionParams, message metadata, transport headers),
 * matched without regard to case. Two spellings at once (`authorization` and `Authorization`) are
 * two tokens: 400. Only own properties are read.
 */
export function authorizationMember(source: unknown, where: string): unknown {
  if (source === undefined || source === null) return undefined;
  if (typeof source !== 'object' || Array.isArray(source)) throw new InvalidRequestError(`${where} must be an object`);
  let found: unknown;
  let count = 0;
  for (const key of Object.keys(source)) {
    if (key.length === 13 && key.toLowerCase() === 'authorization') {
      found = (source as Record<string, unknown>)[key];
      count++;
    }
  }
  if (count > 1) throw new InvalidRequestError(`Send exactly one authorization value in ${where}`);
  return found;
}

/** graphql-ws `connectionParams` (the `connection_init` payload): `{ authorization: 'Bearer <token>' }`. */
export function connectionParamsCredentials(params: unknown, maxTokenLength: number): RequestWithHeaders {
  return authorizationCredentials(authorizationMember(params, 'connectionParams'), maxTokenLength, 'connectionParams.authorization');
}

/** What we read of a socket.io handshake. */
export interface SocketIoHandshake {
  headers?: RequestWithHeaders['headers'];
  auth?: unknown;
}

/**
 * A socket.io handshake: `auth: { token }` (the raw token; `Bearer <token>` is accepted too) or the
 * Authorization header (Node clients: `extraHeaders`). Both at once are two tokens: 400. The
 * upgrade request, when given, lets a repeated Authorization header be seen.
 */
export function socketIoCredentials(handshake: SocketIoHandshake | undefined, request: RequestWithHeaders | undefined, maxTokenLength: number): RequestWithHeaders {
  const auth = handshake?.auth;
  const token = auth !== null && typeof auth === 'object' && Object.hasOwn(auth, 'token') ? (auth as { token: unknown }).token : undefined;
  const headers = request?.headers ?? handshake?.headers ?? {};
  if (token === undefined) return request && typeof request.headers === 'object' ? request : { headers };
  if (headers.authorization !== undefined) throw new InvalidRequestError('Send the token once: in auth.token or in the Authorization header');
  if (typeof token !== 'string') throw new InvalidRequestError("auth.token must be a string: the access token");
  return authorizationCredentials(/^bearer /i.test(token) ? token : `Bearer ${token}`, maxTokenLength, 'auth.token');
}
