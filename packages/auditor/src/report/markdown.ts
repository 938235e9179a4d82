import { CATALOG } from '../catalog/checks.ts';
import { confidenceOf } from '../confidence.ts';
import {
  CATEGORIES,
  SEVERITIES,
  type AuditReport,
  type Category,
  type CheckDefinition,
  type CheckResult,
  type Evidence,
  type HiddenFindings,
  type RepositoryAudit,
  type ServiceReport,
  type Severity,
} from '../model.ts';
import { AUDITOR_VERSION } from './version.ts';

/** Section names, in the words of the checklist the categories come from. */
export const CATEGORY_NAMES: Readonly<Record<Category, string>> = {
  SC: 'Service Client',
  SE: 'Service Endpoint',
  SV: 'Service Identity Verification',
  MQ: 'Message Queue Security',
  SM: 'Secrets Management',
  NW: 'Network Security',
  TM: 'Token Management',
  PH: 'Proxy Headers',
  FS: 'Fail-Secure',
};

/** The seed audits' remediation horizons; LOW has none there, so it gets the backlog. */
const HORIZON: Readonly<Record<Severity, string>> = {
  CRITICAL: 'Immediate',
  HIGH: 'This Month',
  MEDIUM: 'This Quarter',
  LOW: 'Backlog',
};

/** More locations than this in one table cell or gap stop helping; JSON and SARIF list all. */
const CELL_LOCATIONS = 3;
const GAP_LOCATIONS = 5;

const SEPARATOR = '---';

const definitions = new Map<string, CheckDefinition>(CATALOG.map((check) => [check.id, check]));

/**
 * Renders the report in the seed audits' Markdown layout: header with the pass rate, a severity
 * summary, one table per category, critical gaps with the offending lines, strengths, remediation
 * by priority, then waived checks and notes about the input when there are any.
 *
 * @example
 * ```ts
 * process.stdout.write(renderMarkdown(await auditDirectory('services/billing')));
 * ```
 */
export function renderMarkdown(report: AuditReport): string {
  const open = report.checks.filter(
    (check) =>
      (check.status === 'FAIL' || check.status === 'PARTIAL') && check.waiver === undefined,
  );
  const sections: string[][] = [
    header(report),
    summary(open),
    ...CATEGORIES.map((category, index) =>
      categorySection(
        index + 1,
        category,
        report.checks.filter((check) => check.category === category),
      ),
    ),
    criticalGaps(open),
    strengths(report.checks),
    remediation(open),
  ];
  const waived = report.checks.filter((check) => check.waiver !== undefined);
  if (waived.length > 0) sections.push(waivedSection(waived));
  if (report.notes.length > 0) sections.push(notesSection(report.notes));
  return `${sections.map((lines) => lines.join('\n')).join(`\n\n${SEPARATOR}\n\n`)}\n`;
}

/** Open (FAIL or PARTIAL, not waived) CRITICAL and HIGH checks of one service's report. */
export function serviceSummary(service: ServiceReport): { critical: number; high: number } {
  const open = service.report.checks.filter(
    (c) => (c.status === 'FAIL' || c.status === 'PARTIAL') && c.waiver === undefined,
  );
  return {
    critical: open.filter((c) => c.severity === 'CRITICAL').length,
    high: open.filter((c) => c.severity === 'HIGH').length,
  };
}

/**
 * A repository of several services: a summary table (service, path, pass rate, open critical
 * and high checks), then each service's report as `renderMarkdown` writes it. One service (a
 * one-service repository, or one picked with `select`) renders exactly as `renderMarkdown`.
 */
export function renderServicesMarkdown(audit: RepositoryAudit): string {
  const only = audit.services.length === 1 ? audit.services[0] : undefined;
  if (only !== undefined) return renderMarkdown(only.report);
  const date = audit.services[0]?.report.date ?? '';
  const lines = [
    `# ${inline(audit.repository)} - Service-to-Service Auth Audit (${String(audit.services.length)} services)`,
    '',
    `**Repository:** ${inline(audit.repository)}`,
    `**Date:** ${date}`,
    `**Auditor:** tessera audit ${AUDITOR_VERSION}`,
    '',
    'Each service is audited over its own files plus the workspace packages it imports.',
    '',
    '| Service | Path | Pass Rate | Critical | High |',
    '|---------|------|-----------|----------|------|',
    ...audit.services.map((service) => {
      const { percent, passed, applicable } = service.report.passRate;
      const { critical, high } = serviceSummary(service);
      return row([
        inline(service.name),
        `\`${service.path}\``,
        `${String(percent)}% (${String(passed)}/${String(applicable)})`,
        String(critical),
        String(high),
      ]);
    }),
  ];
  const reports = audit.services.map((service) => renderMarkdown(service.report).trimEnd());
  return `${[lines.join('\n'), ...reports].join(`\n\n${SEPARATOR}\n\n`)}\n`;
}

function header(report: AuditReport): string[] {
  const { percent, passed, applicable } = report.passRate;
  const service = inline(report.service);
  return [
    `# ${service} - Service-to-Service Auth Audit`,
    '',
    `**Service:** ${service}`,
    `**Date:** ${report.date}`,
    `**Auditor:** tessera audit ${AUDITOR_VERSION}`,
    `**Pass Rate:** ${String(percent)}% (${String(passed)}/${String(applicable)} applicable checks)`,
    ...(report.hidden === undefined ? [] : [hiddenLine(report.hidden)]),
  ];
}

function hiddenLine({ minConfidence, checks }: HiddenFindings): string {
  const count = `${String(checks.length)} finding${checks.length === 1 ? '' : 's'}`;
  const which = checks.length === 0 ? '' : ` (${checks.join(', ')})`;
  return `**Hidden:** ${count} below ${minConfidence} confidence${which}, left out of this report, its pass rate and the gate.`;
}

/**
 * The confidence marker after a finding's reason. High confidence is the unmarked case (the
 * quoted lines show the problem); PASS and N/A rows are never marked.
 */
function confidenceMark(check: CheckResult): string {
  if (check.status !== 'FAIL' && check.status !== 'PARTIAL') return '';
  const note = confidenceOf(check);
  if (note === undefined || note.level === 'high') return '';
  const label = note.level === 'low' ? 'low confidence, needs review' : 'medium confidence';
  return ` (${label}: ${note.reason})`;
}

function summary(open: readonly CheckResult[]): string[] {
  return [
    '## Summary',
    '',
    '| Severity | Count | Issues |',
    '|----------|-------|--------|',
    ...SEVERITIES.map((severity) => {
      const issues = open.filter((check) => check.severity === severity);
      const names = issues.map((check) => `${check.id}: ${shortTitle(check.title)}`);
      return row([severity, String(issues.length), names.length > 0 ? names.join(', ') : 'None']);
    }),
  ];
}

function categorySection(
  number: number,
  category: Category,
  checks: readonly CheckResult[],
): string[] {
  return [
    `## ${String(number)}. ${CATEGORY_NAMES[category]}`,
    '',
    '| Check | Status | Evidence |',
    '|-------|--------|----------|',
    ...checks.map((check) =>
      row([
        `${check.id}: ${check.title}`,
        check.waiver === undefined ? check.status : `${check.status} (waived)`,
        evidenceCell(check),
      ]),
    ),
  ];
}

function evidenceCell(check: CheckResult): string {
  const why = `${check.why}${confidenceMark(check)}`;
  if (check.evidence.length === 0) return why;
  const shown = check.evidence.slice(0, CELL_LOCATIONS).map(location);
  const more = check.evidence.length - shown.length;
  return `${shown.join(', ')}${more > 0 ? ` (+${String(more)} more)` : ''} - ${why}`;
}

function criticalGaps(open: readonly CheckResult[]): string[] {
  const gaps = ['CRITICAL', 'HIGH'].flatMap((severity) =>
    open.filter((check) => check.status === 'FAIL' && check.severity === severity),
  );
  const lines = ['## Critical Security Gaps'];
  if (gaps.length === 0) {
    lines.push('', 'No CRITICAL or HIGH check failed.');
    return lines;
  }
  gaps.forEach((check, index) => {
    lines.push('', `### ${String(index + 1)}. ${check.id}: ${check.title} (${check.severity})`);
    lines.push('', `${check.why}${confidenceMark(check)}`);
    for (const item of check.evidence.slice(0, GAP_LOCATIONS)) {
      lines.push('', location(item), '', ...fenced(item.snippet, languageOf(item.file)));
    }
    const more = check.evidence.length - GAP_LOCATIONS;
    if (more > 0) {
      lines.push('', `And ${String(more)} more locations (the JSON and SARIF reports list all).`);
    }
    const definition = definitions.get(check.id);
    if (definition !== undefined) {
      lines.push('', `**Fix:** ${definition.remediation}`);
      if (definition.snippet !== undefined) {
        lines.push('', ...fenced(definition.snippet, snippetLanguage(definition.snippet)));
      }
    }
  });
  return lines;
}

function strengths(checks: readonly CheckResult[]): string[] {
  // A passed LOW check says little about the service; the ones worth naming are the ones that
  // would have been gaps.
  const passed = checks.filter(
    (check) =>
      check.status === 'PASS' && (check.severity === 'CRITICAL' || check.severity === 'HIGH'),
  );
  return [
    '## Strengths',
    '',
    ...(passed.length === 0
      ? ['No CRITICAL or HIGH check passed.']
      : passed.map((check) => `- ${check.id}: ${check.title} - ${check.why}`)),
  ];
}

function remediation(open: readonly CheckResult[]): string[] {
  const lines = ['## Remediation Priority'];
  for (const severity of SEVERITIES) {
    const items = [
      ...open.filter((check) => check.severity === severity && check.status === 'FAIL'),
      ...open.filter((check) => check.severity === severity && check.status === 'PARTIAL'),
    ];
    if (severity === 'LOW' && items.length === 0) continue;
    lines.push('', `### ${severity} (${HORIZON[severity]})`, '');
    if (items.length === 0) {
      lines.push('Nothing to fix at this severity.');
      continue;
    }
    items.forEach((check, index) => {
      const advice = definitions.get(check.id)?.remediation ?? check.title;
      lines.push(`${String(index + 1)}. ${advice} (${check.id}${findingMarks(check)})`);
    });
  }
  return lines;
}

const findingMarks = (check: CheckResult) => {
  const level = confidenceOf(check)?.level;
  const confidence = level === undefined || level === 'high' ? '' : `, ${level} confidence`;
  return `${check.status === 'PARTIAL' ? ', partial' : ''}${confidence}`;
};

function waivedSection(waived: readonly CheckResult[]): string[] {
  return [
    '## Waived checks',
    '',
    '| Check | Status | Justification |',
    '|-------|--------|---------------|',
    ...waived.map((check) =>
      row([`${check.id}: ${check.title}`, check.status, check.waiver?.justification ?? '']),
    ),
  ];
}

function notesSection(notes: readonly string[]): string[] {
  return ['## Notes', '', ...notes.map((note) => `- ${inline(note)}`)];
}

/** Drops a trailing parenthetical so the summary's issue list stays readable. */
function shortTitle(title: string): string {
  return title.replace(/\s*\([^()]*\)$/, '');
}

function location(evidence: Evidence): string {
  return code(`${evidence.file}:${String(evidence.line)}`);
}

/**
 * One table row. GFM ends a cell at every unescaped `|`, including inside code spans, and a row
 * at a newline, so both are neutralised in every cell.
 */
function row(cells: readonly string[]): string {
  return `| ${cells.map((cell) => cell.replace(/\r?\n|\r/g, ' ').replace(/\|/g, '\\|')).join(' | ')} |`;
}

/**
 * Text from the audited project (service names, file names in notes) shown as prose: Markdown
 * syntax characters are escaped so a file called `__init__.ts` does not turn into bold text.
 */
function inline(text: string): string {
  return text.replace(/\r?\n|\r/g, ' ').replace(/[\\`*_[\]<>#|]/g, (char) => `\\${char}`);
}

/** A code span that survives backticks in its content (CommonMark §6.1). */
function code(text: string): string {
  const fence = '`'.repeat(longestRun(text, '`') + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/** A fenced code block whose fence is longer than any backtick run in the content. */
function fenced(text: string, language: string): string[] {
  const fence = '`'.repeat(Math.max(3, longestRun(text, '`') + 1));
  return [`${fence}${language}`, ...text.split(/\r?\n|\r/), fence];
}

function longestRun(text: string, char: string): number {
  let longest = 0;
  let current = 0;
  for (const c of text) {
    current = c === char ? current + 1 : 0;
    longest = Math.max(longest, current);
  }
  return longest;
}

const LANGUAGES: readonly (readonly [RegExp, string])[] = [
  [/\.(ts|mts|cts|tsx)$/, 'typescript'],
  [/\.(js|mjs|cjs|jsx)$/, 'javascript'],
  [/\.ya?ml$/, 'yaml'],
  [/\.json$/, 'json'],
  [/(^|\/)Dockerfile[^/]*$/, 'dockerfile'],
];

/** Catalog snippets are command lines, policy documents or TypeScript. */
function snippetLanguage(snippet: string): string {
  if (snippet.startsWith('tessera ')) return 'sh';
  return snippet.startsWith('version: ') ? 'yaml' : 'typescript';
}

function languageOf(file: string): string {
  return LANGUAGES.find(([pattern]) => pattern.test(file))?.[1] ?? '';
}
