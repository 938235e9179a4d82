import type { AuditContext } from '../analysis/context.ts';
import type { CheckId, ConfidenceNote, Evidence, Outcome, Status } from '../model.ts';

export type { AuditContext } from '../analysis/context.ts';

/** Decides one check. Must not throw for any input; the engine turns a throw into N/A and a note. */
export type Rule = (ctx: AuditContext) => Outcome;

/** The rules of one category, keyed by check id. */
export type RuleSet = Readonly<Partial<Record<CheckId, Rule>>>;

/**
 * A rule's decision. `confidence` is the rule's own statement of how sure it is; without it the
 * engine applies its default (`decidedConfidence` in `confidence.ts`): lines → high, unless a
 * finding's `why` opens with "No …"/"Nothing …"/"There is no …"; no lines → medium. Give it where
 * the default would be wrong: `medium` when the evidence only shows where the control was looked
 * for, `low` when the rule matched names or part of a pattern. N/A never carries a confidence.
 *
 * @example
 * ```ts
 * return outcome('FAIL', 'No client call has a retry policy.', calls, {
 *   level: 'medium',
 *   reason: 'Decided from the absence of a retry wrapper around the calls shown.',
 * });
 * ```
 */
export const outcome = (
  status: Status,
  why: string,
  evidence: readonly Evidence[] = [],
  confidence?: ConfidenceNote,
): Outcome => ({
  status,
  why,
  evidence,
  ...(confidence !== undefined && status !== 'N/A'
    ? { confidence: confidence.level, confidenceReason: confidence.reason }
    : {}),
});
