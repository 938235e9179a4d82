/** The vocabulary every part of the auditor shares: checks, statuses, evidence, reports. */

/** Check categories, in the order reports list them. */
export const CATEGORIES = ['SC', 'SE', 'SV', 'MQ', 'SM', 'NW', 'TM', 'PH', 'FS'] as const;
export type Category = (typeof CATEGORIES)[number];

/** A check id: category prefix plus the row number in its checklist, e.g. `SE4`. */
export type CheckId = `${Category}${number}`;

export const SEVERITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const STATUSES = ['PASS', 'PARTIAL', 'FAIL', 'N/A'] as const;
export type Status = (typeof STATUSES)[number];

/**
 * What can decide a check: the source code alone, infrastructure files found in the repository
 * (Kubernetes manifests, Helm values, docker-compose, broker configuration), or both.
 * Infrastructure checks without such files are `N/A` with the reason, never a guess.
 */
export type DecidedBy = 'source' | 'infrastructure' | 'source+infrastructure';

/** One row of the catalog. */
export interface CheckDefinition {
  readonly id: CheckId;
  readonly category: Category;
  /** The checklist row's wording, shortened only where it was a sentence. */
  readonly title: string;
  readonly severity: Severity;
  readonly decidedBy: DecidedBy;
  /** What evidence decides it (in the catalog, SARIF rule help and remediation text). */
  readonly evidence: string;
  /** What to do when it fails. */
  readonly remediation: string;
  /** A Tessera snippet that satisfies the check, where one does. */
  readonly snippet?: string;
}

/** A place in the audited code. `file` is relative to the audited root, with `/` separators. */
export interface Evidence {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** The source line (trimmed, at most 200 characters). */
  readonly snippet: string;
}

/**
 * How sure the auditor is of a decided check, most sure first:
 * - `high`: the reported lines show what the status says (a verify call without `algorithms`, a
 *   secret literal, the timeout option on the client); reading them confirms or refutes it.
 * - `medium`: decided from the absence of something in the analysed code (no timeout option, no
 *   breaker around the client, no hardcoded secret), or from lines that only show where it was
 *   looked for. The control may live where the auditor cannot see: another repository, the
 *   infrastructure, a wrapper of a shape it does not recognise.
 * - `low`: the rule recognised the pattern only in part or from names and conventions; the
 *   finding needs review before anyone acts on it.
 *
 * PASS, PARTIAL and FAIL always carry one (with its reason); N/A never does, since its `why`
 * already says why nothing was decided.
 */
export const CONFIDENCES = ['high', 'medium', 'low'] as const;
export type Confidence = (typeof CONFIDENCES)[number];

/** A rule's own statement of how sure it is, given as `outcome`'s fourth argument. */
export interface ConfidenceNote {
  readonly level: Confidence;
  /** One sentence: why this level, e.g. "Decided from the absence of a retry wrapper." */
  readonly reason: string;
}

/** What a rule decides for one check. */
export interface Outcome {
  readonly status: Status;
  /** One sentence: why this status (for N/A: why it cannot be decided here). */
  readonly why: string;
  readonly evidence: readonly Evidence[];
  /**
   * How sure the rule is (see {@link CONFIDENCES}). A rule may leave it out; the engine then
   * fills it from the evidence (`defaultConfidence`). Every PASS, PARTIAL and FAIL in a report
   * has it; N/A never does.
   */
  readonly confidence?: Confidence;
  /** One sentence: why that confidence. Present exactly when `confidence` is. */
  readonly confidenceReason?: string;
}

/** A waiver from the audit config file: the check is reported but does not count. */
export interface Waiver {
  readonly id: CheckId;
  readonly justification: string;
}

export interface CheckResult extends Outcome {
  readonly id: CheckId;
  readonly category: Category;
  readonly title: string;
  readonly severity: Severity;
  /** Present when the config waived this check; a waived check is left out of the pass rate. */
  readonly waiver?: Waiver;
}

export interface PassRate {
  /** Whole percent, rounded down. */
  readonly percent: number;
  readonly passed: number;
  /** Checks that are not N/A and not waived. */
  readonly applicable: number;
}

export interface AuditReport {
  readonly service: string;
  /** ISO date (YYYY-MM-DD) of the audit. */
  readonly date: string;
  /** The audited directory as given on the command line. */
  readonly root: string;
  readonly passRate: PassRate;
  readonly checks: readonly CheckResult[];
  /**
   * Present when the audit was asked for a minimum confidence: the findings (FAIL or PARTIAL)
   * below it were left out of `checks`, the pass rate and the `--fail-on` gate, and are named
   * here so the reader knows they exist.
   */
  readonly hidden?: HiddenFindings;
  /** Things the reader must know about the input: unparsable, binary, huge or looping files. */
  readonly notes: readonly string[];
  readonly stats: { readonly files: number; readonly lines: number; readonly durationMs: number };
}

/** The findings a minimum confidence left out of a report. */
export interface HiddenFindings {
  readonly minConfidence: Confidence;
  /** The hidden checks' ids, in catalog order (empty when nothing was below the minimum). */
  readonly checks: readonly CheckId[];
}

/** One service's report inside a repository audit. */
export interface ServiceReport {
  /** The service's name (its package name without the npm scope). */
  readonly name: string;
  /** Its directory relative to the audited root, `/`-separated (`.` for a one-service root). */
  readonly path: string;
  readonly report: AuditReport;
}

export interface RepositoryAudit {
  /** `name` from the root package.json, else the directory name. */
  readonly repository: string;
  /**
   * One report per service. A repository that is one service has exactly one, with path `.`,
   * identical to `auditDirectory`'s; with several, each covers the service's own files and the
   * workspace packages it imports.
   */
  readonly services: readonly ServiceReport[];
  /** Every service found, also those `select` left out (names, in path order). */
  readonly found: readonly string[];
}
