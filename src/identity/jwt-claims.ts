/** The verified JWT payload. Values are untrusted in shape: read them through claim-path helpers. */
export type JwtClaims = Readonly<Record<string, unknown>>;

/**
 * A reader of one claim path. A path is first tried as a literal top-level key (so namespaced
 * claims such as `https://example.com/roles` work), then as a dot path (`user.roles`). Only own
 * properties are followed: `constructor` or `__proto__` never reach a prototype. Compiled once
 * (the claim presets keep their readers), so the path is not split on every token.
 */
export function claimPathReader(path: string): (claims: unknown) => unknown {
  const segments = path.split('.');
  if (segments.length === 1) return (claims) => (isRecord(claims) && Object.hasOwn(claims, path) ? claims[path] : undefined);
  return (claims) => {
    if (!isRecord(claims)) return undefined;
    if (Object.hasOwn(claims, path)) return claims[path];
    let current: unknown = claims;
    for (const segment of segments) {
      if (!isRecord(current) || !Object.hasOwn(current, segment)) return undefined;
      current = current[segment];
    }
    return current;
  };
}

/** Reads a claim by path, once (see claimPathReader). */
export function readClaim(claims: unknown, path: string): unknown {
  return claimPathReader(path)(claims);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A non-empty string, or undefined. */
export function asString(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/**
 * A list of names from a claim: a space-separated string (OAuth `scope`) or an array of strings.
 * Each element is one name: an array element holding "a b" is refused as a whole rather than
 * split, so a provider cannot smuggle two scopes into one entry. Tabs and commas are not separators.
 */
export function asNameList(value: unknown): string[] {
  if (typeof value === 'string') return value.split(' ').filter((name) => name.length > 0 && isName(name));
  if (Array.isArray(value)) return value.filter((name): name is string => typeof name === 'string' && name.length > 0 && isName(name));
  return [];
}

/** RFC 6749 scope-token characters (%x21 / %x23-5B / %x5D-7E): no spaces, quotes or backslashes. */
function isName(name: string): boolean {
  return /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(name);
}

/** Claims only ID tokens carry (OIDC Core §3.1.3.6, §3.3.2.11, FAPI `s_hash`). */
const ID_TOKEN_HASH_CLAIMS = ['at_hash', 'c_hash', 's_hash'] as const;
/** Keycloak's own payload `typ` values of tokens that are not access tokens. */
const NON_ACCESS_PAYLOAD_TYPES = new Set(['id', 'refresh', 'offline', 'logout']);

/**
 * Cross-JWT confusion defence (RFC 8725 §2.8, §3.11): the reason a claims set is shaped like
 * another kind of JWT than an access token, or undefined when it may be one. Applied to every
 * token, whatever its `typ` header says, because providers sign ID tokens with the same keys and
 * often the same `typ: JWT`:
 *
 * - `events`: a Security Event Token (RFC 8417), e.g. an OIDC back-channel logout token;
 * - `at_hash`, `c_hash`, `s_hash`: hashes that only ID tokens carry;
 * - `nonce`: the ID token's replay value. Older Keycloak versions copied it into access tokens too
 *   (keycloak/keycloak#26893), so it is accepted when the token says it is an access token:
 *   `typ: at+jwt` (RFC 9068) or Keycloak's payload `typ: "Bearer"`;
 * - a Keycloak payload `typ` of "ID", "Refresh", "Offline" or "Logout".
 */
export function nonAccessTokenMarker(claims: Record<string, unknown>, typedAsAccessToken: boolean): string | undefined {
  if (Object.hasOwn(claims, 'events')) return 'events';
  for (const claim of ID_TOKEN_HASH_CLAIMS) if (Object.hasOwn(claims, claim)) return claim;
  const payloadTyp = Object.hasOwn(claims, 'typ') ? claims.typ : undefined;
  if (typeof payloadTyp === 'string' && NON_ACCESS_PAYLOAD_TYPES.has(payloadTyp.toLowerCase())) return 'typ';
  if (Object.hasOwn(claims, 'nonce') && !typedAsAccessToken && !(typeof payloadTyp === 'string' && payloadTyp.toLowerCase() === 'bearer')) return 'nonce';
  return undefined;
}

/**
 * A list of role (or group) names. Roles are multi-valued (RFC 9068 §2.2.3.1 defers to SCIM: a
 * JSON array); unlike `scope` a string is not a space-separated list: it counts as one role when
 * it is a single name, and as none when it holds several ("viewer admin" grants neither), the
 * same way an array element holding two names is refused.
 */
export function asRoleList(value: unknown): string[] {
  if (typeof value === 'string') return value.length > 0 && isName(value) ? [value] : [];
  return asNameList(value);
}
