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

/** What a rule decides for one check. */
export interface Outcome {
  readonly status: Status;
  /** One sentence: why this status (for N/A: why it cannot be decided here). */
  readonly why: string;
  readonly evidence: readonly Evidence[];
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
  /** Things the reader must know about the input: unparsable, binary, huge or looping files. */
  readonly notes: readonly string[];
  readonly stats: { readonly files: number; readonly lines: number; readonly durationMs: number };
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
