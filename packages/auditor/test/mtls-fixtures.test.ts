/**
 * Transport-security fixtures (test/fixtures/mtls/<case>/expected.json): small services whose
 * TLS set-up a human labelled before auditing them, positive and negative — mutual TLS with
 * node:https and Fastify, Node's `requestCert` default, client certificates made optional, TLS
 * without client certificates, a plain-HTTP server, a dispatcher that skips server
 * verification, Tessera's workload identity. Each case states only the rows its set-up decides
 * (NW1, SV1, SC1, SC9, SC13, SC16); every disagreement is listed at once, as in fixtures.test.ts.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { auditDirectory } from '../src/audit.ts';
import { compareWithExpected, FIXTURE_LOAD, loadExpected } from './support/expected.ts';

const CASES_DIR = fileURLToPath(new URL('./fixtures/mtls/', import.meta.url));
const CASES = readdirSync(CASES_DIR, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

describe('transport-security fixtures: the auditor agrees with the labels', () => {
  it('has positive and negative cases', () => {
    const statuses = CASES.flatMap((name) =>
      [...loadExpected(path.join(CASES_DIR, name)).checks.values()].map((c) => c.status),
    );
    assert.ok(CASES.length >= 6, `only ${String(CASES.length)} cases`);
    assert.ok(statuses.includes('PASS'));
    assert.ok(statuses.includes('FAIL') && statuses.includes('PARTIAL'));
  });

  for (const name of CASES) {
    it(name, async (t) => {
      const directory = path.join(CASES_DIR, name);
      const expected = loadExpected(directory);
      const report = await auditDirectory(directory, {
        now: new Date('2026-01-01'),
        load: FIXTURE_LOAD,
      });
      assert.deepEqual(report.notes, [], 'every file parses');
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
