import { userInfo } from 'node:os';
import { DEFAULT_CREDENTIAL_STORE_PATH } from '../client/credential-store.factory.js';
import type { CredentialStoreOption, IdentityModuleOptions, TokenEndpointAuthMethod } from '../identity-options.js';

/** Bad flags or environment: exit code 2, with a message that names the fix. */
export class CliUsageError extends Error {
  override readonly name = 'CliUsageError';
}

/** The global flags, as commander parses them. */
export interface GlobalFlags {
  url?: string;
  issuer?: string;
  apiAudience?: string;
  store?: string;
  redirectUri?: string;
  auditFile?: string;
  allowInsecureHttp?: boolean;
  actor?: string;
  json?: boolean;
  verbose?: boolean;
}

export type Env = Record<string, string | undefined>;

/** Every environment variable the CLI reads (secrets only from here: flags show up in `ps`). */
export const ENVIRONMENT = [
  ['IDENTITY_URL', 'Identity base URL (like --url)'],
  ['IDENTITY_ISSUER', 'expected issuer, when it differs from the URL (like --issuer)'],
  ['IDENTITY_AUDIENCE', "the API's own audience (like --api-audience; default: the URL)"],
  ['IDENTITY_STORE', `credential store: a file path or a redis:// URL (like --store; default ${DEFAULT_CREDENTIAL_STORE_PATH})`],
  ['IDENTITY_ENCRYPTION_KEY', '32 random bytes, base64 or hex: seals secrets at rest (required for service accounts)'],
  ['IDENTITY_CLIENT_ID', "the API's own client id, for doctor (else the stored, auto-provisioned client)"],
  ['IDENTITY_CLIENT_SECRET', "the API's own client secret"],
  ['IDENTITY_TOKEN_ENDPOINT_AUTH_METHOD', 'client_secret_basic or client_secret_post'],
  ['IDENTITY_REDIRECT_URI', 'redirect URI sent with registrations (upstream s3db requires one; like --redirect-uri)'],
  ['IDENTITY_AUDIT_FILE', 'audit log path (like --audit-file; default audit.log beside a file store)'],
  ['IDENTITY_ALLOW_INSECURE_HTTP', 'true/1 allows http:// outside loopback (development only)'],
  ['IDENTITY_ACTOR', 'who to name in audit events (like --actor; default cli:<user>)'],
] as const;

function truthy(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes|on)$/i.test(value.trim());
}

function pick(flag: string | undefined, env: string | undefined): string | undefined {
  const value = flag ?? env;
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** A file path, or a redis:// / rediss:// URL. */
function storeOption(value: string): CredentialStoreOption {
  return /^rediss?:\/\//i.test(value) ? { type: 'redis', url: value } : { type: 'file', path: value };
}

/** Who the audit log names for this run. */
export function cliActor(flags: GlobalFlags, env: Env): string {
  const explicit = pick(flags.actor, env.IDENTITY_ACTOR);
  if (explicit) return `cli:${explicit}`;
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli:unknown';
  }
}

/**
 * Module options for a CLI run. `require` is off so that a broken provider or client is reported
 * by the command (doctor lists it) instead of aborting the boot; commands check what they need.
 */
export function cliModuleOptions(flags: GlobalFlags, env: Env): IdentityModuleOptions {
  const url = pick(flags.url, env.IDENTITY_URL);
  if (!url) throw new CliUsageError('the Identity URL is required: pass --url https://auth.example.com or set IDENTITY_URL');
  const method = pick(undefined, env.IDENTITY_TOKEN_ENDPOINT_AUTH_METHOD);
  const clientId = pick(undefined, env.IDENTITY_CLIENT_ID);
  const clientSecret = pick(undefined, env.IDENTITY_CLIENT_SECRET);
  const redirectUri = pick(flags.redirectUri, env.IDENTITY_REDIRECT_URI);
  const auditFile = pick(flags.auditFile, env.IDENTITY_AUDIT_FILE);
  return {
    url,
    issuer: pick(flags.issuer, env.IDENTITY_ISSUER),
    // The CLI verifies no tokens; the module still wants an audience.
    audience: pick(flags.apiAudience, env.IDENTITY_AUDIENCE) ?? url,
    require: false,
    metrics: false,
    allowInsecureHttp: flags.allowInsecureHttp === true || truthy(env.IDENTITY_ALLOW_INSECURE_HTTP),
    encryptionKey: pick(undefined, env.IDENTITY_ENCRYPTION_KEY),
    store: storeOption(pick(flags.store, env.IDENTITY_STORE) ?? DEFAULT_CREDENTIAL_STORE_PATH),
    audit: auditFile ? { file: auditFile } : undefined,
    client: {
      ...(clientId ? { clientId } : {}),
      ...(clientSecret ? { clientSecret } : {}),
      ...(redirectUri ? { redirectUri } : {}),
      ...(method ? { tokenEndpointAuthMethod: method as TokenEndpointAuthMethod } : {}),
    },
  };
}

/** `--scopes a,b c` → ["a", "b", "c"]. */
export function splitScopes(values: string[] | string | undefined): string[] {
  const list = Array.isArray(values) ? values : values === undefined ? [] : [values];
  return list.flatMap((value) => value.split(/[\s,]+/)).filter(Boolean);
}
