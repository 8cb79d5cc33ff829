import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KNOWN_OPTIONS, MODULE_EXTRAS, type ObjectSchema } from './known-options.js';

/** The keys of an interface in identity-options.ts, read from its source: a second check beside the compiler's. */
function interfaceKeys(name: string): string[] {
  const source = readFileSync(new URL('../identity-options.ts', import.meta.url), 'utf8');
  const body = new RegExp(`export interface ${name} \\{([\\s\\S]*?)\\n\\}`).exec(source)?.[1];
  if (!body) throw new Error(`interface ${name} not found`);
  // Top-level members only: two spaces of indentation.
  return [...body.matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1]!);
}

const child = (schema: ObjectSchema, key: string) => schema.keys[key]!;

describe('KNOWN_OPTIONS', () => {
  it('lists exactly the options of IdentityModuleOptions', () => {
    expect(Object.keys(KNOWN_OPTIONS.keys).sort()).toEqual(interfaceKeys('IdentityModuleOptions').sort());
  });

  it('lists the nested options of the interfaces they come from', () => {
    const client = child(KNOWN_OPTIONS, 'client') as ObjectSchema;
    expect(Object.keys(client.keys).sort()).toEqual(interfaceKeys('IdentityClientOptions').sort());
    const revocation = child(KNOWN_OPTIONS, 'revocation') as ObjectSchema;
    expect(Object.keys(revocation.keys).sort()).toEqual(interfaceKeys('RevocationOptions').sort());
    const autoProvision = child(KNOWN_OPTIONS, 'autoProvision');
    expect(autoProvision.kind === 'oneOf' && autoProvision.members.map((m) => m.kind)).toEqual(['boolean', 'object']);
  });

  it('keeps instances and the metadata option opaque', () => {
    expect(child(KNOWN_OPTIONS, 'metadata').kind).toBe('opaque');
    expect(child(KNOWN_OPTIONS, 'serviceAccountProvider').kind).toBe('instance');
    for (const key of ['store', 'audit']) {
      const schema = child(KNOWN_OPTIONS, key);
      expect(schema.kind === 'oneOf' && schema.members.some((m) => m.kind === 'instance'), key).toBe(true);
    }
  });

  it('keeps forRootAsync extras out of the options', () => {
    for (const extra of Object.keys(MODULE_EXTRAS)) expect(KNOWN_OPTIONS.keys).not.toHaveProperty(extra);
  });
});
