/**
 * The arithmetic of `npm run audit:score` (scripts/scoring.ts) on tiny hand-made label/report
 * pairs whose every count is worked out by hand, plus reading both expected.json forms and
 * finding a service's root in a several-service fixture.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { CheckId, Evidence, Status } from '@tessera/auditor';
import {
  addCounts,
  evidenceHit,
  formatRatio,
  measuresOf,
  renderConfusion,
  scoreService,
} from '../scripts/scoring.ts';
import { findServiceRoot } from '../scripts/service-root.ts';
import {
  loadExpected,
  loadExpectedServices,
  type Expected,
  type ExpectedLine,
} from './support/expected.ts';

const label = (status: Status, ...lines: ExpectedLine[]) => ({ status, lines, note: 'n' });
const expected = (checks: Record<string, ReturnType<typeof label>>): Expected => ({
  service: 's',
  checks: new Map(Object.entries(checks)),
});
const reported = (id: string, status: Status, ...evidence: [string, number][]) => ({
  id: id as CheckId,
  status,
  evidence: evidence.map(([file, line]): Evidence => ({ file, line, snippet: '' })),
});

const scratch = mkdtempSync(path.join(tmpdir(), 'tessera-score-'));
after(() => {
  rmSync(scratch, { recursive: true, force: true });
});
const write = (file: string, text: string) => {
  mkdirSync(path.dirname(path.join(scratch, file)), { recursive: true });
  writeFileSync(path.join(scratch, file), text);
};

describe('scoreService: one labelled service against one report', () => {
  // A: PASS labelled, FAIL reported (a false finding).
  // B: FAIL labelled at f.ts:10, FAIL reported at f.ts:13 (agrees; evidence 3 away: hit).
  // C: PARTIAL labelled, N/A reported (a missed finding; no evidence).
  // D: N/A labelled, N/A reported (exact, not decidable).
  // E: FAIL labelled at g.ts:5, PARTIAL reported at g.ts:9 (found, disagrees; 4 away: miss).
  // F: reported FAIL but not labelled (ignored).
  const score = scoreService(
    expected({
      A: label('PASS'),
      B: label('FAIL', { file: 'f.ts', line: 10 }),
      C: label('PARTIAL', { file: 'f.ts', line: 20 }),
      D: label('N/A'),
      E: label('FAIL', { file: 'g.ts', line: 5 }),
    }),
    [
      reported('A', 'FAIL', ['f.ts', 1]),
      reported('B', 'FAIL', ['f.ts', 13]),
      reported('C', 'N/A'),
      reported('D', 'N/A'),
      reported('E', 'PARTIAL', ['g.ts', 9]),
      reported('F', 'FAIL', ['f.ts', 10]),
    ],
  );

  it('counts agreement, findings, exact status and evidence by the documented definitions', () => {
    const { confusion, ...counts } = score.counts;
    assert.deepEqual(counts, {
      labelled: 5,
      decidable: 4,
      decidableAgree: 1,
      exact: 2,
      reportedFindings: 3,
      labelledFindings: 3,
      foundFindings: 2,
      findingsWithLines: 3,
      evidenceHits: 1,
    });
    assert.equal(confusion.PASS.FAIL, 1);
    assert.equal(confusion.FAIL.FAIL, 1);
    assert.equal(confusion.PARTIAL['N/A'], 1);
    assert.equal(confusion['N/A']['N/A'], 1);
    assert.equal(confusion.FAIL.PARTIAL, 1);
    const cells = Object.values(confusion).flatMap((row) => Object.values(row));
    assert.equal(
      cells.reduce((a, b) => a + b, 0),
      5,
    );
  });

  it('turns the counts into ratios and lists what disagrees', () => {
    const m = measuresOf(score.counts);
    assert.deepEqual(m.agreement, { hits: 1, of: 4, rate: 0.25 });
    assert.deepEqual(m.precision, { hits: 2, of: 3, rate: 2 / 3 });
    assert.deepEqual(m.recall, { hits: 2, of: 3, rate: 2 / 3 });
    assert.deepEqual(m.exactStatus, { hits: 2, of: 5, rate: 0.4 });
    assert.deepEqual(m.evidenceHitRate, { hits: 1, of: 3, rate: 1 / 3 });
    assert.equal(formatRatio(m.agreement), '1/4 25.0%');
    assert.deepEqual(
      score.disagreements.map((d) => `${d.id} ${d.label}→${d.reported}`),
      ['A PASS→FAIL', 'C PARTIAL→N/A', 'E FAIL→PARTIAL'],
    );
    assert.deepEqual(score.evidenceMisses, ['C', 'E']);
  });

  it('counts an auditor N/A on a decidable label as a disagreement, N/A on N/A as agreement', () => {
    const s = scoreService(expected({ A: label('PASS'), B: label('N/A') }), [
      reported('A', 'N/A'),
      reported('B', 'N/A'),
    ]);
    assert.equal(s.counts.decidable, 1);
    assert.equal(s.counts.decidableAgree, 0);
    assert.equal(s.counts.exact, 1);
  });

  it('puts a labelled check the report lacks in the "missing" column and disagrees', () => {
    const s = scoreService(expected({ A: label('FAIL', { file: 'a.ts', line: 1 }) }), []);
    assert.equal(s.counts.confusion.FAIL.missing, 1);
    assert.equal(s.counts.decidableAgree, 0);
    assert.equal(s.counts.foundFindings, 0);
    assert.equal(s.counts.evidenceHits, 0);
    assert.deepEqual(s.disagreements[0]?.reported, 'missing');
  });

  it('leaves labelled findings without lines out of the evidence denominator', () => {
    const s = scoreService(expected({ A: label('FAIL'), B: label('PARTIAL') }), [
      reported('A', 'FAIL', ['a.ts', 1]),
      reported('B', 'PASS'),
    ]);
    assert.equal(s.counts.labelledFindings, 2);
    assert.equal(s.counts.findingsWithLines, 0);
    assert.equal(measuresOf(s.counts).evidenceHitRate.rate, null);
    assert.equal(formatRatio(measuresOf(s.counts).evidenceHitRate), '0/0 —');
  });

  it('counts evidence whatever status the report gives the check', () => {
    const s = scoreService(expected({ A: label('FAIL', { file: 'a.ts', line: 7 }) }), [
      reported('A', 'PASS', ['a.ts', 7]),
    ]);
    assert.equal(s.counts.evidenceHits, 1);
    assert.equal(s.counts.foundFindings, 0);
  });
});

describe('evidenceHit: the ±3-line window', () => {
  const cases: [string, string, number, boolean][] = [
    ['4 lines before', 'a.ts', 16, false],
    ['3 lines before', 'a.ts', 17, true],
    ['same line', 'a.ts', 20, true],
    ['3 lines after', 'a.ts', 23, true],
    ['4 lines after', 'a.ts', 24, false],
    ['same line, other file', 'b.ts', 20, false],
    ['same name, other directory', 'lib/a.ts', 20, false],
  ];
  for (const [name, file, line, hit] of cases) {
    it(`${name}: ${hit ? 'hit' : 'miss'}`, () => {
      assert.equal(evidenceHit([{ file: 'a.ts', line: 20 }], [{ file, line }]), hit);
    });
  }

  it('hits when any reported line is near any labelled line', () => {
    const labelled = [
      { file: 'a.ts', line: 20 },
      { file: 'b.ts', line: 50 },
    ];
    assert.equal(evidenceHit(labelled, [{ file: 'a.ts', line: 90 }]), false);
    assert.equal(
      evidenceHit(labelled, [
        { file: 'a.ts', line: 90 },
        { file: 'b.ts', line: 47 },
      ]),
      true,
    );
    assert.equal(evidenceHit([], [{ file: 'a.ts', line: 20 }]), false);
  });

  it("prefixes the report's paths with the audited service root", () => {
    const labelled = [{ file: 'apps/orders/src/a.ts', line: 5 }];
    const got = [{ file: 'src/a.ts', line: 5 }];
    assert.equal(evidenceHit(labelled, got), false);
    assert.equal(evidenceHit(labelled, got, 'apps/orders'), true);
    assert.equal(evidenceHit(labelled, got, 'apps/gateway'), false);
  });
});

describe('expected.json forms', () => {
  const check = (status: Status, file?: string) =>
    file === undefined ? { status, note: 'n' } : { status, lines: [{ file, line: 2 }], note: 'n' };

  it('reads a single-service file as one service', () => {
    write(
      'single/expected.json',
      JSON.stringify({ service: 'one', checks: { SE1: check('PASS') } }),
    );
    const services = loadExpectedServices(path.join(scratch, 'single'));
    assert.deepEqual(
      services.map((s) => [s.service, [...s.checks.keys()]]),
      [['one', ['SE1']]],
    );
  });

  it('reads a monorepo file as one service per entry and scores each on its own', () => {
    write(
      'mono/expected.json',
      JSON.stringify({
        services: {
          gateway: { service: 'gateway', checks: { SE1: check('FAIL', 'apps/gateway/a.ts') } },
          orders: {
            service: 'orders',
            checks: { SE1: check('PASS'), SC1: check('PARTIAL', 'packages/auth/t.ts') },
          },
        },
      }),
    );
    const [gateway, orders] = loadExpectedServices(path.join(scratch, 'mono'));
    assert.ok(gateway !== undefined && orders !== undefined);
    assert.equal(gateway.service, 'gateway');
    assert.deepEqual([...orders.checks.keys()], ['SE1', 'SC1']);
    // Gateway audited at apps/gateway; orders audited as the whole repository.
    const g = scoreService(gateway, [reported('SE1', 'FAIL', ['a.ts', 5])], 'apps/gateway');
    const o = scoreService(orders, [
      reported('SE1', 'FAIL'),
      reported('SC1', 'PARTIAL', ['packages/auth/t.ts', 2]),
    ]);
    const total = addCounts([g.counts, o.counts]);
    assert.equal(total.labelled, 3);
    assert.equal(total.decidableAgree, 2);
    assert.equal(total.reportedFindings, 3);
    assert.equal(total.foundFindings, 2);
    assert.equal(total.evidenceHits, 2);
    assert.equal(total.confusion.PASS.FAIL, 1);
    assert.deepEqual(measuresOf(total).precision, { hits: 2, of: 3, rate: 2 / 3 });
  });

  it('refuses malformed files, naming the place', () => {
    write('bad-empty/expected.json', JSON.stringify({ services: {} }));
    assert.throws(() => loadExpectedServices(path.join(scratch, 'bad-empty')), /services/);
    write(
      'bad-status/expected.json',
      JSON.stringify({ services: { a: { service: 'a', checks: { SE1: check('OK' as Status) } } } }),
    );
    assert.throws(
      () => loadExpectedServices(path.join(scratch, 'bad-status')),
      /services\.a: SE1: status "OK"/,
    );
    // The fixture tests' reader still wants one service.
    assert.throws(() => loadExpected(path.join(scratch, 'mono')), /expected \{ service, checks \}/);
  });
});

describe('findServiceRoot', () => {
  write('repo/package.json', JSON.stringify({ name: 'shop' }));
  write('repo/apps/orders/package.json', JSON.stringify({ name: '@shop/orders-service' }));
  write('repo/apps/gateway/package.json', JSON.stringify({ name: '@shop/gateway' }));
  write('repo/apps/orders/test/package.json', JSON.stringify({ name: 'gateway' }));
  write('repo/backend/pyproject.toml', '[project]\nname = "notes-backend"\n');
  write('repo/workers/mailer/README.md', 'no manifest');
  write('repo/a/dup/package.json', JSON.stringify({ name: 'dup' }));
  write('repo/b/dup/package.json', JSON.stringify({ name: 'dup' }));
  const repo = path.join(scratch, 'repo');
  const cases: [string, string | undefined][] = [
    ['orders-service', 'apps/orders'],
    ['gateway', 'apps/gateway'],
    ['notes-backend', 'backend'],
    ['mailer', 'workers/mailer'],
    ['dup', undefined],
    ['shop', undefined],
    ['nowhere', undefined],
  ];
  for (const [service, root] of cases) {
    it(`${service}: ${root ?? 'no single root'}`, () => {
      const found = findServiceRoot(repo, service);
      assert.equal(found === undefined ? undefined : path.relative(repo, found), root);
    });
  }
});

describe('renderConfusion', () => {
  it('has a row per label status, a column per reported status and totals', () => {
    const s = scoreService(expected({ A: label('PASS'), B: label('N/A') }), [
      reported('A', 'FAIL'),
    ]);
    const lines = renderConfusion(s.counts.confusion).split('\n');
    assert.match(
      lines[0] ?? '',
      /label \\ auditor \| PASS +\| PARTIAL +\| FAIL +\| N\/A +\| missing +\| total/,
    );
    assert.match(
      lines.find((l) => l.startsWith('| PASS')) ?? '',
      /^\| PASS +\| 0 +\| 0 +\| 1 +\| 0 +\| 0 +\| 1 +\|$/,
    );
    assert.match(lines.find((l) => l.startsWith('| N/A')) ?? '', /\| 0 +\| 1 +\| 1 +\|$/);
    assert.match(lines.at(-1) ?? '', /^\| total +\| 0 +\| 0 +\| 1 +\| 0 +\| 1 +\| 2 +\|$/);
  });
});
