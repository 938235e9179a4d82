export {
  auditDirectory,
  auditRepository,
  passRateOf,
  type AuditOptions,
  type RepositoryAuditOptions,
} from './audit.ts';
export { CATALOG } from './catalog/checks.ts';
export {
  AUDIT_CONFIG_FILE_NAMES,
  auditConfigSchema,
  FAIL_ON_LEVELS,
  findAuditConfig,
  loadAuditConfig,
  MIN_JUSTIFICATION_CHARACTERS,
  parseAuditConfig,
  type AuditConfig,
  type FailOn,
} from './config.ts';
export { failingChecks } from './gate.ts';
export {
  CATEGORIES,
  CONFIDENCES,
  SEVERITIES,
  STATUSES,
  type AuditReport,
  type Category,
  type CheckDefinition,
  type CheckId,
  type CheckResult,
  type Confidence,
  type ConfidenceNote,
  type DecidedBy,
  type Evidence,
  type Outcome,
  type PassRate,
  type RepositoryAudit,
  type ServiceReport,
  type Severity,
  type Status,
  type Waiver,
} from './model.ts';
export { renderJson, renderRepositoryJson, toJsonReport } from './report/json.ts';
export {
  CATEGORY_NAMES,
  renderMarkdown,
  renderServicesMarkdown,
  serviceSummary,
} from './report/markdown.ts';
export {
  renderSarif,
  renderSarifServices,
  SARIF_SCHEMA_URI,
  type SarifOptions,
} from './report/sarif.ts';
export {
  REPORT_SCHEMA_ID,
  REPOSITORY_SCHEMA_ID,
  reportSchema,
  repositoryReportSchema,
  type JsonReport,
  type JsonRepositoryReport,
} from './report/schema.ts';
export { AUDITOR_VERSION } from './report/version.ts';
