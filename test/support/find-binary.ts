import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * The first executable among `override` (an environment variable's value), each of `names` on
 * PATH, then each of `names` in `systemDirs`; undefined when none is installed (tests then skip).
 */
export function findBinary(override: string | undefined, names: readonly string[], systemDirs: readonly string[] = ['/usr/bin']): string | undefined {
  const candidates = [
    override,
    ...(process.env.PATH ?? '').split(delimiter).filter(Boolean).flatMap((dir) => names.map((name) => join(dir, name))),
    ...systemDirs.flatMap((dir) => names.map((name) => join(dir, name))),
  ];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  return undefined;
}
