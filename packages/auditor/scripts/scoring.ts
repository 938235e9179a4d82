/**
 * The arithmetic of `npm run audit:score`: one labelled service (a fixture's expected.json)
 * against one audit report. Pure functions over counts, so the measures are unit-tested on
 * tiny hand-made pairs (test/score.test.ts) and the command only reads, audits and prints.
 *
 * Definitions (only checks that have a label count; the report's other checks are ignored):
 * - decidable check: its label is not N/A. Agreement = decidable checks whose reported status
 *   equals the label / decidable checks. A reported N/A (or a check missing from the report)
 *   on a decidable label is a disagreement.
 * - exact-status rate = labelled checks whose reported status equals the label / labelled
 *   checks (N/A labels included: reporting N/A where the label says N/A is a match).
 * - finding: status FAIL or PARTIAL. Precision = reported findings whose label is a finding /
 *   reported findings; recall = the same matches / labelled findings. FAIL reported for a
 *   PARTIAL label (or the reverse) is a found finding here and a miss in agreement.
 * - evidence hit rate = labelled findings with evidence lines where some evidence line the
 *   report gives for that check (whatever status it reports) is in the same file within
 *   ±EVIDENCE_WINDOW lines of some labelled line / labelled findings with evidence lines.
 *   Labelled findings without lines are left out of the denominator.
 * Totals add the counts of their services (micro-average), never average the percentages.
 */
import path from 'node:path';
import { STATUSES, type CheckResult, type Evidence, type Status } from '@tessera/auditor';
import type { Expected, ExpectedLine } from '../test/support/expected.ts';

/** How far (in lines, either side) a reported evidence line may be from a labelled line. */
export const EVIDENCE_WINDOW = 3;

/** A labelled check the report does not contain at all. */
export const MISSING = 'missing';
export type ReportedStatus = Status | typeof MISSING;
/** Confusion matrix columns: the auditor's statuses, then checks absent from the report. */
export const REPORTED_STATUSES: readonly ReportedStatus[] = [...STATUSES, MISSING];

const isFinding = (status: ReportedStatus) => status === 'FAIL' || status === 'PARTIAL';

/** label status → reported status → number of checks. */
export type Confusion = Record<Status, Record<ReportedStatus, number>>;

export interface Counts {
  readonly labelled: number;
  readonly decidable: number;
  readonly decidableAgree: number;
  readonly exact: number;
  readonly reportedFindings: number;
  readonly labelledFindings: number;
  /** Checks that are a finding in both the label and the report. */
  readonly foundFindings: number;
  readonly findingsWithLines: number;
  readonly evidenceHits: number;
  readonly confusion: Confusion;
}

export interface Disagreement {
  readonly id: string;
  readonly label: Status;
  readonly reported: ReportedStatus;
  readonly note: string;
}

export interface ServiceScore {
  readonly counts: Counts;
  /** Checks whose reported status differs from the label, in label order. */
  readonly disagreements: readonly Disagreement[];
  /** Labelled findings with lines whose evidence the report did not come near. */
  readonly evidenceMisses: readonly string[];
}

export function emptyConfusion(): Confusion {
  const row = () =>
    Object.fromEntries(REPORTED_STATUSES.map((s) => [s, 0])) as Record<ReportedStatus, number>;
  return Object.fromEntries(STATUSES.map((s) => [s, row()])) as Confusion;
}

export function emptyCounts(): Counts {
  return {
    labelled: 0,
    decidable: 0,
    decidableAgree: 0,
    exact: 0,
    reportedFindings: 0,
    labelledFindings: 0,
    foundFindings: 0,
    findingsWithLines: 0,
    evidenceHits: 0,
    confusion: emptyConfusion(),
  };
}

/** Whether some reported evidence line lies in a labelled line's file within the window. */
export function evidenceHit(
  labelled: readonly ExpectedLine[],
  reported: readonly Pick<Evidence, 'file' | 'line'>[],
  reportPrefix = '',
): boolean {
  return labelled.some((want) =>
    reported.some(
      (got) =>
        samePath(path.posix.join(reportPrefix, got.file), want.file) &&
        Math.abs(got.line - want.line) <= EVIDENCE_WINDOW,
    ),
  );
}

const samePath = (a: string, b: string) => path.posix.normalize(a) === path.posix.normalize(b);

/**
 * Scores one labelled service against a report's checks. `reportPrefix` is the audited root's
 * path relative to the labels' root (e.g. `apps/orders` when a monorepo service was audited on
 * its own): it is put in front of the report's evidence paths before they are compared.
 */
export function scoreService(
  expected: Expected,
  checks: readonly Pick<CheckResult, 'id' | 'status' | 'evidence'>[],
  reportPrefix = '',
): ServiceScore {
  const byId = new Map<string, Pick<CheckResult, 'id' | 'status' | 'evidence'>>(
    checks.map((c) => [c.id, c]),
  );
  const confusion = emptyConfusion();
  const disagreements: Disagreement[] = [];
  const evidenceMisses: string[] = [];
  let decidable = 0;
  let decidableAgree = 0;
  let exact = 0;
  let reportedFindings = 0;
  let labelledFindings = 0;
  let foundFindings = 0;
  let findingsWithLines = 0;
  let evidenceHits = 0;
  for (const [id, label] of expected.checks) {
    const result = byId.get(id);
    const reported: ReportedStatus = result?.status ?? MISSING;
    confusion[label.status][reported]++;
    const same = reported === label.status;
    if (same) exact++;
    else disagreements.push({ id, label: label.status, reported, note: label.note });
    if (label.status !== 'N/A') {
      decidable++;
      if (same) decidableAgree++;
    }
    if (isFinding(reported)) reportedFindings++;
    if (isFinding(label.status)) {
      labelledFindings++;
      if (isFinding(reported)) foundFindings++;
      if (label.lines.length > 0) {
        findingsWithLines++;
        if (evidenceHit(label.lines, result?.evidence ?? [], reportPrefix)) evidenceHits++;
        else evidenceMisses.push(id);
      }
    }
  }
  return {
    counts: {
      labelled: expected.checks.size,
      decidable,
      decidableAgree,
      exact,
      reportedFindings,
      labelledFindings,
      foundFindings,
      findingsWithLines,
      evidenceHits,
      confusion,
    },
    disagreements,
    evidenceMisses,
  };
}

/** The sum of several services' counts (totals are micro-averages). */
export function addCounts(all: readonly Counts[]): Counts {
  const confusion = emptyConfusion();
  for (const counts of all) {
    for (const label of STATUSES) {
      for (const reported of REPORTED_STATUSES) {
        confusion[label][reported] += counts.confusion[label][reported];
      }
    }
  }
  const sum = (key: Exclude<keyof Counts, 'confusion'>) =>
    all.reduce((total, counts) => total + counts[key], 0);
  return {
    labelled: sum('labelled'),
    decidable: sum('decidable'),
    decidableAgree: sum('decidableAgree'),
    exact: sum('exact'),
    reportedFindings: sum('reportedFindings'),
    labelledFindings: sum('labelledFindings'),
    foundFindings: sum('foundFindings'),
    findingsWithLines: sum('findingsWithLines'),
    evidenceHits: sum('evidenceHits'),
    confusion,
  };
}

/** A ratio as numbers; `rate` is null when there is nothing to divide by. */
export interface Ratio {
  readonly hits: number;
  readonly of: number;
  readonly rate: number | null;
}

const ratio = (hits: number, of: number): Ratio => ({
  hits,
  of,
  rate: of === 0 ? null : hits / of,
});

export interface Measures {
  readonly agreement: Ratio;
  readonly precision: Ratio;
  readonly recall: Ratio;
  readonly exactStatus: Ratio;
  readonly evidenceHitRate: Ratio;
}

export function measuresOf(counts: Counts): Measures {
  return {
    agreement: ratio(counts.decidableAgree, counts.decidable),
    precision: ratio(counts.foundFindings, counts.reportedFindings),
    recall: ratio(counts.foundFindings, counts.labelledFindings),
    exactStatus: ratio(counts.exact, counts.labelled),
    evidenceHitRate: ratio(counts.evidenceHits, counts.findingsWithLines),
  };
}

/** `45/50 90.0%`, or `0/0 —` when the measure has no denominator. */
export const formatRatio = (r: Ratio) =>
  `${String(r.hits)}/${String(r.of)} ${r.rate === null ? '—' : `${(r.rate * 100).toFixed(1)}%`}`;

/** A Markdown table whose columns are padded so it also reads as plain text. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The confusion matrix as a table: one row per label status, one column per reported status. */
export function renderConfusion(confusion: Confusion): string {
  const header = ['label \\ auditor', ...REPORTED_STATUSES, 'total'];
  const rows = STATUSES.map((label) => {
    const cells = REPORTED_STATUSES.map((reported) => confusion[label][reported]);
    return [label, ...cells.map(String), String(cells.reduce((a, b) => a + b, 0))];
  });
  const columnTotals = REPORTED_STATUSES.map((reported) =>
    STATUSES.reduce((total, label) => total + confusion[label][reported], 0),
  );
  rows.push([
    'total',
    ...columnTotals.map(String),
    String(columnTotals.reduce((a, b) => a + b, 0)),
  ]);
  return renderTable(header, rows);
}
