import type { OpenAPIObject, OperationObject, ResponseObject, SecurityRequirementObject, SecuritySchemeObject } from '@nestjs/swagger';
import { authorize } from '../access/route-policy.js';
import type { RouteRequirement } from '../access/route-requirements.js';
import { IdentityHttpError } from '../errors/identity-http.error.js';
import type { Identity } from '../identity/identity.js';
import type { InventoriedRoute } from './route-inventory.js';
import type { RouteSecurity } from './route-security.js';

/** The OAuth 2.0 flows the `oauth2` scheme can offer. */
export type IdentityOAuthFlow = 'clientCredentials' | 'authorizationCode';

/** The operation extension listing what the guard checks (roles and kinds have no OpenAPI form). */
export const REQUIREMENTS_EXTENSION = 'x-identity-requirements';
/** The schema of our 401/403 bodies, under `components.schemas`. */
export const IDENTITY_ERROR_SCHEMA = 'IdentityError';

export interface IdentityDocumentContext {
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly tokenUrl?: string;
  readonly authorizationUrl?: string;
  readonly flows: readonly IdentityOAuthFlow[];
  readonly scopeDescriptions: Readonly<Record<string, string>>;
  readonly schemeNames: { readonly oauth2: string; readonly bearer: string };
}

/** Path item members that are not operations. */
const NOT_OPERATIONS = new Set(['$ref', 'summary', 'description', 'servers', 'parameters']);

/**
 * Adds the `oauth2` and `bearer` schemes and, on every operation that came from a marked route,
 * its security requirements and 401/403 responses; removes the marks. Responses the app already
 * documents (its own `@ApiResponse({ status: 401 })`) are kept, and so are security requirements
 * naming other schemes (an API key, say).
 */
export function applyIdentitySecurity(
  document: OpenAPIObject,
  markerKey: string,
  routeOf: (mark: unknown) => InventoriedRoute | undefined,
  context: IdentityDocumentContext,
): void {
  const flows = offeredFlows(context);
  const oauth2 = Object.keys(flows).length > 0 ? context.schemeNames.oauth2 : undefined;
  const usedBy = new Map<string, string[]>();
  let errorsDocumented = false;

  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const [method, value] of Object.entries(item as Record<string, unknown>)) {
      if (NOT_OPERATIONS.has(method) || typeof value !== 'object' || value === null) continue;
      const operation = value as OperationObject & Record<string, unknown>;
      const mark = operation[markerKey];
      delete operation[markerKey];
      const route = routeOf(mark);
      if (!route) continue;
      const { security } = route;
      if (security.access === 'open') continue;
      const others = (operation.security ?? []).filter((requirement) => !(context.schemeNames.bearer in requirement) && !(oauth2 !== undefined && oauth2 in requirement));
      if (security.access === 'public') {
        operation.security = others;
        continue;
      }
      operation.security = [...requirementsFor(security, oauth2, context.schemeNames.bearer), ...others];
      operation.responses ??= {};
      operation.responses['401'] ??= unauthorizedResponse();
      if (security.mayForbid) operation.responses['403'] ??= forbiddenResponse(security.requirements);
      operation[REQUIREMENTS_EXTENSION] = security.requirements.map((requirement) => ({ ...requirement }));
      errorsDocumented = true;
      const label = `${method.toUpperCase()} ${path}`;
      for (const scope of new Set(security.scopeSets.flat())) usedBy.set(scope, [...(usedBy.get(scope) ?? []), label]);
    }
  }
  for (const item of Object.values((document as { webhooks?: Record<string, unknown> }).webhooks ?? {})) {
    for (const value of Object.values(item as Record<string, unknown>)) if (typeof value === 'object' && value !== null) delete (value as Record<string, unknown>)[markerKey];
  }

  const components = (document.components ??= {});
  const schemes = (components.securitySchemes ??= {});
  schemes[context.schemeNames.bearer] = {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: `An access token (JWT) issued by ${context.issuer} for ${context.audiences.join(' or ')}.`,
  };
  if (oauth2) {
    const scopes = scopeList(usedBy, context.scopeDescriptions);
    const withScopes = Object.fromEntries(Object.entries(flows).map(([name, flow]) => [name, { ...flow, scopes: { ...scopes } }]));
    schemes[oauth2] = { type: 'oauth2', description: `The Identity provider at ${context.issuer}.`, flows: withScopes } as SecuritySchemeObject;
  }
  if (errorsDocumented) {
    const schemas = (components.schemas ??= {});
    schemas[IDENTITY_ERROR_SCHEMA] ??= {
      type: 'object',
      description: 'The body of a 401 or 403 answer; the WWW-Authenticate header carries the same error (RFC 6750).',
      required: ['statusCode', 'error', 'message'],
      properties: {
        statusCode: { type: 'integer', example: 401 },
        error: { type: 'string', description: 'The RFC 6750 error code: invalid_token, insufficient_scope, or unauthorized when no token was sent.', example: 'invalid_token' },
        message: { type: 'string', description: 'Why, in a short sentence (never token content).' },
      },
    };
  }
}

/** The flows, without their scopes, whose URLs are known. */
function offeredFlows(context: IdentityDocumentContext): Record<string, { tokenUrl: string; authorizationUrl?: string }> {
  const flows: Record<string, { tokenUrl: string; authorizationUrl?: string }> = {};
  if (!context.tokenUrl) return flows;
  if (context.flows.includes('clientCredentials')) flows['clientCredentials'] = { tokenUrl: context.tokenUrl };
  if (context.flows.includes('authorizationCode') && context.authorizationUrl) {
    flows['authorizationCode'] = { authorizationUrl: context.authorizationUrl, tokenUrl: context.tokenUrl };
  }
  return flows;
}

/**
 * One requirement object per alternative scope set (OpenAPI reads the list as "any one of"), then
 * `bearer`: a token pasted into Swagger UI works just as well as one obtained through a flow.
 */
function requirementsFor(security: RouteSecurity, oauth2: string | undefined, bearer: string): SecurityRequirementObject[] {
  const requirements: SecurityRequirementObject[] = oauth2 ? security.scopeSets.map((scopes) => ({ [oauth2]: [...scopes] })) : [];
  requirements.push({ [bearer]: [] });
  return requirements;
}

function scopeList(usedBy: ReadonlyMap<string, readonly string[]>, descriptions: Readonly<Record<string, string>>): Record<string, string> {
  const names = [...new Set([...usedBy.keys(), ...Object.keys(descriptions)])].sort();
  return Object.fromEntries(
    names.map((name) => {
      const operations = usedBy.get(name) ?? [];
      const fallback = operations.length === 0 ? name : `Required by ${operations.slice(0, 3).join(', ')}${operations.length > 3 ? ` and ${operations.length - 3} more` : ''}`;
      return [name, descriptions[name] ?? fallback];
    }),
  );
}

const ERROR_SCHEMA_REF = { $ref: `#/components/schemas/${IDENTITY_ERROR_SCHEMA}` };

function unauthorizedResponse(): ResponseObject {
  return {
    description: 'The Bearer access token is missing, invalid or expired.',
    headers: {
      'WWW-Authenticate': {
        description: 'The Bearer challenge, e.g. `Bearer realm="api", error="invalid_token", error_description="The access token expired"`.',
        schema: { type: 'string' },
      },
    },
    content: { 'application/json': { schema: ERROR_SCHEMA_REF, example: { statusCode: 401, error: 'unauthorized', message: 'A Bearer access token is required' } } },
  };
}

function forbiddenResponse(requirements: readonly RouteRequirement[]): ResponseObject {
  return {
    description: 'The token is valid but lacks a required scope, role or kind of identity (insufficient_scope).',
    headers: { 'WWW-Authenticate': { description: 'The Bearer challenge with `error="insufficient_scope"`.', schema: { type: 'string' } } },
    content: { 'application/json': { schema: ERROR_SCHEMA_REF, example: { statusCode: 403, error: 'insufficient_scope', message: forbiddenMessage(requirements) } } },
  };
}

/** The message the guard gives a token that holds nothing (no scope, no role, no kind): `authorize()`'s own words. */
function forbiddenMessage(requirements: readonly RouteRequirement[]): string {
  const nobody = { kind: undefined, scopes: new Set<string>(), roles: new Set<string>() } as unknown as Identity;
  try {
    authorize(nobody, requirements);
  } catch (error) {
    if (error instanceof IdentityHttpError) return error.description;
  }
  return 'Insufficient scope';
}
