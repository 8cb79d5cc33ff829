import { IdentityConfigurationError } from '../errors/identity-configuration.error.js';
import { KNOWN_OPTIONS, MODULE_EXTRAS, type ObjectSchema, type OptionSchema } from './known-options.js';

/** A suggestion is offered up to this many edits away (and at most half the length of what was typed). */
const MAX_SUGGESTION_DISTANCE = 3;

const ENV_BOOLEAN_HINT =
  "values read from environment variables are strings: convert it, e.g. process.env.X === 'true' (or config.get('X') === 'true'), or let your ConfigModule validation convert it (Joi.boolean(), zod's z.stringbool())";
const ENV_NUMBER_HINT = 'values read from environment variables are strings: convert it, e.g. Number(process.env.X), or let your ConfigModule validation convert it (Joi.number(), zod\'s z.coerce.number())';

/**
 * Refuses, at boot, options that IdentityModule would otherwise ignore or misread: a key it does
 * not know at any level (misspelt, or from a newer release), naming the key path and the closest
 * known name; and a value of the wrong type (`require: 'false'` from an environment variable is a
 * string, which counted as true). Values themselves (ranges, URLs, algorithms...) are left to
 * resolveIdentityOptions. Anything that is not an object is left to resolveIdentityOptions too.
 * Throws IdentityConfigurationError; messages hold key names, never a value that could be secret.
 */
export function assertKnownOptions(options: unknown, schema: ObjectSchema = KNOWN_OPTIONS): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) return;
  for (const key of Object.keys(options)) {
    if (!Object.hasOwn(schema.keys, key) && Object.hasOwn(MODULE_EXTRAS, key)) {
      throw new IdentityConfigurationError(key, MODULE_EXTRAS[key]!);
    }
  }
  checkObject(options as Record<string, unknown>, schema, '', schema);
}

/** Where an object sits, for messages: its path, and for a variant of a tagged union, which one. */
interface Place {
  readonly label: string;
  readonly union?: { readonly tag: string; readonly variants: Readonly<Record<string, ObjectSchema>> };
}

function checkObject(value: Record<string, unknown>, schema: ObjectSchema, path: string, root: ObjectSchema, place: Place = { label: `"${path}"` }): void {
  for (const key of Object.keys(value)) {
    const child = Object.hasOwn(schema.keys, key) ? schema.keys[key] : undefined;
    const keyPath = path ? `${path}.${key}` : key;
    if (child === undefined) throw unknownKey(key, keyPath, schema, path, root, place);
    check(value[key], child, keyPath, root);
  }
}

function check(value: unknown, schema: OptionSchema, path: string, root: ObjectSchema): void {
  // Left out: the default applies. (null is not "left out": it is refused below, with that advice.)
  if (value === undefined) return;
  switch (schema.kind) {
    case 'opaque':
      return;
    case 'object':
      if (!isRecord(value)) throw wrongType(path, schema, value);
      return checkObject(value, schema, path, root);
    case 'tagged': {
      if (!isRecord(value)) throw wrongType(path, schema, value);
      const tag = value[schema.tag];
      const variant = typeof tag === 'string' && Object.hasOwn(schema.variants, tag) ? schema.variants[tag] : undefined;
      if (variant === undefined) {
        const names = Object.keys(schema.variants);
        const close = typeof tag === 'string' ? closest(tag, names) : undefined;
        throw new IdentityConfigurationError(
          `${path}.${schema.tag}`,
          `must be ${names.map((n) => JSON.stringify(n)).join(' or ')}, got ${describe(tag, false)}${close ? `; did you mean "${close}"?` : ''}`,
        );
      }
      return checkObject(value, variant, path, root, { label: `"${path}" with ${schema.tag}: ${JSON.stringify(tag)}`, union: schema });
    }
    case 'oneOf': {
      // An object with methods is the instance, when the union has one; otherwise the first shape that fits.
      const member = schema.members.find((m) => m.kind === 'instance' && isInstance(value)) ?? schema.members.find((m) => m.kind !== 'instance' && fits(value, m));
      if (member === undefined) throw wrongType(path, schema, value);
      return check(value, member, path, root);
    }
    default:
      if (!fits(value, schema)) throw wrongType(path, schema, value);
  }
}

/** Whether a value has the shape of a schema (before its keys are checked). */
function fits(value: unknown, schema: OptionSchema): boolean {
  switch (schema.kind) {
    case 'boolean':
      return typeof value === 'boolean';
    case 'number':
      return typeof value === 'number';
    case 'string':
      return typeof value === 'string';
    case 'strings':
      return Array.isArray(value) && value.every((item) => typeof item === 'string');
    case 'false':
      return value === false;
    case 'opaque':
      return true;
    case 'instance':
      return isInstance(value);
    case 'object':
    case 'tagged':
      return isRecord(value);
    case 'oneOf':
      return schema.members.some((m) => fits(value, m));
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A CredentialStore, AuditSink or ServiceAccountProvider: an object with a method, own (an object
 * literal with functions) or inherited (a class instance). Plain option objects hold only data.
 */
function isInstance(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  for (let o: object | null = value; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (name === 'constructor') continue;
      const descriptor = Object.getOwnPropertyDescriptor(o, name);
      if (descriptor && typeof descriptor.value === 'function') return true;
    }
  }
  return false;
}

function expected(schema: OptionSchema): string {
  switch (schema.kind) {
    case 'boolean':
      return 'true or false';
    case 'number':
      return 'a number';
    case 'string':
      return 'a string';
    case 'strings':
      return 'an array of strings';
    case 'false':
      return 'false';
    case 'opaque':
    case 'instance':
      return schema.what;
    case 'object':
      return `an object { ${Object.keys(schema.keys).join(', ')} }`;
    case 'tagged':
      return Object.entries(schema.variants)
        .map(([name, variant]) => `{ ${Object.keys(variant.keys).map((k) => (k === schema.tag ? `${k}: ${JSON.stringify(name)}` : k)).join(', ')} }`)
        .join(' or ');
    case 'oneOf': {
      const parts = schema.members.map(expected);
      return parts.length <= 2 ? parts.join(' or ') : `${parts.slice(0, -1).join(', ')} or ${parts.at(-1)}`;
    }
  }
}

/** What was given, in safe words: short strings are shown (they are "false", "30"...), longer ones only by length. */
function describe(value: unknown, showStrings: boolean): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return showStrings && value.length <= 16 ? `the string ${JSON.stringify(value)}` : `a string of ${value.length} characters`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'function') return 'a function';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function accepts(schema: OptionSchema, kind: 'boolean' | 'false' | 'number' | 'strings'): boolean {
  return schema.kind === kind || (schema.kind === 'oneOf' && schema.members.some((m) => m.kind === kind));
}

function wrongType(path: string, schema: OptionSchema, value: unknown): IdentityConfigurationError {
  const boolish = accepts(schema, 'boolean') || accepts(schema, 'false');
  const scalar = boolish || accepts(schema, 'number');
  let message = `must be ${expected(schema)}, got ${describe(value, scalar)}`;
  if (value === null) message += '; leave the option out (or undefined) for its default';
  else if (typeof value === 'string' && boolish) message += `; ${ENV_BOOLEAN_HINT}`;
  else if (typeof value === 'string' && accepts(schema, 'number')) message += `; ${ENV_NUMBER_HINT}`;
  else if (typeof value === 'string' && accepts(schema, 'strings')) message += '; a list read from an environment variable is one string: split it, e.g. value.split(",")';
  return new IdentityConfigurationError(path, message);
}

function unknownKey(key: string, keyPath: string, schema: ObjectSchema, parentPath: string, root: ObjectSchema, place: Place): IdentityConfigurationError {
  const { label, union } = place;
  const where = parentPath ? `an option of ${label}` : 'an option of IdentityModule';
  const sibling = closest(key, Object.keys(schema.keys));
  const otherVariants = union ? Object.entries(union.variants).filter(([, variant]) => variant !== schema && Object.hasOwn(variant.keys, key)) : [];
  let advice: string;
  if (sibling !== undefined) {
    advice = `did you mean "${parentPath ? `${parentPath}.${sibling}` : sibling}"?`;
  } else if (otherVariants.length > 0) {
    advice = `it applies to ${otherVariants.map(([name]) => `${union!.tag}: ${JSON.stringify(name)}`).join(' or ')}; the options of ${label} are ${Object.keys(schema.keys).join(', ')}`;
  } else {
    // The same name at another level: a nested option given at the top (timeoutMs for http.timeoutMs), or a top-level one nested.
    const elsewhere = pathsNamed(key, root).filter((p) => p !== keyPath && (!parentPath || !p.includes('.')));
    advice =
      elsewhere.length > 0
        ? `did you mean ${elsewhere.map((p) => `"${p}"`).join(' or ')}?`
        : parentPath
          ? `the options of ${label} are ${Object.keys(schema.keys).join(', ')}`
          : 'see IdentityModuleOptions for the options this version knows';
  }
  return new IdentityConfigurationError(
    keyPath,
    `is not ${where}; ${advice} (A misspelt option, or one from a newer release of nestjs-identity, would otherwise be ignored.)`,
  );
}

/** The known name closest to what was typed, if it is close enough. */
export function closest(typed: string, known: readonly string[]): string | undefined {
  const limit = Math.min(MAX_SUGGESTION_DISTANCE, Math.max(1, Math.ceil(typed.length / 2)));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const distance = name.toLowerCase() === typed.toLowerCase() ? 0 : levenshtein(typed, name);
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return bestDistance <= limit ? best : undefined;
}

/** Edit distance (insertions, deletions, substitutions), case-sensitive. */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  // Names longer than this are no option name: no need to spend time on them.
  if (a.length > 100 || b.length > 100) return Math.max(a.length, b.length);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** Paths of known options (at any level) with this name, ignoring case: `timeoutMs` at the top is `http.timeoutMs`. */
function pathsNamed(name: string, schema: OptionSchema, path = ''): string[] {
  const lower = name.toLowerCase();
  const found: string[] = [];
  const objects: Array<[ObjectSchema, string]> = [];
  const collect = (s: OptionSchema, p: string) => {
    if (s.kind === 'object') objects.push([s, p]);
    else if (s.kind === 'tagged') for (const variant of Object.values(s.variants)) objects.push([variant, p]);
    else if (s.kind === 'oneOf') for (const m of s.members) collect(m, p);
  };
  collect(schema, path);
  for (const [object, objectPath] of objects) {
    for (const [key, child] of Object.entries(object.keys)) {
      const keyPath = objectPath ? `${objectPath}.${key}` : key;
      if (key.toLowerCase() === lower && !found.includes(keyPath)) found.push(keyPath);
      for (const deeper of pathsNamed(name, child, keyPath)) if (!found.includes(deeper)) found.push(deeper);
    }
  }
  return found;
}
