import { CATALOG } from '../catalog/checks.ts';
import { decidedConfidence } from '../confidence.ts';
import type {
  AuditReport,
  CheckDefinition,
  CheckResult,
  Confidence,
  Evidence,
  RepositoryAudit,
  Severity,
} from '../model.ts';
import { AUDITOR_VERSION } from './version.ts';

/** The OASIS schema of SARIF 2.1.0 (with errata 01), the version GitHub code scanning reads. */
export const SARIF_SCHEMA_URI =
  'https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json';

/** Result locations are relative to this base, which a SARIF consumer maps to the checkout. */
const SOURCE_ROOT = '%SRCROOT%';

type Level = 'error' | 'warning';

/**
 * GitHub code scanning ranks alerts by `security-severity`: 9.0 and above is critical, 7.0 high,
 * 4.0 medium, below that low.
 */
const SECURITY_SEVERITY: Readonly<Record<Severity, string>> = {
  CRITICAL: '9.5',
  HIGH: '8.0',
  MEDIUM: '5.5',
  LOW: '3.0',
};

/**
 * How much a finding's confidence weighs in its `rank`: a finding decided from the absence of
 * something sorts below one of the same severity that its lines show.
 */
const CONFIDENCE_WEIGHT: Readonly<Record<Confidence, number>> = { high: 1, medium: 0.7, low: 0.4 };

/**
 * SARIF 2.1.0 §3.27.24 `rank`: the result's priority, 0.0 to 100.0, higher first. Here the
 * severity's `security-severity` on a 0–100 scale times the confidence weight: a CRITICAL finding
 * its lines show ranks 95, the same finding decided from an absence 66.5, a low-confidence one 38.
 */
const rankOf = (severity: Severity, confidence: Confidence): number =>
  Math.round(Number(SECURITY_SEVERITY[severity]) * 100 * CONFIDENCE_WEIGHT[confidence]) / 10;

export interface SarifOptions {
  /**
   * A file (relative to the audited root) to anchor results that have no evidence of their own,
   * such as "no circuit breaker anywhere", typically `package.json`. GitHub code scanning rejects
   * a whole upload when any result has no location; without this option such results have none,
   * which SARIF itself allows.
   */
  readonly projectFile?: string;
}

interface Message {
  readonly text: string;
  readonly markdown?: string;
}

interface SarifLocation {
  readonly physicalLocation: {
    readonly artifactLocation: { readonly uri: string; readonly uriBaseId: string };
    readonly region: { readonly startLine: number; readonly snippet?: Message };
  };
}

interface SarifResult {
  readonly ruleId: string;
  readonly ruleIndex?: number;
  readonly level: Level;
  readonly rank: number;
  readonly message: Message;
  readonly locations?: readonly SarifLocation[];
  readonly suppressions?: readonly { readonly kind: 'external'; readonly justification: string }[];
  readonly properties: {
    readonly status: string;
    readonly severity: Severity;
    readonly confidence: Confidence;
    readonly confidenceReason: string;
  };
}

/**
 * Renders the report as a SARIF 2.1.0 log with one run: every catalog check as a rule, and a
 * result for each FAIL or PARTIAL check with one location per evidence item. CRITICAL and HIGH
 * failures are errors, everything else a warning; each result carries `properties.confidence`
 * and `properties.confidenceReason`, and a `rank` from its severity and confidence. Waived checks
 * carry an external suppression with the config's justification. Notes about the input become
 * tool notifications; findings a minimum confidence hid are named in the run's `properties`.
 *
 * @example
 * ```ts
 * await writeFile('audit.sarif', renderSarif(report, { projectFile: 'package.json' }));
 * ```
 */
export function renderSarif(report: AuditReport, options: SarifOptions = {}): string {
  const log = { $schema: SARIF_SCHEMA_URI, version: '2.1.0', runs: [run(report, options)] };
  return `${JSON.stringify(log, null, 2)}\n`;
}

/**
 * A repository of several services as one SARIF log with a run per service; each run has an
 * `automationDetails.id` of `tessera-audit/<service>/`, so code scanning keeps the services'
 * alerts apart. `projectFile` is taken inside each service's directory. One service (a
 * one-service repository, or one picked with `select`) renders as `renderSarif` of its report.
 */
export function renderSarifServices(audit: RepositoryAudit, options: SarifOptions = {}): string {
  const only = audit.services.length === 1 ? audit.services[0] : undefined;
  if (only !== undefined) {
    return renderSarif(
      only.report,
      options.projectFile === undefined ? {} : projectFileOf(only.path, options.projectFile),
    );
  }
  const runs = audit.services.map((service) => ({
    ...run(
      service.report,
      options.projectFile === undefined ? {} : projectFileOf(service.path, options.projectFile),
    ),
    automationDetails: { id: `tessera-audit/${service.name}/` },
  }));
  return `${JSON.stringify({ $schema: SARIF_SCHEMA_URI, version: '2.1.0', runs }, null, 2)}\n`;
}

const projectFileOf = (dir: string, file: string): SarifOptions => ({
  projectFile: dir === '.' ? file : `${dir}/${file}`,
});

function run(report: AuditReport, options: SarifOptions) {
  const ruleIndex = new Map(CATALOG.map((check, index) => [check.id, index]));
  const results = report.checks
    .filter((check) => check.status === 'FAIL' || check.status === 'PARTIAL')
    .map((check) => result(check, ruleIndex.get(check.id), options.projectFile));
  return {
    tool: {
      driver: {
        name: 'tessera-audit',
        semanticVersion: AUDITOR_VERSION,
        rules: CATALOG.map(rule),
      },
    },
    invocations: [
      {
        executionSuccessful: true,
        toolExecutionNotifications: report.notes.map((note) => ({
          level: 'warning',
          message: { text: note },
        })),
      },
    ],
    results,
    properties: {
      service: report.service,
      date: report.date,
      passRate: report.passRate,
      ...(report.hidden !== undefined ? { hidden: report.hidden } : {}),
    },
  };
}

function rule(check: CheckDefinition) {
  const markdown =
    check.snippet === undefined
      ? check.remediation
      : `${check.remediation}\n\n\`\`\`\n${check.snippet}\n\`\`\``;
  return {
    id: check.id,
    name: ruleName(check.title),
    shortDescription: { text: check.title },
    fullDescription: { text: `${check.title}. Evidence: ${check.evidence}` },
    help: {
      text:
        check.snippet === undefined
          ? check.remediation
          : `${check.remediation}\n\n${check.snippet}`,
      markdown,
    },
    defaultConfiguration: { level: levelOf(check.severity, 'FAIL') },
    properties: {
      severity: check.severity,
      'security-severity': SECURITY_SEVERITY[check.severity],
      decidedBy: check.decidedBy,
      tags: ['security', check.category],
    },
  };
}

function result(
  check: CheckResult,
  index: number | undefined,
  projectFile: string | undefined,
): SarifResult {
  const locations =
    check.evidence.length > 0
      ? check.evidence.map(locationOf)
      : projectFile !== undefined
        ? [locationOf({ file: projectFile, line: 1, snippet: '' })]
        : undefined;
  const { level: confidence, reason } = decidedConfidence(check);
  return {
    ruleId: check.id,
    ...(index !== undefined ? { ruleIndex: index } : {}),
    level: levelOf(check.severity, check.status),
    rank: rankOf(check.severity, confidence),
    message: { text: `${check.id}: ${check.title} (${check.status}). ${check.why}` },
    ...(locations !== undefined ? { locations } : {}),
    ...(check.waiver !== undefined
      ? { suppressions: [{ kind: 'external', justification: check.waiver.justification }] }
      : {}),
    properties: {
      status: check.status,
      severity: check.severity,
      confidence,
      confidenceReason: reason,
    },
  };
}

function locationOf(evidence: Evidence): SarifLocation {
  return {
    physicalLocation: {
      artifactLocation: { uri: encodeUri(evidence.file), uriBaseId: SOURCE_ROOT },
      region: {
        startLine: evidence.line,
        ...(evidence.snippet !== '' ? { snippet: { text: evidence.snippet } } : {}),
      },
    },
  };
}

function levelOf(severity: Severity, status: CheckResult['status']): Level {
  return status === 'FAIL' && (severity === 'CRITICAL' || severity === 'HIGH')
    ? 'error'
    : 'warning';
}

/** SARIF §3.4.3: artifact URIs are RFC 3986 references, so each path segment is percent-encoded. */
function encodeUri(file: string): string {
  return file.split('/').map(encodeURIComponent).join('/');
}

/** SARIF recommends an identifier-like rule name: the title's words in PascalCase. */
function ruleName(title: string): string {
  return title
    .split(/[^A-Za-z0-9]+/)
    .filter((word) => word !== '')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1).toLowerCase())
    .join('');
}
