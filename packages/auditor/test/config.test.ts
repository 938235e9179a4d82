import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isTesseraError } from '@tessera/core';
import { passRateOf } from '../src/audit.ts';
import { CATALOG } from '../src/catalog/checks.ts';
import { findAuditConfig, loadAuditConfig, parseAuditConfig, type FailOn } from '../src/config.ts';
import { failingChecks } from '../src/gate.ts';
import type { AuditReport, CheckId, CheckResult, Status } from '../src/model.ts';

/** Asserts `action` throws ERR_CONFIG_INVALID with exactly this detail. */
function assertInvalid(action: () => unknown, detail: string): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(isTesseraError(error), String(error));
    assert.equal(error.code, 'ERR_CONFIG_INVALID');
    assert.equal(error.detail, detail);
    return true;
  });
}

const BAD_YAML: readonly (readonly [string, string, string])[] = [
  ['an unknown top-level key', 'service: billing\nwaiver: []\n', 'x.yaml:2: /waiver: unknown key'],
  [
    'an unknown key in a waiver',
    'waivers:\n  - id: SE1\n    justification: The gateway authenticates upstream.\n    expires: 2026-01-01\n',
    'x.yaml:4: /waivers/0/expires: unknown key',
  ],
  [
    'a waiver without justification',
    'failOn: high\nwaivers:\n  - id: SE1\n',
    'x.yaml:3: /waivers/0/justification: missing',
  ],
  [
    'a justification of nine characters',
    'waivers:\n  - id: SE1\n    justification: "  not   needed  "\n',
    'x.yaml:3: /waivers/0/justification: needs at least 10 non-space characters saying why SE1 is waived',
  ],
  [
    'a justification that is a number',
    'waivers:\n  - id: SE1\n    justification: 1234567890\n',
    'x.yaml:3: /waivers/0/justification: expected string',
  ],
  [
    'a check id that does not exist',
    'waivers:\n  - id: SE1\n    justification: The gateway authenticates upstream.\n  - id: SE99\n    justification: No such check exists in the catalog.\n',
    'x.yaml:4: /waivers/1/id: unknown check id "SE99"',
  ],
  [
    'a check id in lower case',
    'waivers:\n  - { id: se1, justification: The gateway authenticates upstream. }\n',
    'x.yaml:2: /waivers/0/id: unknown check id "se1"',
  ],
  [
    'the same check waived twice',
    'waivers:\n  - id: SE1\n    justification: The gateway authenticates upstream.\n  - id: SE1\n    justification: Said twice, to be sure of it.\n',
    'x.yaml:4: /waivers/1/id: SE1 is already waived at /waivers/0',
  ],
  [
    'a failOn that is not a level',
    'failOn: severe\n',
    'x.yaml:1: /failOn: expected one of critical, high, medium, low, none',
  ],
  [
    'a failOn in upper case',
    '\nfailOn: HIGH\n',
    'x.yaml:2: /failOn: expected one of critical, high, medium, low, none',
  ],
  ['waivers as a mapping', 'waivers:\n  SE1: fine\n', 'x.yaml:1: /waivers: expected array'],
  [
    'an empty service name',
    "service: ''\n",
    'x.yaml:1: /service: expected string length greater or equal to 1',
  ],
  ['a list at the top', '- SE1\n- SE2\n', 'x.yaml:1: expected object'],
  ['a duplicate key', 'failOn: high\nfailOn: low\n', 'x.yaml:2: duplicate key'],
  [
    'a YAML syntax error',
    'waivers:\n  - id: SE1\n justification: [\n',
    'x.yaml:3: syntax error (BAD_INDENT)',
  ],
];

const BAD_JSON: readonly (readonly [string, string, string])[] = [
  ['text that is not JSON', "{ failOn: 'high' }", 'x.json: not valid JSON'],
  [
    'an unknown key, on its line',
    '{\n  "failOn": "high",\n  "waiverz": []\n}\n',
    'x.json:3: /waiverz: unknown key',
  ],
  [
    'a duplicate key JSON.parse would keep quietly',
    '{\n  "failOn": "none",\n  "failOn": "critical"\n}\n',
    'x.json:3: duplicate key',
  ],
  [
    'an unknown check id',
    '{ "waivers": [\n  { "id": "NW99", "justification": "Not a check in the catalog." }\n] }',
    'x.json:2: /waivers/0/id: unknown check id "NW99"',
  ],
];

describe('audit config', () => {
  it('reads YAML waivers, failOn and service, trimming justifications', () => {
    const config = parseAuditConfig(
      [
        'service: billing-api',
        'failOn: high',
        'waivers:',
        '  - id: NW2',
        '    justification: "  Network policies live in the platform repository.  "',
        '  - { id: MQ5, justification: No RabbitMQ in this service. }',
      ].join('\n'),
      'tessera-audit.yaml',
    );
    assert.deepEqual(config, {
      service: 'billing-api',
      failOn: 'high',
      waivers: [
        { id: 'NW2', justification: 'Network policies live in the platform repository.' },
        { id: 'MQ5', justification: 'No RabbitMQ in this service.' },
      ],
    });
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.waivers));
  });

  it('reads the same config from JSON', () => {
    const config = parseAuditConfig(
      '{"failOn":"critical","waivers":[{"id":"SM10","justification":"Runbook is in the wiki."}]}',
      'tessera-audit.json',
    );
    assert.deepEqual(config, {
      failOn: 'critical',
      waivers: [{ id: 'SM10', justification: 'Runbook is in the wiki.' }],
    });
  });

  it('treats an empty file as a config that waives nothing', () => {
    assert.deepEqual(parseAuditConfig('', 'tessera-audit.yaml'), { waivers: [] });
    assert.deepEqual(parseAuditConfig('# nothing yet\n', 'tessera-audit.yml'), { waivers: [] });
  });

  it('accepts a waiver for every check in the catalog', () => {
    const yaml = `waivers:\n${CATALOG.map((c) => `  - { id: ${c.id}, justification: Waived for this test. }`).join('\n')}\n`;
    assert.equal(parseAuditConfig(yaml, 'x.yaml').waivers.length, CATALOG.length);
  });

  for (const [name, text, detail] of BAD_YAML) {
    it(`refuses YAML with ${name}`, () => {
      assertInvalid(() => parseAuditConfig(text, 'x.yaml'), detail);
    });
  }

  for (const [name, text, detail] of BAD_JSON) {
    it(`refuses JSON with ${name}`, () => {
      assertInvalid(() => parseAuditConfig(text, 'x.json'), detail);
    });
  }

  describe('files', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'tessera-audit-config-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('loads a file and names it in errors', async () => {
      const file = join(dir, 'audit.yml');
      await writeFile(file, 'failOn: low\n');
      assert.deepEqual(await loadAuditConfig(file), { failOn: 'low', waivers: [] });
      await writeFile(file, 'failOn: lowest\n');
      await assert.rejects(loadAuditConfig(file), {
        code: 'ERR_CONFIG_INVALID',
        detail: `${file}:1: /failOn: expected one of critical, high, medium, low, none`,
      });
    });

    it('says so when the file cannot be read', async () => {
      const missing = join(dir, 'missing.yaml');
      await assert.rejects(loadAuditConfig(missing), {
        code: 'ERR_CONFIG_INVALID',
        detail: `${missing}: cannot be read`,
      });
      await assert.rejects(loadAuditConfig(dir), {
        code: 'ERR_CONFIG_INVALID',
        detail: `${dir}: cannot be read`,
      });
    });

    it('finds tessera-audit.yaml, .yml or .json in the audited root, and refuses two', async () => {
      const root = join(dir, 'root');
      await mkdir(root);
      assert.equal(await findAuditConfig(root), undefined);
      await writeFile(join(root, 'tessera-audit.json'), '{}');
      assert.equal(await findAuditConfig(root), join(root, 'tessera-audit.json'));
      await writeFile(join(root, 'tessera-audit.yml'), '');
      await assert.rejects(findAuditConfig(root), {
        code: 'ERR_CONFIG_INVALID',
        detail: `tessera-audit.yml and tessera-audit.json both exist in ${root}; keep one`,
      });
    });
  });
});

function check(id: CheckId, status: Status, waived = false): CheckResult {
  const definition = CATALOG.find((c) => c.id === id);
  assert.ok(definition !== undefined);
  return {
    id,
    category: definition.category,
    title: definition.title,
    severity: definition.severity,
    status,
    why: 'Synthetic.',
    evidence: [],
    ...(waived ? { waiver: { id, justification: 'Waived in this test.' } } : {}),
  };
}

describe('--fail-on gate', () => {
  // SE1 CRITICAL, SE6 HIGH, TM3 MEDIUM, SC14 LOW; plus checks that must never trip it.
  const checks = [
    check('SE1', 'FAIL'),
    check('SE6', 'FAIL'),
    check('TM3', 'FAIL'),
    check('SC14', 'FAIL'),
    check('SE4', 'PARTIAL'),
    check('SM2', 'FAIL', true),
    check('PH1', 'N/A'),
    check('SE3', 'PASS'),
  ];
  const report: AuditReport = {
    service: 's',
    date: '2026-01-15',
    root: '.',
    passRate: passRateOf(checks),
    checks,
    notes: [],
    stats: { files: 0, lines: 0, durationMs: 0 },
  };
  const expected: readonly (readonly [FailOn, readonly string[]])[] = [
    ['critical', ['SE1']],
    ['high', ['SE1', 'SE6']],
    ['medium', ['SE1', 'SE6', 'TM3']],
    ['low', ['SE1', 'SE6', 'TM3', 'SC14']],
    ['none', []],
  ];
  for (const [failOn, ids] of expected) {
    it(`--fail-on ${failOn} trips on ${ids.length > 0 ? ids.join(', ') : 'nothing'}`, () => {
      assert.deepEqual(
        failingChecks(report, failOn).map((c) => c.id),
        ids,
      );
    });
  }

  it('is not tripped by PARTIAL or waived failures, even at CRITICAL', () => {
    const quiet = [check('SE4', 'PARTIAL'), check('SM2', 'FAIL', true), check('SE1', 'PASS')];
    assert.deepEqual(failingChecks({ ...report, checks: quiet }, 'low'), []);
  });
});
