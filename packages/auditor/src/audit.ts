import { CATALOG } from './catalog/checks.ts';
import { hideBelowConfidence, withConfidence } from './confidence.ts';
import type {
  AuditReport,
  CheckResult,
  Confidence,
  PassRate,
  RepositoryAudit,
  ServiceReport,
  Waiver,
} from './model.ts';
import { loadProject, type LoadOptions, type Project } from './project/load.ts';
import { detectServices } from './project/services.ts';
import { isPythonService, pythonModel } from './python/model.ts';
import { pythonRuleFor } from './python/rules/index.ts';
import { RULES } from './rules/index.ts';
import { createAuditContext } from './analysis/context.ts';

export interface AuditOptions {
  /** The audit date (reports show it); defaults to now. */
  readonly now?: Date;
  /** Waived checks: reported with their justification, left out of the pass rate. */
  readonly waivers?: readonly Waiver[];
  /** Overrides the service name taken from package.json or the directory name. */
  readonly service?: string;
  /**
   * Leave out findings (FAIL, PARTIAL) less sure than this: they are named in the report's
   * `hidden`, and left out of its checks, pass rate and gate. Default `low`: nothing is hidden.
   */
  readonly minConfidence?: Confidence;
  readonly load?: LoadOptions;
}

/** Audits the code under `root` against the whole catalog. Never throws for bad input. */
export async function auditDirectory(
  root: string,
  options: AuditOptions = {},
): Promise<AuditReport> {
  const started = performance.now();
  const project = await loadProject(root, options.load);
  return auditProject(root, project, options, started);
}

export interface RepositoryAuditOptions extends AuditOptions {
  /** Audit only the service of this name (or package name, or path). */
  readonly select?: string;
}

/**
 * Audits a repository: a monorepo with several services (workspace packages with a server entry
 * point) gets one report per service; anything else one report, as `auditDirectory` makes it.
 */
export async function auditRepository(
  root: string,
  options: RepositoryAuditOptions = {},
): Promise<RepositoryAudit> {
  const started = performance.now();
  const project = await loadProject(root, options.load);
  const scopes = detectServices(project);
  if (scopes.length === 0) {
    const report = auditProject(root, project, options, started);
    const selected =
      options.select === undefined ||
      options.select === report.service ||
      options.select === project.name ||
      options.select === '.';
    return {
      repository: project.name,
      services: selected ? [{ name: report.service, path: '.', report }] : [],
      found: [report.service],
    };
  }
  const select = options.select;
  const chosen =
    select === undefined
      ? scopes
      : scopes.filter((s) => s.name === select || s.packageName === select || s.dir === select);
  const services: ServiceReport[] = [];
  for (const scope of chosen) {
    // The config's `service` renames a one-service repository; here each report has its own.
    const report = auditProject(
      root,
      scope.project,
      { ...options, service: scope.name },
      performance.now(),
    );
    services.push({ name: scope.name, path: scope.dir, report });
  }
  return { repository: project.name, services, found: scopes.map((s) => s.name) };
}

function auditProject(
  root: string,
  project: Project,
  options: AuditOptions,
  started: number,
): AuditReport {
  const notes = [...project.notes];
  const ctx = createAuditContext(project);
  const waivers = new Map((options.waivers ?? []).map((w) => [w.id, w]));
  // A service with Python code and no JavaScript is judged by the Python rules.
  const python = isPythonService(ctx);
  const checks: CheckResult[] = CATALOG.map((check) => {
    const rule = python ? pythonRuleFor(check, RULES.get(check.id)) : RULES.get(check.id);
    let result: CheckResult;
    if (project.units.length === 0 && !python && check.decidedBy === 'source') {
      result = { ...base(check), status: 'N/A', why: 'No source code to analyse.', evidence: [] };
    } else if (rule === undefined) {
      result = {
        ...base(check),
        status: 'N/A',
        why: 'This version of the auditor has no rule for this check.',
        evidence: [],
      };
    } else {
      try {
        result = { ...base(check), ...rule(ctx) };
      } catch (error) {
        notes.push(`${check.id}: the rule failed (${String(error)}); reported as N/A.`);
        result = {
          ...base(check),
          status: 'N/A',
          why: 'The rule failed; see notes.',
          evidence: [],
        };
      }
    }
    const waiver = waivers.get(check.id);
    return withConfidence(waiver === undefined ? result : { ...result, waiver });
  });
  if (python) notes.push(...pythonNotes(ctx));
  const { shown, hidden } = hideBelowConfidence(checks, options.minConfidence);
  return {
    service: options.service ?? project.name,
    date: (options.now ?? new Date()).toISOString().slice(0, 10),
    root,
    passRate: passRateOf(shown),
    checks: shown,
    ...(hidden !== undefined ? { hidden } : {}),
    notes,
    stats: {
      files: project.units.length + project.textFiles.length + (project.pythonFiles?.length ?? 0),
      lines: project.lines,
      durationMs: Math.round(performance.now() - started),
    },
  };
}

/** The Python model's notes (files that did not parse); a model that fails is a note too. */
function pythonNotes(ctx: ReturnType<typeof createAuditContext>): readonly string[] {
  try {
    return pythonModel(ctx).py.notes;
  } catch (error) {
    return [`The Python model could not be built (${String(error)}); Python checks are N/A.`];
  }
}

const base = (check: (typeof CATALOG)[number]) => ({
  id: check.id,
  category: check.category,
  title: check.title,
  severity: check.severity,
});

/** PASS over applicable checks (not N/A, not waived); PARTIAL counts as not passed. */
export function passRateOf(checks: readonly CheckResult[]): PassRate {
  const applicable = checks.filter((c) => c.status !== 'N/A' && c.waiver === undefined);
  const passed = applicable.filter((c) => c.status === 'PASS').length;
  const percent = applicable.length === 0 ? 0 : Math.floor((passed * 100) / applicable.length);
  return { percent, passed, applicable: applicable.length };
}
