/** The verified JWT payload. Values are untrusted in shape: read them through claim-path helpers. */
export type JwtClaims = Readonly<Record<string, unknown>>;

/**
 * Reads a claim by path. A path is first tried as a literal top-level key (so namespaced claims
 * such as `https://example.com/roles` work), then as a dot path (`user.roles`). Only own
 * properties are followed: `constructor` or `__proto__` never reach a prototype.
 */
export function readClaim(claims: unknown, path: string): unknown {
  if (!isRecord(claims)) return undefined;
  if (Object.hasOwn(claims, path)) return claims[path];
  let current: unknown = claims;
  for (const segment of path.split('.')) {
    if (!isRecord(current) || !Object.hasOwn(current, segment)) return undefined;
    current = current[segment];
  }
  return current;
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
