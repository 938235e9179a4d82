import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import {
  CATALOG,
  FAIL_ON_LEVELS,
  reportSchema,
  repositoryReportSchema,
  type JsonReport,
} from '@tessera/auditor';
import { TESSERA_FROM_SOURCE } from './support/bin.ts';

/**
 * `tessera audit` end to end: each case runs the real binary on a directory built for it and
 * checks the exit code, what went to stdout and stderr, and the report's notes. Rule outcomes
 * are not asserted here (the rules have their own tests); where the exit code depends on them,
 * it is checked against the JSON report printed by the same run.
 */

const COMMAND_TIMEOUT_MS = 60_000;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

async function tessera(args: readonly string[], cwd: string): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [...TESSERA_FROM_SOURCE, ...args], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: COMMAND_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

function assertExit(run: Run, code: number): void {
  assert.equal(
    run.code,
    code,
    `exit ${String(run.code)}\nstdout: ${run.stdout.slice(0, 2000)}\nstderr: ${run.stderr}`,
  );
  assert.doesNotMatch(run.stderr, /^\s+at /m, 'no stack trace');
}

/** The bullet list under `## Notes`, or [] when the section is missing. */
function notesOf(markdown: string): string[] {
  const start = markdown.indexOf('\n## Notes\n');
  if (start === -1) return [];
  return markdown
    .slice(start)
    .split('\n')
    .filter((line) => line.startsWith('- '))
    .map((line) => line.slice(2));
}

describe('tessera audit', () => {
  let base: string;
  let count = 0;
  /** A fresh directory for one case. */
  const directory = async (): Promise<string> => {
    count += 1;
    const dir = join(base, `case-${String(count)}`);
    await mkdir(dir);
    return dir;
  };

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'tessera-audit-cli-'));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  const malformed: readonly (readonly [string, (dir: string) => Promise<void>, string])[] = [
    [
      'a file with syntax errors',
      async (dir) => {
        await mkdir(join(dir, 'src'));
        await writeFile(join(dir, 'src', 'broken.ts'), 'export const x = ;\nfunction (\n');
      },
      'src/broken.ts:1: syntax error (Expression expected.); analysed as far as it parses.',
    ],
    [
      'a binary file named x.ts',
      async (dir) => {
        await writeFile(join(dir, 'x.ts'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 1, 0]));
      },
      'x.ts: binary content; skipped.',
    ],
    [
      'a symbolic link loop',
      async (dir) => {
        await writeFile(join(dir, 'index.ts'), 'export const ok = 1;\n');
        await symlink('.', join(dir, 'loop'));
      },
      'loop: symbolic link loop or repeated directory; skipped.',
    ],
    [
      'a file over the size limit',
      async (dir) => {
        await writeFile(join(dir, 'big.ts'), `// ${'x'.repeat(3 * 1024 * 1024 - 3)}`);
      },
      'big.ts: 3145728 bytes, over the 2097152-byte limit; skipped.',
    ],
    [
      'an empty directory',
      async () => {
        // Nothing to create: the directory itself is the input.
      },
      'No JavaScript or TypeScript source files were found.',
    ],
  ];

  for (const [name, create, note] of malformed) {
    it(`reports ${name} in the notes and exits 0`, async () => {
      const dir = await directory();
      await create(dir);
      const run = await tessera(['audit', dir], base);
      assertExit(run, 0);
      assert.ok(run.stdout.startsWith(`# case-${String(count)} - Service-to-Service Auth Audit\n`));
      assert.match(run.stdout, /^\*\*Pass Rate:\*\* \d+% \(\d+\/\d+ applicable checks\)$/m);
      assert.ok(notesOf(run.stdout).includes(note), run.stdout.slice(-1500));
      assert.equal(run.stderr, '');
    });
  }

  it('refuses a path that does not exist, with a message and no report', async () => {
    const missing = join(base, 'no-such-service');
    const run = await tessera(['audit', missing], base);
    assertExit(run, 1);
    assert.equal(run.stdout, '');
    assert.equal(run.stderr, `tessera: ${missing} does not exist or cannot be read\n`);
  });

  it('refuses a path that is a file', async () => {
    const dir = await directory();
    await writeFile(join(dir, 'main.ts'), 'export {};\n');
    const run = await tessera(['audit', join(dir, 'main.ts')], base);
    assertExit(run, 1);
    assert.equal(run.stdout, '');
    assert.equal(run.stderr, `tessera: ${join(dir, 'main.ts')} is not a directory\n`);
  });

  it('prints a JSON report that matches the published schema', async () => {
    const dir = await directory();
    await writeFile(join(dir, 'package.json'), '{ "name": "billing" }\n');
    await writeFile(join(dir, 'broken.ts'), 'const = 1;\n');
    const run = await tessera(['audit', dir, '--format', 'json'], base);
    assertExit(run, 0);
    const report = JSON.parse(run.stdout) as JsonReport;
    assert.equal(Value.Check(reportSchema, report), true);
    assert.equal(report.service, 'billing');
    assert.deepEqual(
      report.checks.map((check) => check.id),
      CATALOG.map((check) => check.id),
    );
    assert.ok(report.notes.some((note) => note.startsWith('broken.ts:1: syntax error')));
  });

  it('prints a SARIF 2.1.0 log', async () => {
    const dir = await directory();
    await writeFile(join(dir, 'index.ts'), 'export const ok = 1;\n');
    const run = await tessera(['audit', dir, '--format', 'sarif'], base);
    assertExit(run, 0);
    const log = JSON.parse(run.stdout) as {
      version: string;
      runs: { tool: { driver: { name: string; rules: unknown[] } } }[];
    };
    assert.equal(log.version, '2.1.0');
    assert.equal(log.runs.length, 1);
    const [sarifRun] = log.runs;
    assert.ok(sarifRun !== undefined);
    assert.equal(sarifRun.tool.driver.name, 'tessera-audit');
    assert.equal(sarifRun.tool.driver.rules.length, CATALOG.length);
  });

  it('writes the report to --out, creating directories and leaving no temporary file', async () => {
    const dir = await directory();
    await writeFile(join(dir, 'index.ts'), 'export const ok = 1;\n');
    const out = join(dir, 'reports', 'nested', 'audit.md');
    const first = await tessera(['audit', dir, '--out', out], base);
    assertExit(first, 0);
    assert.equal(first.stdout, '');
    assert.match(
      first.stderr,
      /^wrote .*audit\.md: pass rate \d+% \(\d+\/\d+ applicable checks\)\n$/,
    );
    const written = await readFile(out, 'utf8');
    assert.ok(written.startsWith(`# case-${String(count)} - Service-to-Service Auth Audit\n`));

    const second = await tessera(['audit', dir, '--out', out, '--format', 'json'], base);
    assertExit(second, 0);
    assert.equal(
      (JSON.parse(await readFile(out, 'utf8')) as JsonReport).checks.length,
      CATALOG.length,
    );
    assert.deepEqual(await readdir(join(dir, 'reports', 'nested')), ['audit.md']);
  });

  it('does not fail on checks the config waives, whatever the rules decide', async () => {
    const dir = await directory();
    await mkdir(join(dir, 'src'));
    await writeFile(join(dir, 'src', 'app.ts'), VULNERABLE_SERVICE);
    const waivers = CATALOG.map(
      (check) => `  - { id: ${check.id}, justification: Accepted for this test run. }`,
    );
    await writeFile(
      join(dir, 'tessera-audit.yaml'),
      ['service: waived-service', 'waivers:', ...waivers, ''].join('\n'),
    );
    const run = await tessera(['audit', dir, '--format', 'json', '--fail-on', 'low'], base);
    assertExit(run, 0);
    const report = JSON.parse(run.stdout) as JsonReport;
    assert.equal(report.service, 'waived-service');
    assert.ok(report.checks.every((check) => check.waiver !== undefined));
    assert.deepEqual(report.passRate, { percent: 0, passed: 0, applicable: 0 });
  });

  it("exits 1 exactly when a FAIL reaches the config's failOn, naming the checks", async () => {
    const dir = await directory();
    await mkdir(join(dir, 'src'));
    await writeFile(join(dir, 'src', 'app.ts'), VULNERABLE_SERVICE);
    await writeFile(join(dir, 'tessera-audit.json'), '{ "failOn": "low" }\n');
    const run = await tessera(['audit', dir, '--format', 'json'], base);
    const report = JSON.parse(run.stdout) as JsonReport;
    const failing = report.checks.filter(
      (check) => check.status === 'FAIL' && check.waiver === undefined,
    );
    if (failing.length === 0) {
      assertExit(run, 0);
      assert.equal(run.stderr, '');
    } else {
      assertExit(run, 1);
      assert.match(run.stderr, /^tessera: \d+ checks? FAIL at low severity or above: /);
      assert.ok(run.stderr.endsWith(`${failing.map((check) => check.id).join(', ')}\n`));
    }
  });

  it('lets --fail-on none override the config', async () => {
    const dir = await directory();
    await writeFile(join(dir, 'app.ts'), VULNERABLE_SERVICE);
    await writeFile(join(dir, 'tessera-audit.yml'), 'failOn: low\n');
    const run = await tessera(['audit', dir, '--fail-on', 'none', '--format', 'json'], base);
    assertExit(run, 0);
    assert.equal(run.stderr, '');
  });

  it('--min-confidence hides findings below it from the report and from --fail-on', async () => {
    const dir = await directory();
    await writeFile(join(dir, 'app.ts'), VULNERABLE_SERVICE);
    const all = JSON.parse(
      (await tessera(['audit', dir, '--format', 'json'], base)).stdout,
    ) as JsonReport;
    const below = all.checks.filter(
      (c) => (c.status === 'FAIL' || c.status === 'PARTIAL') && c.confidence !== 'high',
    );
    assert.ok(below.length > 0, 'the vulnerable service has findings decided from an absence');

    const run = await tessera(
      ['audit', dir, '--format', 'json', '--min-confidence', 'high', '--fail-on', 'low'],
      base,
    );
    const report = JSON.parse(run.stdout) as JsonReport;
    assert.equal(Value.Check(reportSchema, report), true);
    assert.deepEqual(report.hidden, { minConfidence: 'high', checks: below.map((c) => c.id) });
    assert.ok(
      report.checks.every(
        (c) => (c.status !== 'FAIL' && c.status !== 'PARTIAL') || c.confidence === 'high',
      ),
    );
    const failing = report.checks.filter((c) => c.status === 'FAIL').map((c) => c.id);
    assertExit(run, 1);
    assert.ok(run.stderr.endsWith(`: ${failing.join(', ')}\n`), run.stderr);
    assert.ok(!below.some((c) => failing.includes(c.id)));

    const out = join(dir, 'audit.md');
    const written = await tessera(['audit', dir, '--out', out, '--min-confidence', 'medium'], base);
    assertExit(written, 0);
    assert.match(written.stderr, /applicable checks\); \d+ below medium confidence hidden\n$/);
    assert.match(await readFile(out, 'utf8'), /^\*\*Hidden:\*\* \d+ findings? below medium/m);
  });

  it('refuses a bad config with exit 1 and the reason, before any report', async () => {
    const dir = await directory();
    const config = join(base, `bad-${String(count)}.yaml`);
    await writeFile(
      config,
      'waivers:\n  - id: SE1\n    justification: The gateway authenticates.\n  - id: SE99\n    justification: There is no such check.\n',
    );
    const run = await tessera(['audit', dir, '--config', config], base);
    assertExit(run, 1);
    assert.equal(run.stdout, '');
    assert.equal(
      run.stderr,
      `tessera: ERR_CONFIG_INVALID: configuration is invalid: ${config}:4: /waivers/1/id: unknown check id "SE99"\n`,
    );
  });

  it('refuses a config file that does not exist', async () => {
    const dir = await directory();
    const run = await tessera(['audit', dir, '--config', 'nowhere.yaml'], base);
    assertExit(run, 1);
    assert.equal(
      run.stderr,
      'tessera: ERR_CONFIG_INVALID: configuration is invalid: nowhere.yaml: cannot be read\n',
    );
  });

  const usage: readonly (readonly [string, readonly string[], RegExp])[] = [
    [
      'an unknown --format',
      ['audit', '.', '--format', 'xml'],
      /argument 'xml' is invalid\. Allowed choices are md, json, sarif\./,
    ],
    [
      'an unknown --fail-on',
      ['audit', '.', '--fail-on', 'severe'],
      new RegExp(
        `argument 'severe' is invalid\\. Allowed choices are ${FAIL_ON_LEVELS.join(', ')}\\.`,
      ),
    ],
    [
      'an unknown --min-confidence',
      ['audit', '.', '--min-confidence', 'certain'],
      /argument 'certain' is invalid\. Allowed choices are high, medium, low\./,
    ],
    ['no path', ['audit'], /missing required argument 'path'/],
  ];
  for (const [name, args, message] of usage) {
    it(`is a usage error (exit 2) with ${name}`, async () => {
      const run = await tessera(args, base);
      assertExit(run, 2);
      assert.equal(run.stdout, '');
      assert.match(run.stderr, message);
    });
  }
});

describe('tessera audit on a monorepo', () => {
  let root: string;
  /** Two services (orders imports the shared middleware package), a library and a tool. */
  const files = (): Record<string, string> => ({
    'package.json': JSON.stringify({ name: 'acme', workspaces: ['apps/*', 'packages/*'] }),
    'packages/auth/package.json': JSON.stringify({ name: '@acme/auth', main: 'src/index.ts' }),
    'packages/auth/src/index.ts': `import jwt from 'jsonwebtoken';
export function requireService(req: any, res: any, next: () => void) {
  try {
    jwt.verify(String(req.headers.authorization).slice(7), process.env.KEY ?? '', {
      algorithms: ['RS256'],
    });
    next();
  } catch {
    res.status(401).end();
  }
}
`,
    'apps/orders/package.json': JSON.stringify({ name: '@acme/orders' }),
    'apps/orders/src/server.ts': `import express from 'express';
import { requireService } from '@acme/auth';
const app = express();
app.use(requireService);
app.get('/orders', (_req, res) => res.json([]));
app.listen(3000);
`,
    'apps/billing/package.json': JSON.stringify({ name: '@acme/billing' }),
    'apps/billing/src/server.ts': VULNERABLE_SERVICE,
    'tools/seed.ts': "await fetch('http://orders:3000/orders', { method: 'POST' });\n",
  });

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tessera-audit-monorepo-'));
    for (const [file, text] of Object.entries(files())) {
      const abs = join(root, ...file.split('/'));
      await mkdir(join(abs, '..'), { recursive: true });
      await writeFile(abs, text);
    }
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('prints a summary table and one report per service', async () => {
    const run = await tessera(['audit', root], root);
    assertExit(run, 0);
    assert.match(run.stdout, /^# acme - Service-to-Service Auth Audit \(2 services\)\n/);
    const rows = run.stdout
      .split('\n')
      .filter((line) => /^\| (billing|orders) \|/.test(line))
      .map((line) => line.split('|').map((cell) => cell.trim())[2]);
    assert.deepEqual(rows, ['`apps/billing`', '`apps/orders`']);
    assert.equal(run.stdout.match(/^# \w+ - Service-to-Service Auth Audit$/gm)?.length, 2);
    assert.doesNotMatch(run.stdout, /tools\/seed\.ts/);
  });

  it('--service prints only that service, in the single-report shape', async () => {
    const run = await tessera(['audit', root, '--service', 'orders', '--format', 'json'], root);
    assertExit(run, 0);
    const report = JSON.parse(run.stdout) as JsonReport;
    assert.equal(Value.Check(reportSchema, report), true);
    assert.equal(report.service, 'orders');
    const files = new Set(report.checks.flatMap((c) => c.evidence.map((e) => e.file)));
    assert.ok(files.has('packages/auth/src/index.ts'), [...files].join(', '));
    assert.ok(![...files].some((f) => f.startsWith('apps/billing/')));
  });

  it('prints the several-service JSON envelope, valid against its schema', async () => {
    const run = await tessera(['audit', root, '--format', 'json'], root);
    assertExit(run, 0);
    const envelope = JSON.parse(run.stdout) as { services: { name: string }[] };
    assert.equal(Value.Check(repositoryReportSchema, envelope), true);
    assert.deepEqual(
      envelope.services.map((s) => s.name),
      ['billing', 'orders'],
    );
  });

  it('names the service with each failing check under --fail-on', async () => {
    const run = await tessera(
      ['audit', root, '--fail-on', 'critical', '--out', join(root, 'r.md')],
      root,
    );
    assertExit(run, 1);
    assert.match(run.stderr, /FAIL at critical severity or above: billing:[A-Z]+\d+/);
    assert.match(run.stderr, /wrote .*r\.md: billing pass rate/);
  });

  it('refuses an unknown --service, naming the services found', async () => {
    const run = await tessera(['audit', root, '--service', 'tools'], root);
    assertExit(run, 1);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /no service "tools" in .*; services: billing, orders/);
  });
});

/** A service the seed audits would fault: an open internal route and TLS checks switched off. */
const VULNERABLE_SERVICE = `import Fastify from 'fastify';
import https from 'node:https';

const app = Fastify();
const agent = new https.Agent({ rejectUnauthorized: false });
const INTERNAL_TOKEN = 'sk_live_0123456789abcdef0123456789';

app.get('/internal/users/:id', async (request) => {
  const caller = request.headers['x-service-name'];
  const response = await fetch('http://auth-service.internal/users', {
    headers: { 'x-internal-token': INTERNAL_TOKEN },
  });
  return { caller, user: await response.json(), agent: agent !== undefined };
});

await app.listen({ port: 3000 });
`;
