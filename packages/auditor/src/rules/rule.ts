import type { AuditContext } from '../analysis/context.ts';
import type { CheckId, Evidence, Outcome, Status } from '../model.ts';

export type { AuditContext } from '../analysis/context.ts';

/** Decides one check. Must not throw for any input; the engine turns a throw into N/A and a note. */
export type Rule = (ctx: AuditContext) => Outcome;

/** The rules of one category, keyed by check id. */
export type RuleSet = Readonly<Partial<Record<CheckId, Rule>>>;

export const outcome = (
  status: Status,
  why: string,
  evidence: readonly Evidence[] = [],
): Outcome => ({
  status,
  why,
  evidence,
});
