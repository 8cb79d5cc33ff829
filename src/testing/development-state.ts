import type { DevelopmentKeys } from './development-keys.js';
import { MemoryStore } from './memory-store.js';
import { PERSISTENT_MODELS, writeStateFile, type DevelopmentProviderState } from './state-file.js';

/** The store every Provider instance shares, holding the clients and tokens a state file brought back. */
export function createDevelopmentStore(state?: DevelopmentProviderState): MemoryStore {
  const store = new MemoryStore(new Set(PERSISTENT_MODELS));
  for (const [model, entries] of Object.entries(state?.models ?? {})) store.restore(model, entries);
  return store;
}

/**
 * Saves keys and clients to the `stateFile` option (no-op without one), so `npm start` again
 * comes back with the same keys and clients. Reading happens in `start()`, before anything listens.
 */
export class DevelopmentStatePersistence {
  /** `store.trackedChanges` at the last save. */
  private savedChanges = -1;

  constructor(
    private readonly file: string | undefined,
    private readonly store: MemoryStore,
    private readonly keys: DevelopmentKeys,
    private readonly issuer: () => string,
  ) {}

  save(): void {
    if (!this.file) return;
    const models: DevelopmentProviderState['models'] = {};
    for (const model of PERSISTENT_MODELS) models[model] = this.store.snapshot(model);
    const changes = this.store.trackedChanges;
    writeStateFile(this.file, { ...this.keys.snapshot(), models, issuer: this.issuer() });
    this.savedChanges = changes;
  }

  /** Saves when a client or registration access token changed since the last save. */
  saveIfChanged(): void {
    if (this.file && this.store.trackedChanges !== this.savedChanges) this.save();
  }
}
