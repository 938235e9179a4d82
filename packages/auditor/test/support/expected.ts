/** Expected results a human auditor wrote down for a fixture project, and the comparison with a report. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { STATUSES, type AuditReport, type Status } from '../../src/model.ts';

export interface ExpectedLine {
  readonly file: string;
  readonly line: number;
}

export interface ExpectedCheck {
  readonly status: Status;
  readonly lines: readonly ExpectedLine[];
  readonly note: string;
}

export interface Expected {
  readonly service: string;
  readonly checks: ReadonlyMap<string, ExpectedCheck>;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The directory names of the fixtures the rules were written against (test/fixtures/<name>). */
/**
 * What a fixture audit leaves out: the fixture's answer key (`expected.json`), which describes the
 * service and is not part of it (its notes name headers and URLs the text scans would find).
 */
export const FIXTURE_LOAD = {
  ignore: (relPath: string): boolean => relPath === 'expected.json',
} as const;

export const FIXTURES = [
  'api-gateway',
  'event-service',
  'internal-token',
  'fastapi-style',
  'well-built',
  // Written after the rules, and audited for the first time only once its expected results
  // were fixed: a check on rules that were tuned against the five above.
  'holdout-notification-service',
] as const;
export type FixtureName = (typeof FIXTURES)[number];

/** Reads and shape-checks a single-service expected.json; a malformed file is an error naming the place. */
export function loadExpected(directory: string): Expected {
  const file = path.join(directory, 'expected.json');
  return parseService(JSON.parse(readFileSync(file, 'utf8')), file);
}

/**
 * Reads expected.json in either form: one service (`{ service, checks }`) or a repository of
 * several (`{ services: { <name>: { service, checks } } }`, used by the monorepo fixtures, whose
 * evidence paths are relative to the repository root). Services come back in file order.
 */
export function loadExpectedServices(directory: string): Expected[] {
  const file = path.join(directory, 'expected.json');
  const raw: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!isRecord(raw) || !('services' in raw)) return [parseService(raw, file)];
  if (!isRecord(raw.services) || Object.keys(raw.services).length === 0) {
    throw new Error(`${file}: expected { services: { <name>: { service, checks } } }`);
  }
  return Object.entries(raw.services).map(([name, value]) =>
    parseService(value, `${file}: services.${name}`),
  );
}

function parseService(raw: unknown, file: string): Expected {
  if (!isRecord(raw) || typeof raw.service !== 'string' || !isRecord(raw.checks)) {
    throw new Error(`${file}: expected { service, checks }`);
  }
  const checks = new Map<string, ExpectedCheck>();
  for (const [id, value] of Object.entries(raw.checks)) {
    const where = `${file}: ${id}`;
    if (!isRecord(value)) throw new Error(`${where}: not an object`);
    const { status, lines = [], note } = value;
    if (!(STATUSES as readonly unknown[]).includes(status)) {
      throw new Error(`${where}: status ${JSON.stringify(status)}`);
    }
    if (typeof note !== 'string' || note.trim() === '') throw new Error(`${where}: no note`);
    if (!Array.isArray(lines)) throw new Error(`${where}: lines is not an array`);
    const parsed = lines.map((entry: unknown): ExpectedLine => {
      if (!isRecord(entry) || typeof entry.file !== 'string' || !Number.isInteger(entry.line)) {
        throw new Error(`${where}: a line is not { file, line }`);
      }
      return { file: entry.file, line: entry.line as number };
    });
    checks.set(id, { status: status as Status, lines: parsed, note });
  }
  return { service: raw.service, checks };
}

export const at = (e: ExpectedLine) => `${e.file}:${String(e.line)}`;

/** Every disagreement between the report and expected.json, and how many checks agree. */
export function compareWithExpected(
  expected: Expected,
  report: AuditReport,
): { mismatches: string[]; agree: number; total: number } {
  const mismatches: string[] = [];
  if (report.service !== expected.service) {
    mismatches.push(`service: expected ${expected.service}, got ${report.service}`);
  }
  const results = new Map(report.checks.map((c) => [c.id as string, c]));
  let agree = 0;
  for (const [id, want] of expected.checks) {
    const got = results.get(id);
    if (got === undefined) {
      mismatches.push(`${id}: not in the report (expected ${want.status}: ${want.note})`);
      continue;
    }
    const problems: string[] = [];
    if (got.status !== want.status) {
      problems.push(`expected ${want.status}, got ${got.status} ("${got.why}")`);
    }
    const evidence = new Set(got.evidence.map(at));
    const missing = want.lines.filter((line) => !evidence.has(at(line)));
    if (missing.length > 0) {
      const shown = [...evidence].slice(0, 5).join(', ');
      problems.push(
        `evidence lacks ${missing.map(at).join(', ')} (has ${shown === '' ? 'none' : shown})`,
      );
    }
    if (problems.length === 0) agree++;
    else mismatches.push(`${id}: ${problems.join('; ')} — auditor: ${want.note}`);
  }
  return { mismatches, agree, total: expected.checks.size };
}
