import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { auditDirectory, passRateOf } from '../src/audit.ts';
import { confidenceOf, hideBelowConfidence, withConfidence } from '../src/confidence.ts';
import { failingChecks } from '../src/gate.ts';
import type { Confidence, Evidence, Outcome } from '../src/model.ts';
import { outcome } from '../src/rules/rule.ts';

const LINE: Evidence = { file: 'src/app.ts', line: 3, snippet: 'app.get("/x", handler)' };

/** [case, outcome, expected level (undefined: none)] */
const DEFAULTS: readonly (readonly [string, Outcome, Confidence | undefined])[] = [
  ['a FAIL whose lines show the problem', outcome('FAIL', 'TLS checks are off.', [LINE]), 'high'],
  ['a PASS whose lines show the control', outcome('PASS', 'Every call times out.', [LINE]), 'high'],
  ['a FAIL without lines', outcome('FAIL', 'Tokens are never revoked.'), 'medium'],
  ['a PASS without lines', outcome('PASS', 'No secret literal in the code.'), 'medium'],
  [
    'a FAIL whose reason states an absence, with the lines where it was looked for',
    outcome('FAIL', 'No circuit breaker protects outbound calls.', [LINE]),
    'medium',
  ],
  [
    'a PARTIAL that opens with "Nothing"',
    outcome('PARTIAL', 'Nothing refuses unsigned messages on one queue.', [LINE]),
    'medium',
  ],
  [
    'a FAIL that mentions "no" later in the sentence (not an absence claim)',
    outcome('FAIL', 'Tokens carry no scopes and none are checked.', [LINE]),
    'high',
  ],
  [
    'a PASS whose reason opens with "No" but shows lines (only findings read the reason)',
    outcome('PASS', 'No route is left open: the root hook authenticates.', [LINE]),
    'high',
  ],
  [
    "a rule's own low confidence",
    outcome('FAIL', 'A header named like an identity is trusted.', [LINE], {
      level: 'low',
      reason: 'Matched by the header name only.',
    }),
    'low',
  ],
  [
    "a rule's own medium confidence on lines",
    outcome('FAIL', 'The breaker wraps only one client.', [LINE], {
      level: 'medium',
      reason: 'The other clients may be wrapped in a module the auditor did not resolve.',
    }),
    'medium',
  ],
  ['N/A', outcome('N/A', 'No message broker is used.'), undefined],
];

describe('confidence of a decision', () => {
  for (const [name, decided, level] of DEFAULTS) {
    it(`is ${level ?? 'absent'} for ${name}`, () => {
      const filled = withConfidence(decided);
      assert.equal(filled.confidence, level);
      assert.equal(confidenceOf(decided)?.level, level);
      if (level === undefined) {
        assert.ok(!('confidenceReason' in filled));
      } else {
        assert.ok((filled.confidenceReason ?? '').length > 0);
        assert.ok(!(filled.confidenceReason ?? '').includes('\n'), 'one sentence');
      }
    });
  }

  it("keeps a rule's own reason word for word", () => {
    const decided = outcome('FAIL', 'x', [LINE], { level: 'low', reason: 'Matched by name.' });
    assert.deepEqual([decided.confidence, decided.confidenceReason], ['low', 'Matched by name.']);
    assert.equal(withConfidence(decided).confidenceReason, 'Matched by name.');
  });

  it('drops a confidence given to N/A, whoever built the outcome', () => {
    assert.ok(!('confidence' in outcome('N/A', 'x', [], { level: 'high', reason: 'Sure.' })));
    const built: Outcome = {
      status: 'N/A',
      why: 'x',
      evidence: [],
      confidence: 'high',
      confidenceReason: 'Sure.',
    };
    assert.deepEqual(withConfidence(built), { status: 'N/A', why: 'x', evidence: [] });
  });
});

/** An open internal route, TLS checks off, and nothing of a breaker, revocation or rate limit. */
const SERVICE = `import Fastify from 'fastify';
import https from 'node:https';

const app = Fastify();
const agent = new https.Agent({ rejectUnauthorized: false });

app.get('/internal/users/:id', async (request) => {
  const caller = request.headers['x-service-name'];
  const response = await fetch('http://users.internal/users', { dispatcher: agent });
  return { caller, user: await response.json() };
});

await app.listen({ port: 3000 });
`;

describe('--min-confidence in the engine', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tessera-confidence-'));
    await writeFile(path.join(root, 'package.json'), '{ "name": "users-gateway" }\n');
    await writeFile(path.join(root, 'app.ts'), SERVICE);
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('gives every decided check a confidence and reason, and N/A none', async () => {
    const report = await auditDirectory(root);
    assert.equal(report.hidden, undefined);
    for (const check of report.checks) {
      if (check.status === 'N/A') {
        assert.equal(check.confidence, undefined, check.id);
      } else {
        assert.ok(check.confidence !== undefined && check.confidenceReason, check.id);
      }
    }
  });

  it('hides findings below the minimum from the checks, the pass rate and the gate', async () => {
    const all = await auditDirectory(root);
    const sure = await auditDirectory(root, { minConfidence: 'high' });
    const below = all.checks.filter(
      (c) => (c.status === 'FAIL' || c.status === 'PARTIAL') && c.confidence !== 'high',
    );
    assert.ok(below.length > 0, 'the service has findings decided from an absence');
    assert.ok(all.checks.some((c) => c.status === 'FAIL' && c.confidence === 'high'));
    assert.deepEqual(sure.hidden, { minConfidence: 'high', checks: below.map((c) => c.id) });
    assert.deepEqual(
      sure.checks.map((c) => c.id),
      all.checks.filter((c) => !below.includes(c)).map((c) => c.id),
    );
    assert.deepEqual(sure.passRate, passRateOf(sure.checks));
    const gate = failingChecks(sure, 'low').map((c) => c.id);
    assert.ok(gate.length > 0);
    assert.ok(!below.some((c) => gate.includes(c.id)));
    // PASS checks decided from an absence stay: hiding never removes a pass.
    const passes = (checks: typeof all.checks) => checks.filter((c) => c.status === 'PASS').length;
    assert.equal(passes(sure.checks), passes(all.checks));
  });

  it('hides nothing and says nothing at low', async () => {
    const low = await auditDirectory(root, { minConfidence: 'low' });
    assert.equal(low.hidden, undefined);
    assert.equal(low.checks.length, (await auditDirectory(root)).checks.length);
  });

  it('names an empty list at medium when every finding is at least medium', () => {
    const checks = [
      { ...base('SC13'), ...withConfidence(outcome('FAIL', 'TLS off.', [LINE])) },
      { ...base('SC12'), ...withConfidence(outcome('FAIL', 'No breaker.')) },
    ];
    const { shown, hidden } = hideBelowConfidence(checks, 'medium');
    assert.equal(shown.length, 2);
    assert.deepEqual(hidden, { minConfidence: 'medium', checks: [] });
  });
});

const base = (id: 'SC12' | 'SC13') => ({
  id,
  category: 'SC' as const,
  title: id,
  severity: 'CRITICAL' as const,
});
