/**
 * The Redis commands this package uses, as ioredis 5 declares them. Typed structurally so that
 * the published declarations do not require ioredis (an optional peer dependency).
 */
export interface RedisClientLike {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<unknown>;
  set(key: string, value: string, px: 'PX', milliseconds: number, nx: 'NX'): Promise<'OK' | null>;
  del(...keys: string[]): Promise<number>;
  scan(cursor: string, match: 'MATCH', pattern: string, count: 'COUNT', n: number): Promise<[cursor: string, keys: string[]]>;
  eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
  quit(): Promise<unknown>;
}

/** What the command connection offers besides the credential store's commands. */
export interface RedisCommandClient extends RedisClientLike {
  mget(...keys: string[]): Promise<Array<string | null>>;
  ping(): Promise<string>;
}

/** Escapes Redis glob metacharacters so that a prefix is matched literally by SCAN MATCH. */
export function escapeGlob(text: string): string {
  return text.replace(/[\\*?[\]]/g, '\\$&');
}

/** Every key that starts with prefix, through SCAN (never KEYS, which blocks the server while it walks every key). */
export async function scanKeys(client: Pick<RedisClientLike, 'scan'>, prefix: string, batch = 500): Promise<string[]> {
  const pattern = `${escapeGlob(prefix)}*`;
  const found = new Set<string>(); // SCAN may return a key more than once
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', batch);
    for (const key of keys) found.add(key);
    cursor = next;
  } while (cursor !== '0');
  return [...found];
}
