import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { AdapterPayload } from 'oidc-provider';
import { exportSigningKey, importSigningKey, type DevelopmentSigningKey, type StoredSigningKey } from './keys.js';
import type { StoreEntry } from './memory-store.js';

/**
 * oidc-provider models kept in the state file: registered clients (their whole adapter payload,
 * secret included) and the RFC 7592 registration access tokens that manage them. Tokens, grants,
 * sessions and interactions are short-lived and start empty after a restart.
 */
export const PERSISTENT_MODELS: readonly string[] = Object.freeze(['Client', 'RegistrationAccessToken']);

const FORMAT = 'nestjs-identity/development-identity-provider-state';
const VERSION = 1;
const WARNING = 'Local development only: private signing keys and client secrets in plain text. Never use in production.';

/** What a development provider needs to come back with the same keys and clients. */
export interface DevelopmentProviderState {
  /** Every key (retired ones too, so `signingKeyMaterial(kid)` still works for them). */
  keys: DevelopmentSigningKey[];
  /** Kids in the JWKS. */
  published: string[];
  signingKid: string;
  /** Entries by model name, then by id. */
  models: Record<string, Record<string, StoreEntry>>;
  /** Informational only (the port is not restored: the `port` option decides). */
  issuer?: string;
}

interface StateFileJson {
  format: string;
  version: number;
  warning: string;
  savedAt: string;
  issuer?: string;
  keys: { signingKid: string; published: string[]; all: StoredSigningKey[] };
  models: Record<string, Record<string, StoreEntry>>;
}

function corrupt(path: string, reason: string): Error {
  return new Error(
    `DevelopmentIdentityProvider: the state file ${path} is corrupt (${reason}). ` +
      `Delete it to start over with new keys and clients (clients registered before must then register again).`,
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

/** Reads and checks a state file; undefined when there is none yet. */
export async function readStateFile(path: string): Promise<DevelopmentProviderState | undefined> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`DevelopmentIdentityProvider: cannot read the state file ${file}: ${(error as Error).message}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw corrupt(file, `not JSON: ${(error as Error).message}`);
  }
  return parseState(file, json);
}

function parseState(file: string, json: unknown): DevelopmentProviderState {
  if (!isObject(json) || json['format'] !== FORMAT) throw corrupt(file, `not a ${FORMAT} document`);
  if (json['version'] !== VERSION) throw corrupt(file, `unsupported version ${String(json['version'])}, expected ${VERSION}`);

  const keysJson = json['keys'];
  if (!isObject(keysJson) || !Array.isArray(keysJson['all']) || keysJson['all'].length === 0) throw corrupt(file, 'no keys');
  const keys: DevelopmentSigningKey[] = [];
  for (const stored of keysJson['all'] as unknown[]) {
    if (!isObject(stored) || typeof stored['kid'] !== 'string' || !isObject(stored['privateJwk'])) {
      throw corrupt(file, 'a key lacks its kid or private JWK');
    }
    try {
      keys.push(importSigningKey(stored as unknown as StoredSigningKey));
    } catch (error) {
      throw corrupt(file, `key ${stored['kid']} cannot be imported: ${(error as Error).message}`);
    }
  }
  const kids = new Set(keys.map((key) => key.kid));
  const published = keysJson['published'];
  const signingKid = keysJson['signingKid'];
  if (!isStringArray(published) || published.some((kid) => !kids.has(kid))) throw corrupt(file, 'published kids do not match the keys');
  if (typeof signingKid !== 'string' || !published.includes(signingKid)) throw corrupt(file, 'the signing kid is not published');
  if (keys.find((key) => key.kid === signingKid)!.alg !== 'RS256') throw corrupt(file, 'the signing key is not RS256');

  const modelsJson = json['models'];
  if (!isObject(modelsJson)) throw corrupt(file, 'no models');
  const models: Record<string, Record<string, StoreEntry>> = {};
  for (const model of PERSISTENT_MODELS) {
    const entries = modelsJson[model] ?? {};
    if (!isObject(entries)) throw corrupt(file, `models.${model} is not an object`);
    models[model] = {};
    for (const [id, entry] of Object.entries(entries)) {
      if (!isObject(entry) || !isObject(entry['payload'])) throw corrupt(file, `models.${model}.${id} has no payload`);
      const expiresAt = entry['expiresAt'];
      if (expiresAt !== undefined && typeof expiresAt !== 'number') throw corrupt(file, `models.${model}.${id}.expiresAt is not a number`);
      if (model === 'Client' && entry['payload']['client_id'] !== id) throw corrupt(file, `models.Client.${id} holds another client_id`);
      models[model][id] = { payload: entry['payload'] as AdapterPayload, ...(expiresAt === undefined ? {} : { expiresAt }) };
    }
  }
  const issuer = json['issuer'];
  return { keys, published: [...published], signingKid, models, ...(typeof issuer === 'string' ? { issuer } : {}) };
}

/**
 * Writes the state atomically (a temporary file in the same directory, fsync, rename) with mode
 * 0600; a missing directory is created with mode 0700. Synchronous, so that writes never interleave
 * and `retireKey()` can stay synchronous; the file is a few kilobytes.
 */
export function writeStateFile(path: string, state: DevelopmentProviderState): void {
  const file = resolve(path);
  const json: StateFileJson = {
    format: FORMAT,
    version: VERSION,
    warning: WARNING,
    savedAt: new Date().toISOString(),
    ...(state.issuer ? { issuer: state.issuer } : {}),
    keys: { signingKid: state.signingKid, published: [...state.published], all: state.keys.map(exportSigningKey) },
    models: state.models,
  };
  const text = `${JSON.stringify(json, null, 2)}\n`;
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fd = openSync(temporary, 'wx', 0o600);
    try {
      writeFileSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw new Error(`DevelopmentIdentityProvider: cannot write the state file ${file}: ${(error as Error).message}`, { cause: error });
  }
}
