/**
 * The auditor against five fixture services whose expected results a human auditor wrote down
 * (test/fixtures/<name>/expected.json): three reproduce real audits (api-gateway, event-service,
 * internal-token), one a review of a FastAPI service translated to TypeScript (fastapi-style),
 * and one is a service built right with Tessera (well-built).
 *
 * Each fixture is one test that lists every disagreement at once — a status that differs, or a
 * decisive line the auditor named that the rule's evidence does not include — and reports how
 * many checks agree (`node --test` prints it as a diagnostic).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { auditDirectory } from '../src/audit.ts';
import { CATALOG } from '../src/catalog/checks.ts';
import {
  CATEGORIES,
  type AuditReport,
  type Category,
  type CheckId,
  type Status,
} from '../src/model.ts';
import {
  at,
  compareWithExpected,
  FIXTURE_LOAD,
  FIXTURES,
  loadExpected,
  type Expected,
  type ExpectedCheck,
  type FixtureName,
} from './support/expected.ts';

const FIXTURES_DIR = fileURLToPath(new URL('./fixtures/', import.meta.url));

/**
 * Rows per checklist: SC1–16, SE1–22 (+ SE23, seed 000's per-service rate limiting), SV1–19,
 * MQ1–12, SM1–10, NW1–7, TM1–8, PH1–5, FS1–3.
 */
const ROWS: Readonly<Record<Category, number>> = {
  SC: 16,
  SE: 23,
  SV: 19,
  MQ: 12,
  SM: 10,
  NW: 7,
  TM: 8,
  PH: 5,
  FS: 3,
};
const AUDIT_DATE = new Date('2026-01-01');

const reports = new Map<FixtureName, Promise<AuditReport>>();

/** One audit per fixture, shared by the tests below. */
function reportOf(name: FixtureName): Promise<AuditReport> {
  let report = reports.get(name);
  if (report === undefined) {
    report = auditDirectory(path.join(FIXTURES_DIR, name), { now: AUDIT_DATE, load: FIXTURE_LOAD });
    reports.set(name, report);
  }
  return report;
}

describe('fixture services: expected.json is well-formed', () => {
  for (const name of FIXTURES) {
    it(`${name}: ids are checklist rows, lines point into the fixture, and it parses cleanly`, async () => {
      const expected = loadExpected(path.join(FIXTURES_DIR, name));
      // The hold-out states only what its author predicted before its first audit.
      const minimum = name.startsWith('holdout-') ? 10 : 30;
      assert.ok(
        expected.checks.size >= minimum,
        `${name}: only ${String(expected.checks.size)} checks`,
      );
      const problems: string[] = [];
      for (const [id, check] of expected.checks) {
        const match = /^([A-Z]{2})([1-9]\d*)$/.exec(id);
        const category = match?.[1] as Category | undefined;
        if (category === undefined || !CATEGORIES.includes(category)) {
          problems.push(`${id}: not a check id`);
        } else if (Number(match?.[2]) > ROWS[category]) {
          problems.push(`${id}: ${category} has only ${String(ROWS[category])} rows`);
        }
        if (check.status === 'PASS' || check.status === 'N/A') {
          if (check.lines.length > 0) problems.push(`${id}: lines are for FAIL/PARTIAL findings`);
        }
        for (const line of check.lines) {
          const file = path.join(FIXTURES_DIR, name, line.file);
          if (!existsSync(file)) {
            problems.push(`${id}: ${line.file} does not exist`);
            continue;
          }
          const count = readFileSync(file, 'utf8').split('\n').length;
          if (line.line < 1 || line.line > count || /^\s*$/.test(lineText(file, line.line))) {
            problems.push(`${id}: ${at(line)} is not a line with code`);
          }
        }
      }
      assert.deepEqual(problems, []);
      // The fixtures are realistic code: nothing in them is skipped or fails to parse.
      const report = await reportOf(name);
      assert.deepEqual(report.notes, []);
      assert.equal(report.date, '2026-01-01');
      const minimumFiles = name.startsWith('holdout-') ? 2 : 5;
      assert.ok(
        report.stats.files >= minimumFiles,
        `${name}: ${String(report.stats.files)} files read`,
      );
    });
  }

  it('every id in every expected.json is a catalog id', () => {
    // An empty catalog would make every id unknown; say so rather than list them all.
    assert.ok(CATALOG.length > 0, 'the catalog is empty');
    const known = new Set<string>(CATALOG.map((c) => c.id));
    const unknown = FIXTURES.flatMap((name) =>
      [...loadExpected(path.join(FIXTURES_DIR, name)).checks.keys()]
        .filter((id) => !known.has(id))
        .map((id) => `${name}: ${id}`),
    );
    assert.deepEqual(unknown, []);
  });
});

describe('fixture services: the comparison itself', () => {
  it('counts agreement and lists status and evidence mismatches', () => {
    const expected: Expected = {
      service: 'svc',
      checks: new Map<string, ExpectedCheck>([
        ['SC1', { status: 'FAIL', lines: [{ file: 'src/a.ts', line: 3 }], note: 'static header' }],
        ['SC2', { status: 'PASS', lines: [], note: 'clean' }],
        ['SE1', { status: 'FAIL', lines: [{ file: 'src/b.ts', line: 9 }], note: 'open route' }],
        ['FS2', { status: 'PASS', lines: [], note: 'fails closed' }],
      ]),
    };
    const result = (id: string, status: Status, evidence: [string, number][] = []) => ({
      id: id as CheckId,
      category: id.slice(0, 2) as Category,
      title: id,
      severity: 'HIGH' as const,
      status,
      why: `why ${id}`,
      evidence: evidence.map(([file, line]) => ({ file, line, snippet: '' })),
    });
    const report: AuditReport = {
      service: 'other',
      date: '2026-01-01',
      root: '.',
      passRate: { percent: 0, passed: 0, applicable: 0 },
      checks: [
        result('SC1', 'FAIL', [
          ['src/x.ts', 1],
          ['src/a.ts', 3],
        ]),
        result('SC2', 'PARTIAL'),
        result('SE1', 'FAIL', [['src/b.ts', 10]]),
      ],
      notes: [],
      stats: { files: 0, lines: 0, durationMs: 0 },
    };
    assert.deepEqual(compareWithExpected(expected, report), {
      agree: 1,
      total: 4,
      mismatches: [
        'service: expected svc, got other',
        'SC2: expected PASS, got PARTIAL ("why SC2") — auditor: clean',
        'SE1: evidence lacks src/b.ts:9 (has src/b.ts:10) — auditor: open route',
        'FS2: not in the report (expected PASS: fails closed)',
      ],
    });
  });
});

describe('fixture services: the auditor agrees with the human auditor', () => {
  for (const name of FIXTURES) {
    it(name, async (t) => {
      const expected = loadExpected(path.join(FIXTURES_DIR, name));
      const report = await reportOf(name);
      const { mismatches, agree, total } = compareWithExpected(expected, report);
      t.diagnostic(`${name}: ${String(agree)}/${String(total)} checks agree`);
      assert.ok(
        mismatches.length === 0,
        `${name}: ${String(mismatches.length)} of ${String(total)} checks disagree:\n  ` +
          mismatches.join('\n  '),
      );
    });
  }
});

function lineText(file: string, line: number): string {
  return readFileSync(file, 'utf8').split('\n')[line - 1] ?? '';
}
