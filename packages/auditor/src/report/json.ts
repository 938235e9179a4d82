import { decidedConfidence } from '../confidence.ts';
import type { AuditReport, CheckResult, RepositoryAudit } from '../model.ts';
import { serviceSummary } from './markdown.ts';
import { REPOSITORY_SCHEMA_ID, type JsonReport, type JsonRepositoryReport } from './schema.ts';

/**
 * The report as a plain object matching `reportSchema`: the audited root is left out, since it
 * is a path on the machine that ran the audit and means nothing to whoever reads the file.
 */
export function toJsonReport(report: AuditReport): JsonReport {
  return {
    service: report.service,
    date: report.date,
    passRate: { ...report.passRate },
    checks: report.checks.map(jsonCheck),
    ...(report.hidden !== undefined
      ? {
          hidden: {
            minConfidence: report.hidden.minConfidence,
            checks: [...report.hidden.checks],
          },
        }
      : {}),
    notes: [...report.notes],
    stats: { ...report.stats },
  };
}

type JsonCheck = JsonReport['checks'][number];

function jsonCheck(check: CheckResult): JsonCheck {
  const waiver =
    check.waiver !== undefined ? { waiver: { justification: check.waiver.justification } } : {};
  const evidence = check.evidence.map(({ file, line, snippet }) => ({ file, line, snippet }));
  const { id, title, category, severity, why } = check;
  if (check.status === 'N/A') {
    return { id, title, category, status: check.status, severity, evidence, why, ...waiver };
  }
  // The engine gives every decided check a confidence; a report built by hand gets the default.
  const { level, reason } = decidedConfidence(check);
  return {
    id,
    title,
    category,
    status: check.status,
    severity,
    evidence,
    why,
    confidence: level,
    confidenceReason: reason,
    ...waiver,
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

/**
 * A repository of several services as JSON valid against `schema/repository.schema.json`: an
 * envelope with one entry per service, each holding the service's report in the single-report
 * shape. One service (a one-service repository, or one picked with `select`) renders exactly as
 * `renderJson` of its report.
 */
export function renderRepositoryJson(audit: RepositoryAudit): string {
  const only = audit.services.length === 1 ? audit.services[0] : undefined;
  if (only !== undefined) return renderJson(only.report);
  const envelope: JsonRepositoryReport = {
    schema: REPOSITORY_SCHEMA_ID,
    repository: audit.repository,
    date: audit.services[0]?.report.date ?? new Date().toISOString().slice(0, 10),
    services: audit.services.map((service) => ({
      name: service.name,
      path: service.path,
      passRate: { ...service.report.passRate },
      open: serviceSummary(service),
      report: toJsonReport(service.report),
    })),
  };
  return `${JSON.stringify(envelope, null, 2)}\n`;
}
