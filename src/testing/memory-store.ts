import type { Adapter, AdapterPayload } from 'oidc-provider';

interface Entry {
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
  private readonly entries = new Map<string, Entry>();
  private readonly revoked = new Set<string>();

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
  }

  delete(model: string, id: string): void {
    this.entries.delete(`${model}:${id}`);
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
      if (predicate(entry.payload)) this.entries.delete(key);
    }
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
