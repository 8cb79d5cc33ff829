import type { IssuedServiceAccountView, ServiceAccountDetails, ServiceAccountView } from '../admin/service-accounts.service.js';
import type { RotationOutcome } from '../admin/rotation-check.js';
import type { RevocationView } from '../revocation/revocation.js';
import type { DoctorCheck } from './doctor.js';

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

function rows(pairs: Array<[string, string | undefined]>): string {
  return pairs
    .filter(([, value]) => value !== undefined && value !== '')
    .map(([label, value]) => `  ${`${label}:`.padEnd(15)} ${value}`)
    .join('\n');
}

function describe(account: ServiceAccountView): Array<[string, string | undefined]> {
  return [
    ['client id', account.clientId],
    ['name', account.name],
    ['scopes', account.scopes.join(' ')],
    ['audience', account.audience],
    ['auth method', account.tokenEndpointAuthMethod],
    ['created', account.createdAt],
    ['rotated', account.rotatedAt],
  ];
}

/** The one place a secret is printed: once, with the warning that it will not be shown again. */
export function issuedText(verb: string, account: IssuedServiceAccountView): string {
  return [
    `${verb} service account "${account.name}"`,
    rows([...describe(account).slice(0, 1), ['client secret', account.clientSecret], ...describe(account).slice(1)]),
    '',
    'The client secret is shown only this once: store it in your secret manager now.',
  ].join('\n');
}

export function detailsText(account: ServiceAccountDetails): string {
  return [`Service account "${account.name}"`, rows([...describe(account), ['at provider', account.atProvider]])].join('\n');
}

export function listText(accounts: ServiceAccountView[]): string {
  if (accounts.length === 0) return 'No service accounts are managed by this API.';
  const table = [['CLIENT ID', 'NAME', 'SCOPES', 'AUDIENCE', 'CREATED', 'ROTATED'], ...accounts.map((a) => [a.clientId, a.name, a.scopes.join(' '), a.audience ?? '-', a.createdAt, a.rotatedAt ?? '-'])];
  const widths = table[0]!.map((_, column) => Math.max(...table.map((row) => row[column]!.length)));
  return table.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}

function revocationTarget(revocation: RevocationView): string {
  if (revocation.clientId !== undefined) return `client ${JSON.stringify(revocation.clientId)}`;
  if (revocation.subject !== undefined) return `subject ${JSON.stringify(revocation.subject)}`;
  return `jti ${JSON.stringify(revocation.jti)}`;
}

export function revocationText(revocation: RevocationView): string {
  return [
    `Revoked the tokens of ${revocationTarget(revocation)} issued before ${revocation.before}`,
    rows([
      ['id', revocation.id],
      ['reason', revocation.reason],
      ['created', revocation.createdAt],
      ['expires', revocation.expiresAt],
    ]),
    '',
    'Every replica refuses them within a second (with a Redis store; with a file store, this process and the API after its restart).',
  ].join('\n');
}

export function revocationListText(revocations: RevocationView[]): string {
  if (revocations.length === 0) return 'No revocations are in force.';
  const table = [
    ['ID', 'TARGET', 'BEFORE', 'CREATED', 'EXPIRES', 'REASON'],
    ...revocations.map((r) => [r.id, revocationTarget(r), r.before, r.createdAt, r.expiresAt, r.reason ?? '-']),
  ];
  const widths = table[0]!.map((_, column) => Math.max(...table.map((row) => row[column]!.length)));
  return table.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}

const MARKS: Record<DoctorCheck['status'], string> = { ok: '[ok]  ', warn: '[warn]', fail: '[FAIL]', skip: '[skip]' };

export function doctorText(checks: DoctorCheck[]): string {
  const failed = checks.filter((check) => check.status === 'fail').length;
  const lines = checks.map((check) => `${MARKS[check.status]} ${check.check.padEnd(12)} ${check.detail}`);
  return [...lines, '', failed ? `${failed} problem(s) found.` : 'No problems found.'].join('\n');
}

/** What became of the previous secret, in words (see RotationOutcome). */
export function rotationText(outcome: RotationOutcome & { tokensRevoked?: boolean }): string {
  const previous =
    outcome.previousSecret === 'refused'
      ? 'The previous secret is refused by the provider (checked at its token endpoint).'
      : outcome.previousSecret === 'valid-until'
        ? `The previous secret keeps working until ${outcome.previousSecretValidUntil} (the provider's grace window).`
        : outcome.previousSecret === 'still-accepted'
          ? `NOT CONFIRMED: ${outcome.reason ?? 'the provider still accepts the previous secret'}.`
          : `UNCONFIRMED: ${outcome.reason ?? 'the previous secret could not be checked'}; it may still work.`;
  const tokens = outcome.tokensRevoked === undefined ? '' : outcome.tokensRevoked ? '\nTokens issued to it before the rotation are revoked.' : '\nTokens issued to it before the rotation stay valid until they expire.';
  return previous + tokens;
}
