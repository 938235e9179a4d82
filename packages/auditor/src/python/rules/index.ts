/**
 * The rules for a Python service. Checks decided from source come from the Python model; checks
 * decided only from infrastructure files keep the language-neutral rules; the rest are N/A with
 * the reason.
 */
import type { AuditContext } from '../../analysis/context.ts';
import type { CheckDefinition, CheckId } from '../../model.ts';
import { outcome, type Rule } from '../../rules/rule.ts';
import { pythonClientRules } from './outbound.ts';
import { pythonEndpointRules } from './endpoint.ts';
import { pythonHeaderRules } from './headers.ts';
import { pythonSecretsRules } from './secrets.ts';
import { pythonTokenRules } from './tokens.ts';

export const PYTHON_RULES: ReadonlyMap<CheckId, Rule> = new Map(
  [
    pythonClientRules,
    pythonEndpointRules,
    pythonTokenRules,
    pythonSecretsRules,
    pythonHeaderRules,
  ].flatMap((set) => Object.entries(set) as [CheckId, Rule][]),
);

/** Message-queue checks with no broker client in the Python code. */
const NO_BROKER =
  'The Python code uses no message broker client (no pika, aio-pika, kafka or celery).';

/**
 * The rule for `check` on a Python service: the Python rule when there is one, the shared rule for
 * infrastructure-only checks, else N/A with the reason.
 */
export function pythonRuleFor(check: CheckDefinition, shared: Rule | undefined): Rule {
  const own = PYTHON_RULES.get(check.id);
  if (own !== undefined) return own;
  if (check.category === 'MQ') {
    return (ctx: AuditContext) =>
      usesBroker(ctx)
        ? outcome(
            'N/A',
            'not analysed for Python: message broker clients (pika, aio-pika, kafka) are not modelled.',
          )
        : check.decidedBy === 'infrastructure' && shared !== undefined
          ? shared(ctx)
          : outcome('N/A', NO_BROKER);
  }
  if (check.decidedBy !== 'source' && shared !== undefined) return shared;
  return () =>
    outcome(
      'N/A',
      `not analysed for Python: ${check.title.toLowerCase()} is not read from Python code yet.`,
    );
}

const usesBroker = (ctx: AuditContext): boolean =>
  (ctx.project.pythonFiles ?? []).some((f) =>
    /^\s*(import|from)\s+(pika|aio_pika|aiokafka|kafka|confluent_kafka|celery|kombu|nats)\b/m.test(
      f.text,
    ),
  );
