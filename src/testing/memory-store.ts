import type { Adapter, AdapterPayload } from 'oidc-provider';

export interface StoreEntry {
  payload: AdapterPayload;
  /** Epoch milliseconds; undefined = never expires. */
  expiresAt?: number;
}

/** Models whose deletions are remembered, so a revoked JWT reference cannot be re-created. */
const REVOCABLE_MODELS = new Set(['AccessToken', 'ClientCredentials']);

/**
 * In-memory storage for oidc-provider models that outlives any one `Provider` instance: key
 * rotation builds a new Provider behind the same HTTP server, and registered clients, registration
 * access tokens and grants must survive that. One store per development provider, so two providers
 * in one process never share state (oidc-provider's own memory adapter is process-global).
 */
export class MemoryStore {
  private readonly entries = new Map<string, StoreEntry>();
  private readonly revoked = new Set<string>();
  private changes = 0;

  /** `trackedModels`: models whose writes and deletions bump `trackedChanges` (what the state file keeps). */
  constructor(private readonly trackedModels: ReadonlySet<string> = new Set()) {}

  /** Increases on every write or deletion of a tracked model, so callers can tell whether to save. */
  get trackedChanges(): number {
    return this.changes;
  }

  /** The `adapter` option for oidc-provider: one adapter per model name, all backed by this store. */
  readonly adapterFactory = (model: string): Adapter => new MemoryAdapter(model, this);

  get(model: string, id: string): AdapterPayload | undefined {
    const key = `${model}:${id}`;
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  set(model: string, id: string, payload: AdapterPayload, expiresInSeconds?: number): void {
    const expiresAt = typeof expiresInSeconds === 'number' ? Date.now() + expiresInSeconds * 1000 : undefined;
    this.entries.set(`${model}:${id}`, { payload, expiresAt });
    this.touched(model);
  }

  delete(model: string, id: string): void {
    if (this.entries.delete(`${model}:${id}`)) this.touched(model);
    if (REVOCABLE_MODELS.has(model)) this.revoked.add(`${model}:${id}`);
  }

  /** True once an access token with this id was destroyed (revoked) through oidc-provider. */
  wasRevoked(model: string, id: string): boolean {
    return this.revoked.has(`${model}:${id}`);
  }

  /** Live payloads of one model (expired ones are skipped). */
  *values(model: string): Generator<[string, AdapterPayload]> {
    const prefix = `${model}:`;
    for (const key of [...this.entries.keys()]) {
      if (!key.startsWith(prefix)) continue;
      const id = key.slice(prefix.length);
      const payload = this.get(model, id);
      if (payload) yield [id, payload];
    }
  }

  deleteWhere(predicate: (payload: AdapterPayload) => boolean): void {
    for (const [key, entry] of this.entries) {
      if (!predicate(entry.payload)) continue;
      this.entries.delete(key);
      this.touched(key.slice(0, key.indexOf(':')));
    }
  }

  /** Live entries of one model, copied (for the state file). */
  snapshot(model: string): Record<string, StoreEntry> {
    const result: Record<string, StoreEntry> = {};
    for (const [id] of this.values(model)) {
      const entry = this.entries.get(`${model}:${id}`)!;
      result[id] = structuredClone(entry.expiresAt === undefined ? { payload: entry.payload } : entry);
    }
    return result;
  }

  /** Puts back entries taken by `snapshot` (expired ones are dropped). Not counted as a change. */
  restore(model: string, entries: Record<string, StoreEntry>): void {
    const now = Date.now();
    for (const [id, entry] of Object.entries(entries)) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) continue;
      this.entries.set(`${model}:${id}`, structuredClone(entry));
    }
  }

  private touched(model: string): void {
    if (this.trackedModels.has(model)) this.changes += 1;
  }
}

class MemoryAdapter implements Adapter {
  constructor(
    private readonly model: string,
    private readonly store: MemoryStore,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    this.store.set(this.model, id, payload, expiresIn);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.store.get(this.model, id);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    for (const [, payload] of this.store.values(this.model)) {
      if (payload.userCode === userCode) return payload;
    }
    return undefined;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    for (const [, payload] of this.store.values(this.model)) {
      if (payload.uid === uid) return payload;
    }
    return undefined;
  }

  async consume(id: string): Promise<void> {
    const payload = this.store.get(this.model, id);
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    this.store.delete(this.model, id);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    this.store.deleteWhere((payload) => payload.grantId === grantId);
  }
}
