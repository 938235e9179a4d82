import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Value } from '@sinclair/typebox/value';
import * as prettier from 'prettier';
import { passRateOf } from '../src/audit.ts';
import { CATALOG } from '../src/catalog/checks.ts';
import type {
  AuditReport,
  CheckId,
  CheckResult,
  ConfidenceNote,
  Evidence,
  Status,
} from '../src/model.ts';
import { renderJson } from '../src/report/json.ts';
import { renderMarkdown } from '../src/report/markdown.ts';
import { renderSarif, SARIF_SCHEMA_URI } from '../src/report/sarif.ts';
import { reportSchema } from '../src/report/schema.ts';

const SCHEMA_FILE = fileURLToPath(new URL('../schema/report.schema.json', import.meta.url));

function result(
  id: CheckId,
  status: Status,
  why: string,
  evidence: readonly Evidence[] = [],
  justification?: string,
  confidence?: ConfidenceNote,
): CheckResult {
  const check = CATALOG.find((c) => c.id === id);
  assert.ok(check !== undefined, id);
  return {
    id,
    category: check.category,
    title: check.title,
    severity: check.severity,
    status,
    why,
    evidence,
    ...(justification !== undefined ? { waiver: { id, justification } } : {}),
    ...(confidence !== undefined
      ? { confidence: confidence.level, confidenceReason: confidence.reason }
      : {}),
  };
}

const LOW_SE6: ConfidenceNote = {
  level: 'low',
  reason: 'The legacy verifier is called through a wrapper the rule only matched by name.',
};

/** Every status, a waiver, notes, and text that would break tables and fences if left raw. */
const CHECKS: readonly CheckResult[] = [
  result('SC11', 'PASS', 'Every undici call has a timeout.', [
    { file: 'src/clients/billing.ts', line: 8, snippet: 'headersTimeout: 5000,' },
  ]),
  result('SC13', 'FAIL', 'TLS verification is switched off.', [
    { file: 'src/clients/http.ts', line: 3, snippet: 'const note = `fenced ``` inside`;' },
  ]),
  result('SC14', 'FAIL', 'The deprecated request package is a dependency.', [
    { file: 'package.json', line: 12, snippet: '"request": "^2.88.2",' },
  ]),
  result('SE1', 'FAIL', 'Route has no authentication | not covered by a hook.', [
    {
      file: 'src/routes/internal.ts',
      line: 12,
      snippet: "fastify.get('/internal/users', (a | b) => handler(a))",
    },
    { file: 'src/my routes/admin.ts', line: 4, snippet: "app.post('/admin', reset)" },
  ]),
  result('SE3', 'PASS', 'Tokens are verified with jose jwtVerify.', [
    { file: 'src/auth.ts', line: 20, snippet: 'await jwtVerify(token, jwks, { issuer })' },
  ]),
  result(
    'SE6',
    'PARTIAL',
    'Issuer checked in one verifier of two.',
    [
      { file: 'src/auth.ts', line: 20, snippet: 'await jwtVerify(token, jwks, { issuer })' },
      { file: 'src/legacy-auth.ts', line: 9, snippet: 'jwt.verify(token, key)' },
    ],
    undefined,
    LOW_SE6,
  ),
  result('MQ5', 'N/A', 'No RabbitMQ definitions in the repository.'),
  result(
    'SM2',
    'FAIL',
    'A password literal in the seed script.',
    [{ file: 'scripts/seed.ts', line: 2, snippet: "const password = 'hunter2hunter2'" }],
    'Seed script for the local database only; never deployed.',
  ),
  result('TM3', 'FAIL', 'Service tokens live 24 hours.'),
];

const REPORT: AuditReport = {
  service: 'billing',
  date: '2026-01-15',
  root: '/home/ci/checkout/services/billing',
  passRate: passRateOf(CHECKS),
  checks: CHECKS,
  notes: [
    'src/broken.ts:3: syntax error (Expression expected.); analysed as far as it parses.',
    'assets/x.ts: binary content; skipped.',
  ],
  stats: { files: 14, lines: 812, durationMs: 37 },
};

/** Splits a table row on the pipes GFM treats as cell boundaries (not `\|`). */
function cells(line: string): string[] {
  return line
    .slice(1, -1)
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim());
}

describe('markdown report', () => {
  const markdown = renderMarkdown(REPORT);
  const lines = markdown.split('\n');

  it('opens with the seed header and the exact pass-rate line', () => {
    assert.deepEqual(lines.slice(0, 6), [
      '# billing - Service-to-Service Auth Audit',
      '',
      '**Service:** billing',
      '**Date:** 2026-01-15',
      '**Auditor:** tessera audit 0.1.0',
      // 7 applicable (N/A and the waived SM2 are out), 2 of them PASS: 28.57 rounded down.
      '**Pass Rate:** 28% (2/7 applicable checks)',
    ]);
  });

  it('has every section, in the seed order', () => {
    assert.deepEqual(
      lines.filter((line) => /^##? /.test(line) || /^### [A-Z]+ \(/.test(line)),
      [
        '# billing - Service-to-Service Auth Audit',
        '## Summary',
        '## 1. Service Client',
        '## 2. Service Endpoint',
        '## 3. Service Identity Verification',
        '## 4. Message Queue Security',
        '## 5. Secrets Management',
        '## 6. Network Security',
        '## 7. Token Management',
        '## 8. Proxy Headers',
        '## 9. Fail-Secure',
        '## Critical Security Gaps',
        '## Strengths',
        '## Remediation Priority',
        '### CRITICAL (Immediate)',
        '### HIGH (This Month)',
        '### MEDIUM (This Quarter)',
        '### LOW (Backlog)',
        '## Waived checks',
        '## Notes',
      ],
    );
  });

  it('counts open FAIL and PARTIAL checks by severity, leaving out the waived one', () => {
    const summary = lines.filter((line) => /^\| (CRITICAL|HIGH|MEDIUM|LOW) \|/.test(line));
    assert.deepEqual(summary.map(cells), [
      [
        'CRITICAL',
        '2',
        'SC13: HTTP client configured with TLS certificate validation, SE1: ALL endpoints require authentication',
      ],
      ['HIGH', '1', 'SE6: Token issuer (iss) validated against allowlist'],
      ['MEDIUM', '1', 'TM3: Short-lived tokens'],
      ['LOW', '1', 'SC14: undici or got used'],
    ]);
  });

  it('keeps every table row at its column count, whatever the cells contain', () => {
    const rows = lines.filter((line) => line.startsWith('|'));
    assert.ok(rows.length > 20);
    for (const line of rows) assert.equal(cells(line).length, 3, line);
  });

  it('shows each check with its status, locations and why', () => {
    const row = (id: string) => lines.find((line) => line.startsWith(`| ${id}: `));
    assert.equal(
      row('SE1'),
      '| SE1: ALL endpoints require authentication (no exceptions for "internal" routes) | FAIL | `src/routes/internal.ts:12`, `src/my routes/admin.ts:4` - Route has no authentication \\| not covered by a hook. |',
    );
    assert.equal(
      row('MQ5'),
      '| MQ5: Default guest user disabled | N/A | No RabbitMQ definitions in the repository. |',
    );
    assert.equal(
      row('SE6'),
      '| SE6: Token issuer (iss) validated against allowlist | PARTIAL | `src/auth.ts:20`, `src/legacy-auth.ts:9` - Issuer checked in one verifier of two. (low confidence, needs review: The legacy verifier is called through a wrapper the rule only matched by name.) |',
    );
    assert.match(row('SM2') ?? '', /^\| SM2: No secrets in source code \| FAIL \(waived\) \|/);
    assert.match(row('SC11') ?? '', /\| PASS \|/);
  });

  it('marks findings of medium and low confidence with the reason, and no other row', () => {
    const row = (id: string) => lines.find((line) => line.startsWith(`| ${id}: `)) ?? '';
    assert.ok(
      row('TM3').endsWith(
        '| FAIL | Service tokens live 24 hours. (medium confidence: Decided from the absence of the control in the analysed code; it may live where the auditor cannot see.) |',
      ),
      row('TM3'),
    );
    for (const id of ['SC11', 'SC13', 'SE1', 'SE3', 'MQ5']) {
      assert.doesNotMatch(row(id), /confidence/, id);
    }
  });

  it('quotes CRITICAL and HIGH failures with their code, in fences that survive backticks', () => {
    const gaps = markdown.slice(
      markdown.indexOf('## Critical Security Gaps'),
      markdown.indexOf('## Strengths'),
    );
    assert.deepEqual(
      gaps.split('\n').filter((line) => line.startsWith('### ')),
      [
        '### 1. SC13: HTTP client configured with TLS certificate validation (CRITICAL)',
        '### 2. SE1: ALL endpoints require authentication (no exceptions for "internal" routes) (CRITICAL)',
      ],
    );
    assert.ok(
      gaps.includes('````typescript\nconst note = `fenced ``` inside`;\n````'),
      'a four-backtick fence around a snippet holding three',
    );
    assert.ok(
      gaps.includes(
        "`src/routes/internal.ts:12`\n\n```typescript\nfastify.get('/internal/users', (a | b) => handler(a))\n```",
      ),
    );
    assert.ok(gaps.includes('**Fix:** Authenticate every route;'));
    assert.ok(gaps.includes("```typescript\nimport { readFileSync } from 'node:fs';"));
    assert.ok(!gaps.includes('SM2'), 'waived failures are not gaps');
    assert.ok(!gaps.includes('SE6'), 'PARTIAL is not a gap');
  });

  it('names passed CRITICAL and HIGH checks as strengths', () => {
    const strengths = markdown.slice(
      markdown.indexOf('## Strengths'),
      markdown.indexOf('## Remediation Priority'),
    );
    assert.deepEqual(
      strengths.split('\n').filter((line) => line.startsWith('- ')),
      [
        '- SE3: Token/certificate verification uses cryptographic validation - Tokens are verified with jose jwtVerify.',
      ],
    );
  });

  it('lists remediations by priority, FAIL before PARTIAL', () => {
    const priority = markdown.slice(
      markdown.indexOf('## Remediation Priority'),
      markdown.indexOf('## Waived checks'),
    );
    const items = priority.split('\n').filter((line) => /^\d+\. /.test(line));
    assert.deepEqual(
      items.map((line) => /\(([A-Z]+\d+(?:, [a-z ]+)*)\)$/.exec(line)?.[1]),
      ['SC13', 'SE1', 'SE6, partial, low confidence', 'TM3, medium confidence', 'SC14'],
    );
    const sc13 = CATALOG.find((check) => check.id === 'SC13');
    assert.equal(items[0], `1. ${sc13?.remediation ?? ''} (SC13)`);
  });

  it('lists waivers with their justification, and the notes', () => {
    assert.ok(
      markdown.includes(
        '| SM2: No secrets in source code | FAIL | Seed script for the local database only; never deployed. |',
      ),
    );
    assert.ok(
      markdown.endsWith(
        '## Notes\n\n- src/broken.ts:3: syntax error (Expression expected.); analysed as far as it parses.\n- assets/x.ts: binary content; skipped.\n',
      ),
    );
  });

  it('leaves out the waiver and notes sections when there is nothing to say', () => {
    const checks = CHECKS.map((c) =>
      c.waiver === undefined ? c : result(c.id, c.status, c.why, c.evidence),
    );
    const plain = renderMarkdown({ ...REPORT, checks, passRate: passRateOf(checks), notes: [] });
    assert.ok(!plain.includes('## Waived checks'));
    assert.ok(!plain.includes('## Notes'));
    assert.ok(plain.includes('**Pass Rate:** 25% (2/8 applicable checks)'));
  });

  it('says in the header how many findings a minimum confidence hid, and which', () => {
    const header = (hidden: AuditReport['hidden']) =>
      renderMarkdown({ ...REPORT, ...(hidden !== undefined ? { hidden } : {}) }).split('\n')[6];
    assert.equal(
      header({ minConfidence: 'high', checks: ['SE6', 'TM3'] }),
      '**Hidden:** 2 findings below high confidence (SE6, TM3), left out of this report, its pass rate and the gate.',
    );
    assert.equal(
      header({ minConfidence: 'medium', checks: [] }),
      '**Hidden:** 0 findings below medium confidence, left out of this report, its pass rate and the gate.',
    );
    assert.equal(header(undefined), '');
  });

  it('gives a CRITICAL gap decided from an absence its confidence marker', () => {
    const checks = CHECKS.map((c) =>
      c.id === 'SE1' ? result('SE1', 'FAIL', 'No hook authenticates requests.', c.evidence) : c,
    );
    const text = renderMarkdown({ ...REPORT, checks });
    const gaps = text.slice(
      text.indexOf('## Critical Security Gaps'),
      text.indexOf('## Strengths'),
    );
    assert.ok(
      gaps.includes(
        '\n\nNo hook authenticates requests. (medium confidence: Decided from the absence of the control: the lines show where it is missing, and it may live where the auditor cannot see.)\n\n',
      ),
      gaps,
    );
  });

  it('escapes Markdown in names that come from the audited project', () => {
    const odd = renderMarkdown({
      ...REPORT,
      service: '__init__ | *svc*',
      notes: ['src/__tests__/a.ts: binary content; skipped.'],
    });
    assert.ok(odd.startsWith('# \\_\\_init\\_\\_ \\| \\*svc\\* - Service-to-Service Auth Audit\n'));
    assert.ok(odd.includes('- src/\\_\\_tests\\_\\_/a.ts: binary content; skipped.'));
  });
});

/** What the JSON says of each decided check: the rule's own (SE6) or the engine's default. */
const SHOWN = { confidence: 'high', confidenceReason: 'The reported lines show the problem.' };
const JSON_CONFIDENCE: Readonly<Record<string, object>> = {
  SC11: { confidence: 'high', confidenceReason: 'The reported lines show the control.' },
  SC13: SHOWN,
  SC14: SHOWN,
  SE1: SHOWN,
  SE3: { confidence: 'high', confidenceReason: 'The reported lines show the control.' },
  SE6: { confidence: 'low', confidenceReason: LOW_SE6.reason },
  SM2: SHOWN,
  TM3: {
    confidence: 'medium',
    confidenceReason:
      'Decided from the absence of the control in the analysed code; it may live where the auditor cannot see.',
  },
};

describe('JSON report', () => {
  const text = renderJson(REPORT);
  const parsed = JSON.parse(text) as Record<string, unknown>;

  it('round-trips the report without the local root path', () => {
    assert.deepEqual(Object.keys(parsed), [
      'service',
      'date',
      'passRate',
      'checks',
      'notes',
      'stats',
    ]);
    assert.deepEqual(parsed, {
      service: 'billing',
      date: '2026-01-15',
      passRate: { percent: 28, passed: 2, applicable: 7 },
      checks: CHECKS.map((check) => ({
        id: check.id,
        title: check.title,
        category: check.category,
        status: check.status,
        severity: check.severity,
        evidence: check.evidence,
        why: check.why,
        ...(check.status === 'N/A' ? {} : JSON_CONFIDENCE[check.id]),
        ...(check.waiver !== undefined
          ? { waiver: { justification: check.waiver.justification } }
          : {}),
      })),
      notes: REPORT.notes,
      stats: { files: 14, lines: 812, durationMs: 37 },
    });
    assert.ok(!text.includes('/home/ci'));
    assert.ok(text.endsWith('}\n'));
  });

  it('validates against the report schema', () => {
    assert.equal(Value.Check(reportSchema, parsed), true);
  });

  it('names the findings a minimum confidence hid, valid against the schema', () => {
    const hidden = JSON.parse(
      renderJson({ ...REPORT, hidden: { minConfidence: 'medium', checks: ['SE6'] } }),
    ) as Record<string, unknown>;
    assert.deepEqual(hidden.hidden, { minConfidence: 'medium', checks: ['SE6'] });
    assert.equal(Value.Check(reportSchema, hidden), true);
    assert.equal(parsed.hidden, undefined);
  });

  const broken: readonly (readonly [string, (report: Record<string, unknown>) => void])[] = [
    ['a check without severity', (r) => delete checkAt(r, 0).severity],
    ['an unknown status', (r) => (checkAt(r, 0).status = 'MAYBE')],
    ['a check id outside the catalog prefixes', (r) => (checkAt(r, 0).id = 'XX1')],
    ['line 0', (r) => (evidenceAt(r, 0).line = 0)],
    ['an evidence item without a snippet', (r) => delete evidenceAt(r, 0).snippet],
    ['a percent over 100', (r) => ((r.passRate as Record<string, unknown>).percent = 101)],
    ['a date that is not YYYY-MM-DD', (r) => (r.date = '15/01/2026')],
    ['an unknown top-level key', (r) => (r.root = '/tmp')],
    ['an empty waiver justification', (r) => (checkAt(r, 7).waiver = { justification: '' })],
    ['a FAIL without a confidence', (r) => delete checkAt(r, 1).confidence],
    ['a PASS without a confidence reason', (r) => delete checkAt(r, 0).confidenceReason],
    ['an unknown confidence', (r) => (checkAt(r, 1).confidence = 'certain')],
    [
      'an N/A check with a confidence',
      (r) => Object.assign(checkAt(r, 6), { confidence: 'high', confidenceReason: 'Sure.' }),
    ],
    ['hidden findings without their level', (r) => (r.hidden = { checks: ['TM3'] })],
  ];
  for (const [name, breakIt] of broken) {
    it(`is refused by the schema with ${name}`, () => {
      const copy = JSON.parse(text) as Record<string, unknown>;
      breakIt(copy);
      assert.equal(Value.Check(reportSchema, copy), false);
    });
  }

  it('has its schema committed as schema/report.schema.json, unchanged', async () => {
    const committed = await readFile(SCHEMA_FILE, 'utf8');
    const config = await prettier.resolveConfig(SCHEMA_FILE);
    const expected = await prettier.format(JSON.stringify(reportSchema, null, 2), {
      ...config,
      filepath: SCHEMA_FILE,
    });
    assert.equal(
      committed,
      expected,
      'schema/report.schema.json is stale: write JSON.stringify(reportSchema, null, 2) to it and run prettier --write on it',
    );
    const schema = JSON.parse(committed) as Record<string, unknown>;
    assert.equal(schema.$id, 'urn:tessera:audit-report:v1');
    assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  });
});

function checkAt(report: Record<string, unknown>, index: number): Record<string, unknown> {
  return (report.checks as Record<string, unknown>[])[index] ?? {};
}

function evidenceAt(report: Record<string, unknown>, index: number): Record<string, unknown> {
  return (checkAt(report, 1).evidence as Record<string, unknown>[])[index] ?? {};
}

interface SarifLog {
  $schema: string;
  version: string;
  runs: {
    tool: {
      driver: {
        name: string;
        semanticVersion: string;
        rules: {
          id: string;
          name: string;
          shortDescription: { text: string };
          fullDescription: { text: string };
          help: { text: string; markdown: string };
          properties: { severity: string; 'security-severity': string };
        }[];
      };
    };
    invocations: { toolExecutionNotifications: { message: { text: string } }[] }[];
    results: {
      ruleId: string;
      ruleIndex: number;
      level: string;
      message: { text: string };
      locations?: {
        physicalLocation: {
          artifactLocation: { uri: string; uriBaseId: string };
          region: { startLine: number; snippet?: { text: string } };
        };
      }[];
      suppressions?: { kind: string; justification: string }[];
      rank: number;
      properties: { confidence: string; confidenceReason: string };
    }[];
    properties: Record<string, unknown>;
  }[];
}

describe('SARIF report', () => {
  const log = JSON.parse(renderSarif(REPORT)) as SarifLog;
  const run = log.runs[0];
  assert.ok(run !== undefined);
  const resultFor = (id: string) => run.results.find((r) => r.ruleId === id);

  it('is a SARIF 2.1.0 log with one run of tessera-audit', () => {
    assert.equal(log.version, '2.1.0');
    assert.equal(log.$schema, SARIF_SCHEMA_URI);
    assert.match(log.$schema, /^https:\/\/docs\.oasis-open\.org\/sarif\/sarif\/v2\.1\.0\//);
    assert.equal(log.runs.length, 1);
    assert.equal(run.tool.driver.name, 'tessera-audit');
    assert.equal(run.tool.driver.semanticVersion, '0.1.0');
  });

  it('describes every catalog check as a rule, with its remediation as help', () => {
    const { rules } = run.tool.driver;
    assert.deepEqual(
      rules.map((rule) => rule.id),
      CATALOG.map((check) => check.id),
    );
    for (const [index, rule] of rules.entries()) {
      const check = CATALOG[index];
      assert.ok(check !== undefined);
      assert.equal(rule.shortDescription.text, check.title);
      assert.ok(rule.fullDescription.text.includes(check.evidence), rule.id);
      assert.ok(rule.help.text.startsWith(check.remediation), rule.id);
      assert.equal(rule.properties.severity, check.severity);
      assert.match(rule.name, /^[A-Z][A-Za-z0-9]*$/);
    }
    const se1 = rules.find((rule) => rule.id === 'SE1');
    assert.ok(se1 !== undefined);
    assert.equal(se1.name, 'AllEndpointsRequireAuthenticationNoExceptionsForInternalRoutes');
    assert.equal(se1.properties['security-severity'], '9.5');
    assert.equal(rules.find((rule) => rule.id === 'SC14')?.properties['security-severity'], '3.0');
  });

  it('reports FAIL and PARTIAL checks only, errors for CRITICAL and HIGH failures', () => {
    assert.deepEqual(
      run.results.map((r) => [r.ruleId, r.level]),
      [
        ['SC13', 'error'],
        ['SC14', 'warning'],
        ['SE1', 'error'],
        ['SE6', 'warning'],
        ['SM2', 'error'],
        ['TM3', 'warning'],
      ],
    );
    for (const r of run.results) {
      assert.equal(run.tool.driver.rules[r.ruleIndex]?.id, r.ruleId);
    }
    assert.equal(
      resultFor('SE1')?.message.text,
      'SE1: ALL endpoints require authentication (no exceptions for "internal" routes) (FAIL). Route has no authentication | not covered by a hook.',
    );
  });

  it('gives each result one location per evidence item, relative to %SRCROOT%', () => {
    for (const check of CHECKS.filter((c) => c.status === 'FAIL' || c.status === 'PARTIAL')) {
      const locations = resultFor(check.id)?.locations ?? [];
      assert.deepEqual(
        locations.map(({ physicalLocation }) => [
          physicalLocation.artifactLocation.uriBaseId,
          decodeURIComponent(physicalLocation.artifactLocation.uri),
          physicalLocation.region.startLine,
          physicalLocation.region.snippet?.text,
        ]),
        check.evidence.map((e) => ['%SRCROOT%', e.file, e.line, e.snippet]),
        check.id,
      );
    }
    assert.equal(
      resultFor('SE1')?.locations?.[1]?.physicalLocation.artifactLocation.uri,
      'src/my%20routes/admin.ts',
    );
    assert.equal(resultFor('TM3')?.locations, undefined);
  });

  it('anchors results without evidence at the project file when one is given', () => {
    const anchored = JSON.parse(renderSarif(REPORT, { projectFile: 'package.json' })) as SarifLog;
    const tm3 = anchored.runs[0]?.results.find((r) => r.ruleId === 'TM3');
    assert.deepEqual(tm3?.locations, [
      {
        physicalLocation: {
          artifactLocation: { uri: 'package.json', uriBaseId: '%SRCROOT%' },
          region: { startLine: 1 },
        },
      },
    ]);
  });

  it('suppresses waived checks with the justification', () => {
    assert.deepEqual(resultFor('SM2')?.suppressions, [
      {
        kind: 'external',
        justification: 'Seed script for the local database only; never deployed.',
      },
    ]);
    assert.equal(resultFor('SE1')?.suppressions, undefined);
  });

  it('gives each result its confidence with the reason, and a rank from severity and confidence', () => {
    assert.deepEqual(
      run.results.map((r) => [r.ruleId, r.properties.confidence, r.rank]),
      [
        ['SC13', 'high', 95],
        ['SC14', 'high', 30],
        ['SE1', 'high', 95],
        ['SE6', 'low', 32],
        ['SM2', 'high', 95],
        ['TM3', 'medium', 38.5],
      ],
    );
    assert.equal(resultFor('SE6')?.properties.confidenceReason, LOW_SE6.reason);
    assert.equal(run.properties.hidden, undefined);
    const hidden = JSON.parse(
      renderSarif({ ...REPORT, hidden: { minConfidence: 'high', checks: ['SE6', 'TM3'] } }),
    ) as SarifLog;
    assert.deepEqual(hidden.runs[0]?.properties.hidden, {
      minConfidence: 'high',
      checks: ['SE6', 'TM3'],
    });
  });

  it('passes the notes on as tool notifications', () => {
    assert.deepEqual(
      run.invocations[0]?.toolExecutionNotifications.map((n) => n.message.text),
      REPORT.notes,
    );
  });
});
