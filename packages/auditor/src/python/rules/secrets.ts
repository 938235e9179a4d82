/** The secrets-management (SM) checks for a Python service. */
import type { AuditContext } from '../../analysis/context.ts';
import type { Outcome } from '../../model.ts';
import { outcome, type RuleSet } from '../../rules/rule.ts';
import { pythonModel, type PythonModel } from '../model.ts';
import { evidenceOf } from './common.ts';
import { queryTokenSites } from './tokens.ts';

const withModel =
  (decide: (m: PythonModel) => Outcome) =>
  (ctx: AuditContext): Outcome =>
    decide(pythonModel(ctx));

const sm1 = withModel((m) => {
  const managed = m.secrets.sources.filter((s) => s.kind === 'manager' || s.kind === 'file');
  if (managed.length > 0)
    return outcome(
      'PASS',
      'Secrets are read from a secrets manager or mounted secret files.',
      evidenceOf(
        m,
        managed.map((s) => s.site),
      ),
    );
  const env = m.secrets.sources.filter((s) => s.kind !== 'generated');
  if (env.length === 0) return outcome('N/A', 'The service reads no secret.');
  return outcome(
    'FAIL',
    'No secrets manager: secrets come from environment variables or settings defaults.',
    evidenceOf(
      m,
      env.map((s) => s.site),
    ),
  );
});

const sm2 = withModel((m) => {
  const literal = m.secrets.sources.filter(
    (s) =>
      s.kind === 'literal' ||
      s.kind === 'env-default' ||
      s.kind === 'settings-default' ||
      s.kind === 'url-password',
  );
  if (literal.length > 0)
    return outcome(
      'FAIL',
      'Secret values are written in the source (literals or fallback defaults used when the variable is unset).',
      evidenceOf(
        m,
        literal.map((s) => s.site),
      ),
    );
  return outcome('PASS', 'No secret value is written in the source.');
});

const sm3 = withModel((m) => {
  const env = m.secrets.sources.filter(
    (s) =>
      s.kind === 'env' ||
      s.kind === 'env-default' ||
      s.kind === 'settings' ||
      s.kind === 'settings-default',
  );
  if (env.length === 0)
    return outcome(
      m.secrets.sources.length > 0 ? 'PASS' : 'N/A',
      m.secrets.sources.length > 0
        ? 'Secrets are not taken from environment variables.'
        : 'The service reads no secret.',
    );
  return outcome(
    'FAIL',
    'Secrets are read from environment variables in every environment, production included.',
    evidenceOf(
      m,
      env.map((s) => s.site),
    ),
  );
});

const sm5 = withModel((m) => {
  const query = queryTokenSites(m);
  if (query.length > 0 && m.secrets.logs.length === 0)
    return outcome(
      'FAIL',
      'Tokens accepted in the query string are written to the access log with the URL.',
      evidenceOf(m, query),
    );
  if (m.secrets.logs.length > 0)
    return outcome(
      'FAIL',
      `Secrets reach the logs (${[...new Set(m.secrets.logs.flatMap((l) => l.names))].slice(0, 4).join(', ')}).`,
      evidenceOf(
        m,
        m.secrets.logs.map((l) => l.site),
      ),
    );
  return outcome('PASS', 'No log call carries a secret, a token or the request headers.');
});

export const pythonSecretsRules: RuleSet = { SM1: sm1, SM2: sm2, SM3: sm3, SM5: sm5 };
