import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** Packages an app may not have: never imported at load time by the library (types and dynamic import() only). */
const OPTIONAL = ['graphql', 'graphql-ws', '@nestjs/graphql', '@nestjs/apollo', '@nestjs/mercurius', '@nestjs/websockets', '@nestjs/microservices', '@nestjs/platform-socket.io', '@nestjs/platform-ws', 'socket.io', 'ws'];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'testing' ? [] : sources(path);
    return path.endsWith('.ts') && !path.endsWith('.spec.ts') ? [path] : [];
  });
}

describe('optional peers', () => {
  it('are never imported statically by the library (an app without them still starts)', () => {
    const src = fileURLToPath(new URL('../../', import.meta.url));
    const offenders: string[] = [];
    for (const file of sources(src)) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/^\s*(import|export)\s+(?!type\b)[^;]*?from\s+'([^']+)'/gm)) {
        const specifier = match[2]!;
        if (OPTIONAL.some((name) => specifier === name || specifier.startsWith(`${name}/`))) offenders.push(`${file}: ${specifier}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
