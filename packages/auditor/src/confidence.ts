import {
  CONFIDENCES,
  type CheckResult,
  type Confidence,
  type ConfidenceNote,
  type HiddenFindings,
  type Outcome,
} from './model.ts';

/**
 * How sure a decision is: the rule's own statement when it gave one (`outcome`'s fourth
 * argument), else the engine's default. N/A has none, whatever the rule said.
 */
export function confidenceOf(decided: Outcome): ConfidenceNote | undefined {
  return decided.status === 'N/A' ? undefined : decidedConfidence(decided);
}

/**
 * `confidenceOf` for a check the caller knows is decided (not N/A). The default, for a rule that
 * gave none, is one rule: a decision the reported lines show is `high`; a decision taken from
 * the absence of something is `medium`, because what was not found may live where the auditor
 * cannot look (another package, the infrastructure, a wrapper of a shape it does not know). A
 * decision is taken from an absence when it has no evidence lines, or, for a finding, when its
 * `why` says so ("No …", "Nothing …", "There is no …"): its lines then show where the control
 * is missing, not a line that is wrong. Nothing defaults to `low`: only a rule knows that its
 * match was partial.
 */
export function decidedConfidence(decided: Outcome): ConfidenceNote {
  if (decided.confidence !== undefined && decided.confidenceReason !== undefined) {
    return { level: decided.confidence, reason: decided.confidenceReason };
  }
  if (decided.status === 'PASS') {
    return decided.evidence.length > 0
      ? { level: 'high', reason: 'The reported lines show the control.' }
      : {
          level: 'medium',
          reason: 'Decided from the absence of the failing pattern; there is no line to show.',
        };
  }
  if (decided.evidence.length === 0) {
    return {
      level: 'medium',
      reason:
        'Decided from the absence of the control in the analysed code; it may live where the auditor cannot see.',
    };
  }
  return ABSENCE.test(decided.why)
    ? {
        level: 'medium',
        reason:
          'Decided from the absence of the control: the lines show where it is missing, and it may live where the auditor cannot see.',
      }
    : { level: 'high', reason: 'The reported lines show the problem.' };
}

/** A finding's `why` that opens by saying something was not found. */
const ABSENCE = /^(?:No|Nothing|None|Neither|There is no|There are no)\b/;

/** The decision with its confidence filled in (`confidenceOf`), or removed for N/A. */
export function withConfidence<T extends Outcome>(decided: T): T {
  const note = confidenceOf(decided);
  const rest = Object.fromEntries(
    Object.entries(decided).filter(([key]) => key !== 'confidence' && key !== 'confidenceReason'),
  ) as T;
  return note === undefined
    ? rest
    : { ...rest, confidence: note.level, confidenceReason: note.reason };
}

/** Whether `level` is `min` or more sure (`high` ≥ `medium` ≥ `low`). */
export const meetsConfidence = (level: Confidence, min: Confidence): boolean =>
  CONFIDENCES.indexOf(level) <= CONFIDENCES.indexOf(min);

const isFinding = (check: CheckResult) => check.status === 'FAIL' || check.status === 'PARTIAL';

/**
 * Splits a report's checks at a minimum confidence: findings (FAIL, PARTIAL) below it are
 * hidden; PASS and N/A always stay, so hiding a finding can only leave a check out of the pass
 * rate, never turn it into a pass. `min` of `low` (or none) hides nothing and reports nothing.
 */
export function hideBelowConfidence(
  checks: readonly CheckResult[],
  min: Confidence | undefined,
): { readonly shown: readonly CheckResult[]; readonly hidden?: HiddenFindings } {
  if (min === undefined || min === 'low') return { shown: checks };
  const below = (check: CheckResult) =>
    isFinding(check) && check.confidence !== undefined && !meetsConfidence(check.confidence, min);
  return {
    shown: checks.filter((check) => !below(check)),
    hidden: { minConfidence: min, checks: checks.filter(below).map((check) => check.id) },
  };
}
