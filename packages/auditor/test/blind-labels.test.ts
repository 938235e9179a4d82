/**
 * The blind and held-out fixtures' hand labels (test/fixtures/{blind,holdout}/<name>/expected.json)
 * stay well-formed:
 * every catalog check labelled once, evidence on every FAIL and PARTIAL, every evidence line a
 * line with code, and a LABELS.md with its Corrections section. Shape only: the labels are what
 * `npm run audit:score` measures the auditor against, so nothing here compares them with a report.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CATALOG } from '@tessera/auditor';
import { at, loadExpectedServices } from './support/expected.ts';

const SETS = { blind: 8, holdout: 3 } as const;

const fixturesOf = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();

for (const [set, minimum] of Object.entries(SETS)) {
  const setDir = fileURLToPath(new URL(`./fixtures/${set}/`, import.meta.url));
  const fixtures = fixturesOf(setDir);
  describe(`${set} fixtures: the hand labels are well-formed`, () => {
    it(`there are at least the ${String(minimum)} the accuracy measure needs`, () => {
      assert.ok(fixtures.length >= minimum, `only ${String(fixtures.length)} ${set} fixtures`);
    });

    for (const name of fixtures) {
      it(`${name}: every catalog check labelled, evidence where a finding is, LABELS.md`, () => {
        const root = path.join(setDir, name);
        const problems: string[] = [];
        const labels = path.join(root, 'LABELS.md');
        if (!existsSync(labels) || !/^## Corrections/m.test(readFileSync(labels, 'utf8'))) {
          problems.push('LABELS.md with a "## Corrections" section is missing');
        }
        const known = new Set<string>(CATALOG.map((check) => check.id));
        // Monorepo labels name files relative to the repository root, like single services.
        for (const expected of loadExpectedServices(root)) {
          const where = `${expected.service}:`;
          for (const id of known) {
            if (!expected.checks.has(id)) problems.push(`${where} ${id} is not labelled`);
          }
          for (const [id, check] of expected.checks) {
            if (!known.has(id)) problems.push(`${where} ${id} is not a catalog id`);
            const finding = check.status === 'FAIL' || check.status === 'PARTIAL';
            if (finding && check.lines.length === 0) {
              problems.push(`${where} ${id} is ${check.status} without evidence`);
            }
            for (const line of check.lines) {
              const file = path.join(root, line.file);
              const text = existsSync(file)
                ? readFileSync(file, 'utf8').split('\n')[line.line - 1]
                : undefined;
              if (line.line < 1 || text === undefined || text.trim() === '') {
                problems.push(`${where} ${id}: ${at(line)} is not a line with code`);
              }
            }
          }
        }
        assert.deepEqual(problems, []);
      });
    }
  });
}
