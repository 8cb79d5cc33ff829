import { BadRequestException } from '@nestjs/common';
import type { CreateServiceAccountInput } from './service-account-provider.js';

/** What creating a service account takes, after validation: what the provider is given. */
export type ServiceAccountInput = CreateServiceAccountInput;

/** A request body or id that cannot be used. 400, naming the field and what is expected. */
export class ServiceAccountInputError extends BadRequestException {
  constructor(readonly field: string, problem: string) {
    super({ statusCode: 400, error: 'invalid_request', message: `${field} ${problem}`, field });
  }
}

const FIELDS = ['name', 'scopes', 'audience'];
/** A provider-issued client id: base64url-ish, never a path or a key separator. */
const CLIENT_ID = /^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127}$/;
/** A human name, unique among the accounts this API manages. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/;
/** RFC 6749 §3.3 scope-token. */
const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;
const MAX_SCOPES = 50;
const MAX_AUDIENCE = 2048;

export function isClientId(value: unknown): value is string {
  return typeof value === 'string' && CLIENT_ID.test(value) && !value.includes('..');
}

function isName(value: unknown): value is string {
  return typeof value === 'string' && NAME.test(value) && !value.includes('..');
}

/** Validates a create body by hand: a plain JSON object with exactly the known fields. */
export function parseServiceAccountInput(body: unknown, supportedScopes: readonly string[] = []): ServiceAccountInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ServiceAccountInputError('body', 'must be a JSON object such as {"name":"orders-worker","scopes":["orders:read"],"audience":"https://api.example.com"}');
  }
  const prototype = Object.getPrototypeOf(body);
  if (prototype !== Object.prototype && prototype !== null) throw new ServiceAccountInputError('body', 'must be a plain JSON object');
  for (const key of Reflect.ownKeys(body)) {
    // JSON.parse makes "__proto__" an own key: it lands here as an unknown field.
    if (typeof key !== 'string' || !FIELDS.includes(key)) {
      throw new ServiceAccountInputError(typeof key === 'string' && key.length <= 64 ? JSON.stringify(key) : 'body', `is not a known field; allowed: ${FIELDS.join(', ')}`);
    }
  }
  const { name, scopes, audience } = body as Record<string, unknown>;
  if (typeof name !== 'string') throw new ServiceAccountInputError('name', 'is required: a string such as "orders-worker"');
  if (!isName(name)) throw new ServiceAccountInputError('name', 'must be 1-100 characters: letters, digits, space, ".", "_" or "-" (no ".."), starting with a letter or digit');
  return { name, scopes: parseScopes(scopes, supportedScopes), ...(audience === undefined ? {} : { audience: parseAudience(audience) }) };
}

function parseScopes(scopes: unknown, supported: readonly string[]): string[] {
  if (!Array.isArray(scopes) || scopes.length === 0) throw new ServiceAccountInputError('scopes', 'is required: a non-empty array of scope strings such as ["orders:read"]');
  if (scopes.length > MAX_SCOPES) throw new ServiceAccountInputError('scopes', `may list at most ${MAX_SCOPES} scopes`);
  scopes.forEach((scope, index) => {
    if (typeof scope !== 'string' || !SCOPE.test(scope)) {
      throw new ServiceAccountInputError(`scopes[${index}]`, 'must be a scope token: 1-128 printable ASCII characters without spaces, quotes or backslashes');
    }
    if (supported.length > 0 && !supported.includes(scope)) {
      throw new ServiceAccountInputError(`scopes[${index}]`, `"${scope}" is not a scope the Identity provider supports (supported: ${supported.join(' ')})`);
    }
  });
  if (new Set(scopes).size !== scopes.length) throw new ServiceAccountInputError('scopes', 'lists a scope twice');
  return [...(scopes as string[])];
}

function parseAudience(audience: unknown): string {
  if (typeof audience !== 'string' || audience.length === 0 || audience.length > MAX_AUDIENCE || !URL.canParse(audience) || audience.includes('#')) {
    throw new ServiceAccountInputError('audience', 'must be an absolute URI without a fragment, such as "https://api.example.com"');
  }
  return audience;
}

/** A client id or an account name from a URL path or the command line; never used unchecked as a store key. */
export function parseServiceAccountRef(raw: unknown, field = 'id'): string {
  if (isClientId(raw) || isName(raw)) return raw;
  throw new ServiceAccountInputError(field, 'must be a client id (letters, digits, ".", "_", "~", "-"; at most 128) or an account name');
}

/** The optional body of a rotate request (Express gives {} without a body, Fastify undefined). */
export interface RotateRequest {
  /** Revoke the account's outstanding tokens (issued before the rotation). Default true; false for a planned rotation. */
  revokeTokens: boolean;
  /** Ask the provider to end the previous secret now rather than after its grace window. Default false. */
  invalidatePrevious: boolean;
}

const ROTATE_FIELDS = ['revokeTokens', 'invalidatePrevious'] as const;
type RotateField = (typeof ROTATE_FIELDS)[number];

/**
 * `{ revokeTokens?: boolean, invalidatePrevious?: boolean }`, or no body at all. Anything else is
 * a 400 naming the field. `allowed` narrows the fields (the API's own client takes no revokeTokens).
 */
export function parseRotateRequest(body: unknown, allowed: readonly RotateField[] = ROTATE_FIELDS): RotateRequest {
  const request: RotateRequest = { revokeTokens: true, invalidatePrevious: false };
  if (body === undefined || body === null) return request;
  if (typeof body !== 'object' || Array.isArray(body)) throw new ServiceAccountInputError('body', 'must be a JSON object such as {"revokeTokens": false}');
  for (const key of Reflect.ownKeys(body)) {
    if (typeof key !== 'string' || !(allowed as readonly string[]).includes(key)) {
      throw new ServiceAccountInputError(typeof key === 'string' ? key.replace(/[^\x20-\x7E]/g, '').slice(0, 40) : 'body', `is not a rotate option here (allowed: ${allowed.join(', ')})`);
    }
    const value = (body as Record<string, unknown>)[key];
    if (typeof value !== 'boolean') throw new ServiceAccountInputError(key, 'must be true or false');
    request[key as RotateField] = value;
  }
  return request;
}
