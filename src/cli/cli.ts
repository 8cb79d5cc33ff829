import { HttpException, type INestApplicationContext } from '@nestjs/common';
import { Command, CommanderError, Option } from 'commander';
import { rotationConfirmed, type RotationOutcome } from '../admin/rotation-check.js';
import { ServiceAccountsService } from '../admin/service-accounts.service.js';
import { safeDetail } from '../audit/safe-detail.js';
import { ClientProvisioningService } from '../client/client-provisioning.service.js';
import { IdentityConfigurationError } from '../errors/identity-configuration.error.js';
import { RevocationService } from '../revocation/revocation.service.js';
import { cliActor, cliModuleOptions, CliUsageError, ENVIRONMENT, splitScopes, type Env, type GlobalFlags } from './cli-config.js';
import { MetadataUnavailableCliError, requireMetadata, withIdentity } from './cli-context.js';
import { detailsText, doctorText, issuedText, listText, revocationListText, revocationText, rotationText, type Output } from './cli-output.js';
import { runDoctor } from './doctor.js';

/** 3: done, but its effect could not be confirmed (a rotated-away secret that may still work). */
const EXIT = { ok: 0, failed: 1, usage: 2, unconfirmed: 3 } as const;

const EXAMPLES = `
Examples:
  $ export IDENTITY_URL=https://auth.example.com IDENTITY_ENCRYPTION_KEY=$(openssl rand -base64 32)
  $ nestjs-identity service-account create --name orders-worker --scopes orders:read --audience https://api.example.com
  $ nestjs-identity service-account rotate --client-id orders-worker
  $ nestjs-identity service-account list --json
  $ nestjs-identity service-account delete --client-id orders-worker
  $ nestjs-identity revoke --client-id orders-worker --reason "secret leaked"
  $ nestjs-identity revoke --subject 5f1c0e7a --before 2026-01-31T12:00:00Z
  $ nestjs-identity revoke list --json
  $ nestjs-identity revoke remove 0b7e2f1c-9a4d-4a8e-8f53-2f0c1d9e6b7a
  $ nestjs-identity client provision --scopes orders:read
  $ nestjs-identity doctor

Environment:
${ENVIRONMENT.map(([name, text]) => `  ${name.padEnd(36)} ${text}`).join('\n')}

Exit codes: 0 ok, 1 the operation failed (or doctor found a problem), 2 usage or configuration error,
3 done but not confirmed (a rotation whose previous secret still works, or could not be checked).
Secrets are printed once, on stdout; they never reach the audit log. Logs go to stderr.`;

/** The configuration error behind a failure: thrown as is, or wrapped in an HTTP error by a service the routes share. */
function configErrorOf(error: unknown): IdentityConfigurationError | undefined {
  if (error instanceof IdentityConfigurationError) return error;
  return error instanceof HttpException && error.cause instanceof IdentityConfigurationError ? error.cause : undefined;
}

/** Maps a failure to its exit code: the caller's mistake (2) or the operation's (1). */
function exitCodeOf(error: unknown): number {
  if (error instanceof CliUsageError || configErrorOf(error) || (error instanceof HttpException && error.getStatus() === 400)) return EXIT.usage;
  return EXIT.failed;
}

/** Option names in configuration errors, and where the CLI takes them from. */
const CLI_SOURCES: Record<string, string> = {
  url: '--url / IDENTITY_URL',
  issuer: '--issuer / IDENTITY_ISSUER',
  audience: '--api-audience / IDENTITY_AUDIENCE',
  encryptionKey: 'IDENTITY_ENCRYPTION_KEY',
  store: '--store / IDENTITY_STORE',
  'store.url': '--store / IDENTITY_STORE',
  'client.redirectUri': '--redirect-uri / IDENTITY_REDIRECT_URI',
  'client.clientId': 'IDENTITY_CLIENT_ID',
  'client.tokenEndpointAuthMethod': 'IDENTITY_TOKEN_ENDPOINT_AUTH_METHOD',
};

function errorText(error: unknown): string {
  if (error instanceof CliUsageError || error instanceof MetadataUnavailableCliError) return error.message;
  const config = configErrorOf(error);
  const text = (config?.message ?? safeDetail(error)).replace(/^\d{3}: /, '').replace(/^nestjs-identity: /, '');
  const source = config && CLI_SOURCES[config.option];
  return source ? `${text} (set it with ${source})` : text;
}

/**
 * Runs the `nestjs-identity` command line and resolves with the exit code. Output goes through
 * `io`, so the same function serves the binary and tests.
 */
export async function runCli(argv: string[], env: Env, io: Output): Promise<number> {
  let code: number = EXIT.ok;
  const program = new Command('nestjs-identity');
  const flags = (): GlobalFlags => program.opts<GlobalFlags>();
  const print = (value: unknown, text: () => string): void => io.out(flags().json ? JSON.stringify(value, null, 2) : text());
  /** Boots the module with the global flags, checks the provider is there, runs the command. */
  /** A rotation that is not confirmed is done, but says so: on stderr, and exit code 3. */
  const notConfirmed = (outcome: RotationOutcome): void => {
    if (rotationConfirmed(outcome)) return;
    io.err(`nestjs-identity: rotation not confirmed: ${outcome.reason}; the previous secret may still work`);
    code = EXIT.unconfirmed;
  };
  const run = async (fn: (app: INestApplicationContext) => Promise<void>): Promise<void> => {
    const options = cliModuleOptions(flags(), env);
    await withIdentity(options, flags().verbose === true, async (app) => {
      await requireMetadata(app);
      await fn(app);
    });
  };

  program
    .description("Manage a NestJS API's Identity client and service accounts (nestjs-identity).")
    .option('--url <url>', 'Identity base URL (env IDENTITY_URL)')
    .option('--issuer <issuer>', 'expected issuer, when it differs from --url (env IDENTITY_ISSUER)')
    .option('--api-audience <audience>', "the API's own audience (env IDENTITY_AUDIENCE)")
    .option('--store <path-or-url>', 'credential store: file path or redis:// URL (env IDENTITY_STORE)')
    .option('--redirect-uri <uri>', 'redirect URI sent with registrations (env IDENTITY_REDIRECT_URI)')
    .option('--audit-file <path>', 'audit log file (env IDENTITY_AUDIT_FILE)')
    .option('--allow-insecure-http', 'allow http:// outside loopback, development only (env IDENTITY_ALLOW_INSECURE_HTTP)')
    .option('--actor <name>', 'who to name in audit events (env IDENTITY_ACTOR)')
    .option('--json', 'machine-readable output on stdout')
    .option('--verbose', 'Nest logs on stderr')
    .addHelpText('after', EXAMPLES)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.out(text.trimEnd()), writeErr: (text) => io.err(text.trimEnd()) });

  const accounts = program.command('service-account').description('create, rotate, list, show and delete service accounts (client_credentials clients)');
  accounts
    .command('create')
    .description('register a service account; prints its secret once')
    .requiredOption('--name <name>', 'unique name, e.g. orders-worker')
    .addOption(new Option('--scopes <scopes...>', 'scopes it may request (space or comma separated)').makeOptionMandatory())
    .option('--audience <uri>', 'audience of its tokens, e.g. https://api.example.com')
    .action((options: { name: string; scopes: string[]; audience?: string }) =>
      run(async (app) => {
        const body = { name: options.name, scopes: splitScopes(options.scopes), ...(options.audience ? { audience: options.audience } : {}) };
        const issued = await app.get(ServiceAccountsService).create(body, cliActor(flags(), env));
        print(issued, () => issuedText('Created', issued));
      }),
    );
  /** The commands that act on one account, named by `--client-id` (id or name). */
  const onAccount = (name: string, description: string, fn: (accounts: ServiceAccountsService, clientId: string) => Promise<void>): void => {
    accounts
      .command(name)
      .description(description)
      .requiredOption('--client-id <id>', 'client id or name of the account')
      .action((options: { clientId: string }) => run((app) => fn(app.get(ServiceAccountsService), options.clientId)));
  };
  accounts
    .command('rotate')
    .description('issue a new secret, confirmed at the token endpoint that the old one stopped working; prints it once')
    .requiredOption('--client-id <id>', 'client id or name of the account')
    .option('--keep-tokens', "do not revoke the account's outstanding tokens (a planned rotation)")
    .option('--invalidate-previous', "end the previous secret now rather than after the provider's grace window")
    .action((options: { clientId: string; keepTokens?: boolean; invalidatePrevious?: boolean }) =>
      run(async (app) => {
        const body = { revokeTokens: options.keepTokens !== true, invalidatePrevious: options.invalidatePrevious === true };
        const rotated = await app.get(ServiceAccountsService).rotate(options.clientId, cliActor(flags(), env), body);
        print(rotated, () => `${issuedText('Rotated', rotated)}\n${rotationText(rotated)}`);
        notConfirmed(rotated);
      }),
    );
  onAccount('get', 'show one service account and whether the provider still has it', async (service, clientId) => {
    const details = await service.get(clientId);
    print(details, () => detailsText(details));
  });
  onAccount('delete', 'delete a service account at the provider and forget it', async (service, clientId) => {
    await service.delete(clientId, cliActor(flags(), env));
    print({ deleted: clientId }, () => `Deleted service account "${clientId}".`);
  });
  accounts
    .command('list')
    .description('list the service accounts this API manages')
    .action(() =>
      run(async (app) => {
        const list = await app.get(ServiceAccountsService).list();
        print(list, () => listText(list));
      }),
    );

  const revoke = program
    .command('revoke')
    .description('revoke the tokens of a client, a subject or one jti on every replica; `revoke list`, `revoke remove <id>`')
    .option('--client-id <id>', 'revoke the tokens of this client (service account or OAuth client id)')
    .option('--subject <sub>', 'revoke the tokens of this subject (the sub claim)')
    .option('--jti <jti>', 'revoke the one token with this jti')
    .option('--before <iso-time>', 'only tokens issued before this moment, e.g. 2026-01-31T12:00:00Z (default: now)')
    .option('--reason <text>', 'why, for the list and the audit log')
    .action((options: { clientId?: string; subject?: string; jti?: string; before?: string; reason?: string }) => {
      const targets = [options.clientId, options.subject, options.jti].filter((value) => value !== undefined);
      if (targets.length !== 1) throw new CliUsageError('pass exactly one of --client-id, --subject or --jti (or: revoke list, revoke remove <id>)');
      const input = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
      return run(async (app) => {
        const revoked = await app.get(RevocationService).revoke(input, cliActor(flags(), env));
        print(revoked, () => revocationText(revoked));
      });
    });
  revoke
    .command('list')
    .description('list the revocations in force')
    .action(() =>
      run(async (app) => {
        const list = await app.get(RevocationService).list();
        print(list, () => revocationListText(list));
      }),
    );
  revoke
    .command('remove')
    .description('withdraw a revocation: the tokens it named are accepted again')
    .argument('<id>', 'the revocation id (from `revoke list`)')
    .action((id: string) =>
      run(async (app) => {
        await app.get(RevocationService).remove(id, cliActor(flags(), env));
        print({ removed: id }, () => `Removed revocation "${id}".`);
      }),
    );

  const client = program.command('client').description("the API's own confidential client");
  client
    .command('provision')
    .description('register the API client (RFC 7591) unless one is stored; --replace registers a new one')
    .option('--name <name>', 'client name')
    .option('--scopes <scopes...>', 'scopes it may request')
    .option('--audience <uri>', 'audience of its tokens')
    .option('--replace', 'register a new client even if one is stored')
    .action((options: { name?: string; scopes?: string[]; audience?: string; replace?: boolean }) =>
      run(async (app) => {
        const scopes = splitScopes(options.scopes);
        const spec = { name: options.name, scopes: scopes.length ? scopes : undefined, audience: options.audience };
        const { client: stored, created } = await app.get(ClientProvisioningService).provision(spec, { replace: options.replace === true, actor: cliActor(flags(), env) });
        const result = { clientId: stored.clientId, created, tokenEndpointAuthMethod: stored.tokenEndpointAuthMethod };
        print(result, () => `${created ? 'Registered' : 'Already provisioned:'} client "${stored.clientId}" (${stored.tokenEndpointAuthMethod}); its secret is sealed in the credential store.`);
      }),
    );
  client
    .command('rotate')
    .description("rotate the stored API client's secret through the service-account provider; replicas pick it up from the store")
    .option('--invalidate-previous', "end the previous secret now rather than after the provider's grace window")
    .action((options: { invalidatePrevious?: boolean }) =>
      run(async (app) => {
        const rotated = await app.get(ClientProvisioningService).rotate(cliActor(flags(), env), { invalidatePrevious: options.invalidatePrevious === true });
        print(rotated, () => `Rotated the secret of client "${rotated.clientId}"; the new one is sealed in the credential store.\n${rotationText(rotated)}`);
        notConfirmed(rotated);
      }),
    );

  program
    .command('doctor')
    .description('check metadata, keys, the API client and the store; explain what is wrong')
    .action(async () => {
      const checks = await runDoctor(cliModuleOptions(flags(), env), flags().verbose === true);
      const ok = checks.every((check) => check.status !== 'fail');
      print({ ok, checks }, () => doctorText(checks));
      if (!ok) code = EXIT.failed;
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version are "errors" to commander; they are successes to the shell.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const exit = exitCodeOf(error);
    if (flags().json) io.out(JSON.stringify({ error: errorText(error), exitCode: exit }, null, 2));
    io.err(`nestjs-identity: ${errorText(error)}`);
    return exit;
  }
  return code;
}
