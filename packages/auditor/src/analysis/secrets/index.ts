import type { AuditContext } from '../context.ts';
import { sourceSecrets, textSecrets, type SecretFinding } from './hardcoded.ts';
import { sensitiveLogs, type LoggedSecret } from './logging.ts';
import { analyseSources, type SecretSources } from './sources.ts';
import { tokensInUrls, type TokenInUrl } from './urls.ts';

/** Hard-coded secrets in source code and in configuration files, computed once per audit. */
export function hardcodedSecrets(ctx: AuditContext): {
  readonly source: readonly SecretFinding[];
  readonly text: readonly SecretFinding[];
} {
  return ctx.memo('secrets.hardcoded', () => ({
    source: sourceSecrets(ctx),
    text: textSecrets(ctx),
  }));
}

/** Tokens and secrets written to logs, computed once per audit. */
export function loggedSecrets(ctx: AuditContext): readonly LoggedSecret[] {
  return ctx.memo('secrets.logged', () => sensitiveLogs(ctx));
}

/** Tokens and credentials carried in URLs, computed once per audit. */
export function urlTokens(ctx: AuditContext): readonly TokenInUrl[] {
  return ctx.memo('secrets.urls', () => tokensInUrls(ctx));
}

/** Secrets managers, environment secrets, minted tokens, scope and revocation checks. */
export function secretSources(ctx: AuditContext): SecretSources {
  return ctx.memo('secrets.sources', () => analyseSources(ctx));
}
