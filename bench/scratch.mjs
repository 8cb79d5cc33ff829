// A throwaway working directory for bench processes. Apps without a configured store keep their
// last good metadata and JWKS in `.identity/` under the working directory: run from the
// repository, the benchmarks would leave that file there, and the next app or test run started
// from the repository would boot from it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The working directory this process started in (paths given on the command line are relative to it). */
export const launchDir = process.cwd();

/** Creates the directory (removed when this process exits) and returns its path. */
export function scratchDir() {
  const dir = mkdtempSync(join(tmpdir(), 'nestjs-identity-bench-'));
  process.on('exit', () => {
    // An app's last-good write may still be landing from a worker thread: retry, and never fail the run over a temp dir.
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    } catch {}
  });
  return dir;
}

/** Moves this process into a fresh scratch directory (for tools that build apps in-process). */
export function useScratchDir() {
  const dir = scratchDir();
  process.chdir(dir);
  return dir;
}
