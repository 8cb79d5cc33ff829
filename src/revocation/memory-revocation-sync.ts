import type { RevocationSync, RevocationSyncTarget } from './revocation-sync.js';

/** No shared copy: revocations live in this process only (no store configured). */
export class MemoryRevocationSync implements RevocationSync {
  readonly kind = 'memory' as const;

  async start(target: RevocationSyncTarget): Promise<void> {
    target.loaded([]);
  }

  async publish(): Promise<void> {}

  async withdraw(): Promise<void> {}

  async close(): Promise<void> {}
}
