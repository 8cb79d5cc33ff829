import type { CredentialReader } from './credential-reader.js';
import { graphqlReader } from './graphql.reader.js';
import { httpReader } from './http.reader.js';
import { rpcReader } from './rpc.reader.js';
import { wsReader } from './ws.reader.js';

const READERS: ReadonlyMap<string, CredentialReader> = new Map([httpReader, graphqlReader, wsReader, rpcReader].map((reader) => [reader.type, reader]));

/** The reader of a context type (`context.getType()`), or undefined for a type we cannot read (denied). */
export function credentialReader(type: string): CredentialReader | undefined {
  return READERS.get(type);
}
