import type { AuditReport } from '../model.ts';
import type { JsonReport } from './schema.ts';

/**
 * The report as a plain object matching `reportSchema`: the audited root is left out, since it
 * is a path on the machine that ran the audit and means nothing to whoever reads the file.
 */
export function toJsonReport(report: AuditReport): JsonReport {
  return {
    service: report.service,
    date: report.date,
    passRate: { ...report.passRate },
    checks: report.checks.map((check) => ({
      id: check.id,
      title: check.title,
      category: check.category,
      status: check.status,
      severity: check.severity,
      evidence: check.evidence.map(({ file, line, snippet }) => ({ file, line, snippet })),
      why: check.why,
      ...(check.waiver !== undefined
        ? { waiver: { justification: check.waiver.justification } }
        : {}),
    })),
    notes: [...report.notes],
    stats: { ...report.stats },
  };
}

/**
 * Renders the report as JSON (two-space indented, newline-terminated), valid against
 * `schema/report.schema.json`.
 *
 * @example
 * ```ts
 * await writeFile('audit.json', renderJson(await auditDirectory('.')));
 * ```
 */
export function renderJson(report: AuditReport): string {
  return `${JSON.stringify(toJsonReport(report), null, 2)}\n`;
}
