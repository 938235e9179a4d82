import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import * as prettier from 'prettier';
import {
  auditDirectory,
  auditRepository,
  renderRepositoryJson,
  renderServicesMarkdown,
  renderSarifServices,
  repositoryReportSchema,
  type AuditReport,
  type RepositoryAudit,
} from '@tessera/auditor';
import { loadProject, type Project } from '../src/project/load.ts';
import { detectServices } from '../src/project/services.ts';
import { pnpmWorkspaceGlobs } from '../src/project/workspace.ts';

/** Writes `files` (relative path → content; objects become JSON) under a new temp directory. */
async function writeTree(files: Record<string, string | object>): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'tessera-monorepo-'));
  for (const [file, content] of Object.entries(files)) {
    const abs = path.join(root, ...file.split('/'));
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
  return root;
}

function resolved(project: Project, from: string, specifier: string): string | undefined {
  const unit = project.unit(from);
  assert.ok(unit, `${from} was loaded`);
  return project.resolveImport(unit, specifier)?.path;
}

function check(report: AuditReport, id: string) {
  const found = report.checks.find((c) => c.id === id);
  assert.ok(found, id);
  return found;
}

const evidenceFiles = (report: AuditReport): Set<string> =>
  new Set(report.checks.flatMap((c) => c.evidence.map((e) => e.file)));

/** A middleware package exported by name, as the shop fixtures' `@shop/auth` is. */
const AUTH_MIDDLEWARE = `import jwt from 'jsonwebtoken';
import type { NextFunction, Request, Response } from 'express';

const PUBLIC_KEY = process.env.AUTH_PUBLIC_KEY ?? '';

export function requireService(req: Request, res: Response, next: NextFunction) {
  const header = req.headers.authorization ?? '';
  if (!header.startsWith('Bearer ')) {
    res.status(401).json({ error: 'unauthorized' });
    return;
  }
  try {
    const claims = jwt.verify(header.slice(7), PUBLIC_KEY, {
      algorithms: ['RS256'],
      issuer: 'https://authority.internal',
      audience: 'orders',
    });
    res.locals.caller = claims.sub;
    next();
  } catch {
    res.status(401).json({ error: 'unauthorized' });
  }
}
`;

/** npm workspaces: two apps, a shared middleware package, tools and tests. */
const NPM_MONOREPO = {
  'package.json': { name: 'acme', private: true, workspaces: ['apps/*', 'packages/*', 'tools'] },
  // `main` and `types` name build output that is absent: src/ is the source by convention.
  'packages/auth/package.json': {
    name: '@acme/auth',
    main: 'dist/index.js',
    types: 'dist/index.d.ts',
    dependencies: { jsonwebtoken: '^9.0.0' },
  },
  'packages/auth/src/index.ts': "export { requireService } from './middleware.js';\n",
  'packages/auth/src/middleware.ts': AUTH_MIDDLEWARE,
  // Never imported: not part of any service.
  'packages/auth/src/legacy.ts': `import jwt from 'jsonwebtoken';
export const peek = (token: string) => jwt.decode(token);
`,
  '.github/workflows/ci.yml': 'on: push\njobs: {}\n',
  'apps/orders/package.json': {
    name: '@acme/orders',
    dependencies: { '@acme/auth': '*', express: '^4.19.0' },
  },
  'apps/orders/src/server.ts': `import express from 'express';
import { requireService } from '@acme/auth';

const app = express();
app.use(requireService);
app.get('/orders', (_req, res) => {
  res.json([]);
});
app.listen(3000);
`,
  // A test that starts a server is not a service.
  'apps/orders/test/server.test.ts': `import express from 'express';
const app = express();
app.get('/x', (_req, res) => res.send('ok'));
app.listen(0);
`,
  'apps/billing/package.json': {
    name: '@acme/billing',
    dependencies: { express: '^4.19.0', axios: '^1.7.0' },
  },
  'apps/billing/src/main.ts': `import express from 'express';
import axios from 'axios';

const app = express();
app.post('/invoices', async (_req, res) => {
  const orders = await axios.get('http://orders:3000/orders', { timeout: 2000 });
  res.json(orders.data);
});
app.listen(3001);
`,
  // Tooling that calls the services (and even listens) is not a service, nor their client.
  'tools/package.json': { name: '@acme/tools', dependencies: { axios: '^1.7.0' } },
  'tools/seed.ts': `import axios from 'axios';
import http from 'node:http';

await axios.post('http://orders:3000/orders', { seed: true }, { headers: { 'x-api-key': 'dev-key-123456' } });
await fetch('http://billing:3001/invoices', { method: 'POST' });
http.createServer((_req, res) => res.end('mock')).listen(4000);
`,
};

describe('workspace imports resolve to source', () => {
  let root: string;
  before(async () => {
    root = await writeTree(NPM_MONOREPO);
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('follows a package name to its src/ when main and types name absent build output', async () => {
    const project = await loadProject(root);
    assert.equal(
      resolved(project, 'apps/orders/src/server.ts', '@acme/auth'),
      'packages/auth/src/index.ts',
    );
    assert.equal(resolved(project, 'apps/orders/src/server.ts', 'express'), undefined);
    assert.equal(resolved(project, 'apps/orders/src/server.ts', '@acme/nothing'), undefined);
  });

  it("sees the shared package's middleware in the service that mounts it", async () => {
    const { services } = await auditRepository(root);
    const orders = services.find((s) => s.name === 'orders');
    assert.ok(orders);
    const se3 = check(orders.report, 'SE3');
    assert.equal(se3.status, 'PASS', se3.why);
    assert.ok(
      se3.evidence.some((e) => e.file === 'packages/auth/src/middleware.ts'),
      JSON.stringify(se3.evidence),
    );
    // Without the shared package, the same service has no verification at all.
    const alone = await auditDirectory(path.join(root, 'apps/orders'));
    assert.notEqual(check(alone, 'SE3').status, 'PASS');
  });
});

describe('services of a monorepo', () => {
  let root: string;
  let audit: RepositoryAudit;
  before(async () => {
    root = await writeTree(NPM_MONOREPO);
    audit = await auditRepository(root, { now: new Date('2026-12-07T00:00:00Z') });
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('finds the apps with a server entry point, not the library, tools or tests', () => {
    assert.deepEqual(audit.found, ['billing', 'orders']);
    assert.deepEqual(
      audit.services.map((s) => [s.name, s.path, s.report.service]),
      [
        ['billing', 'apps/billing', 'billing'],
        ['orders', 'apps/orders', 'orders'],
      ],
    );
  });

  it("covers each service's own files and the packages it imports, never another service's", () => {
    const [billing, orders] = audit.services;
    assert.ok(billing && orders);
    for (const [service, foreign] of [
      [orders, ['apps/billing/', 'tools/']],
      [billing, ['apps/orders/', 'packages/auth/', 'tools/']],
    ] as const) {
      for (const file of evidenceFiles(service.report)) {
        for (const prefix of foreign) {
          assert.ok(!file.startsWith(prefix), `${service.name} shows ${file}`);
        }
      }
    }
    assert.ok(evidenceFiles(orders.report).has('packages/auth/src/middleware.ts'));
    // Billing's only outbound call is its own axios call with a timeout; the tool's literal
    // API key and its calls belong to no service.
    assert.equal(check(billing.report, 'SC11').status, 'PASS', check(billing.report, 'SC11').why);
    assert.ok(
      ![...evidenceFiles(billing.report)].some((f) => f.startsWith('tools/')),
      'no tool evidence',
    );
    // The test's app does not count as a route of orders: only /orders is there.
    assert.equal(check(orders.report, 'SE1').status, 'PASS', check(orders.report, 'SE1').why);
    assert.equal(check(billing.report, 'SE1').status, 'FAIL', check(billing.report, 'SE1').why);
  });

  it('takes the shared files the service reaches, its configuration and the shared CI files', async () => {
    const project = await loadProject(root);
    const scopes = detectServices(project);
    const files = (name: string) => {
      const scope = scopes.find((s) => s.name === name);
      assert.ok(scope, name);
      return [...scope.project.units, ...scope.project.textFiles].map((f) => f.path).sort();
    };
    assert.deepEqual(files('orders'), [
      '.github/workflows/ci.yml',
      'apps/orders/package.json',
      'apps/orders/src/server.ts',
      'apps/orders/test/server.test.ts',
      'package.json',
      'packages/auth/package.json',
      'packages/auth/src/index.ts',
      'packages/auth/src/middleware.ts',
    ]);
    assert.deepEqual(files('billing'), [
      '.github/workflows/ci.yml',
      'apps/billing/package.json',
      'apps/billing/src/main.ts',
      'package.json',
    ]);
  });

  it('audits only the selected service, by name, package name or path', async () => {
    for (const select of ['orders', '@acme/orders', 'apps/orders']) {
      const one = await auditRepository(root, { select });
      assert.deepEqual(
        one.services.map((s) => s.name),
        ['orders'],
        select,
      );
      assert.deepEqual(one.found, ['billing', 'orders']);
    }
    const none = await auditRepository(root, { select: 'tools' });
    assert.deepEqual(none.services, []);
  });

  it('renders a summary table, a JSON envelope valid against its schema, a SARIF run each', () => {
    const markdown = renderServicesMarkdown(audit);
    assert.match(markdown, /\| Service \| Path \| Pass Rate \| Critical \| High \|/);
    assert.match(markdown, /\| orders \| `apps\/orders` \| \d+% \(\d+\/\d+\) \| \d+ \| \d+ \|/);
    assert.match(markdown, /\n# billing - Service-to-Service Auth Audit\n/);
    assert.match(markdown, /\n# orders - Service-to-Service Auth Audit\n/);
    const json = JSON.parse(renderRepositoryJson(audit)) as Record<string, unknown>;
    assert.equal(
      Value.Check(repositoryReportSchema, json),
      true,
      [...Value.Errors(repositoryReportSchema, json)]
        .map((e) => `${e.path} ${e.message}`)
        .join('\n'),
    );
    const broken = structuredClone(json) as { services: { report: { checks: unknown } }[] };
    delete (broken.services[0]?.report as Record<string, unknown> | undefined)?.checks;
    assert.equal(Value.Check(repositoryReportSchema, broken), false);
    const sarif = JSON.parse(renderSarifServices(audit, { projectFile: 'package.json' })) as {
      runs: { automationDetails: { id: string }; properties: { service: string } }[];
    };
    assert.deepEqual(
      sarif.runs.map((r) => [r.automationDetails.id, r.properties.service]),
      [
        ['tessera-audit/billing/', 'billing'],
        ['tessera-audit/orders/', 'orders'],
      ],
    );
  });
});

describe('NestJS microservices without workspaces', () => {
  // Folders with their own package.json, no root workspaces: an HTTP gateway and a TCP
  // microservice, started the two ways NestJS starts a microservice.
  const nestMain = (body: string) => `import { NestFactory } from '@nestjs/core';
import { Transport } from '@nestjs/microservices';
import { AppModule } from './app.module';

async function bootstrap() {
${body}
}
bootstrap();
`;
  const files = {
    'package.json': { name: 'platform', private: true },
    'gateway/package.json': { name: 'gateway', dependencies: { '@nestjs/core': '^10.0.0' } },
    'gateway/src/main.ts': nestMain(
      '  const app = await NestFactory.create(AppModule);\n  await app.listen(3000);',
    ),
    'users/package.json': { name: 'users', dependencies: { '@nestjs/core': '^10.0.0' } },
    'users/src/main.ts': nestMain(
      "  const app = await NestFactory.createMicroservice(AppModule, { transport: Transport.TCP, options: { host: '0.0.0.0', port: 4001 } });\n  await app.listenAsync();",
    ),
    'billing/package.json': { name: 'billing', dependencies: { '@nestjs/core': '^10.0.0' } },
    'billing/src/main.ts': nestMain(
      '  const app = await NestFactory.create(AppModule);\n  app.connectMicroservice({ transport: Transport.TCP });\n  await app.startAllMicroservices();',
    ),
    'shared/package.json': { name: 'shared' },
    'shared/src/index.ts': 'export const TOKEN = "TOKEN_SERVICE";\n',
  };

  it('finds each microservice, however it starts listening, and not the library', async () => {
    const root = await writeTree(files);
    try {
      const audit = await auditRepository(root, { now: new Date('2026-12-08T00:00:00Z') });
      assert.deepEqual(audit.found, ['billing', 'gateway', 'users']);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('a repository that is one service', () => {
  it('gets the one report auditDirectory makes, rendered exactly the same', async () => {
    // Workspaces with one app and a shared package: still one service.
    const files = Object.fromEntries(
      Object.entries(NPM_MONOREPO).filter(([key]) => !key.startsWith('apps/billing/')),
    );
    const root = await writeTree(files);
    try {
      const now = new Date('2026-12-07T00:00:00Z');
      const audit = await auditRepository(root, { now });
      const direct = await auditDirectory(root, { now });
      assert.equal(audit.services.length, 1);
      const only = audit.services[0];
      assert.ok(only);
      assert.equal(only.path, '.');
      const strip = (r: AuditReport) => ({ ...r, stats: { ...r.stats, durationMs: 0 } });
      assert.deepEqual(strip(only.report), strip(direct));
      assert.equal(renderServicesMarkdown(audit), renderServicesMarkdown({ ...audit }));
      assert.doesNotMatch(renderServicesMarkdown(audit), /\| Service \| Path \|/);
      assert.deepEqual(
        (await auditRepository(root, { select: 'acme' })).services.map((s) => s.path),
        ['.'],
      );
      assert.deepEqual((await auditRepository(root, { select: 'orders' })).services, []);
      assert.equal(
        (JSON.parse(renderRepositoryJson(audit)) as { service: string }).service,
        'acme',
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('pnpm workspaces, yarn workspaces and tsconfig paths', () => {
  it('reads the packages list of pnpm-workspace.yaml', () => {
    const cases: [string, string[]][] = [
      [
        'packages:\n  - "apps/*"\n  - \'packages/*\' # shared\n  - "!**/test/**"\n',
        ['apps/*', 'packages/*', '!**/test/**'],
      ],
      ['# comment\npackages: [apps/*, libs/*]\ncatalog:\n  - nope\n', ['apps/*', 'libs/*']],
      ['catalog:\n  react: ^18\n', []],
      ['', []],
    ];
    for (const [text, expected] of cases)
      assert.deepEqual(pnpmWorkspaceGlobs(text), expected, text);
  });

  it('resolves pnpm workspace packages through exports, subpaths included', async () => {
    const root = await writeTree({
      'package.json': { name: 'p', private: true },
      'pnpm-workspace.yaml': 'packages:\n  - "services/*"\n  - "libs/**"\n',
      'libs/core/shared/package.json': {
        name: '@p/shared',
        exports: {
          '.': { types: './src/index.ts', default: './dist/index.js' },
          './middleware': { import: './dist/middleware.mjs' },
          './package.json': './package.json',
        },
      },
      'libs/core/shared/src/index.ts': 'export const x = 1;\n',
      'libs/core/shared/src/middleware.ts': 'export const m = 1;\n',
      'services/api/package.json': { name: '@p/api' },
      'services/api/src/main.ts':
        "import { x } from '@p/shared';\nimport { m } from '@p/shared/middleware';\n",
    });
    try {
      const project = await loadProject(root);
      assert.equal(
        resolved(project, 'services/api/src/main.ts', '@p/shared'),
        'libs/core/shared/src/index.ts',
      );
      assert.equal(
        resolved(project, 'services/api/src/main.ts', '@p/shared/middleware'),
        'libs/core/shared/src/middleware.ts',
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('resolves yarn workspaces in the object form', async () => {
    const root = await writeTree({
      'package.json': { name: 'y', workspaces: { packages: ['modules/*'], nohoist: ['**/x'] } },
      'modules/lib/package.json': { name: 'lib', source: 'lib/entry.ts', main: 'out/entry.js' },
      'modules/lib/lib/entry.ts': 'export const e = 1;\n',
      'modules/app/package.json': { name: 'app' },
      'modules/app/index.ts': "import { e } from 'lib';\n",
    });
    try {
      const project = await loadProject(root);
      assert.equal(resolved(project, 'modules/app/index.ts', 'lib'), 'modules/lib/lib/entry.ts');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('resolves tsconfig paths and baseUrl, through extends and comments', async () => {
    const root = await writeTree({
      'package.json': { name: 't' },
      'tsconfig.base.json': `{
  // shared settings
  "compilerOptions": {
    "baseUrl": ".",
    "paths": { "@lib/*": ["libs/*/src"], "@config": ["config/index.ts"], },
  },
}`,
      'apps/web/tsconfig.json': '{ "extends": "../../tsconfig.base.json" }',
      'apps/web/src/main.ts': "import { a } from '@lib/auth';\nimport c from '@config';\n",
      'libs/auth/src/index.ts': 'export const a = 1;\n',
      'config/index.ts': 'export default {};\n',
      'tsconfig.json': '{ "compilerOptions": { "baseUrl": "src" } }',
      'src/util/strings.ts': 'export const s = 1;\n',
      'src/main.ts': "import { s } from 'util/strings';\n",
    });
    try {
      const project = await loadProject(root);
      assert.equal(
        resolved(project, 'apps/web/src/main.ts', '@lib/auth'),
        'libs/auth/src/index.ts',
      );
      assert.equal(resolved(project, 'apps/web/src/main.ts', '@config'), 'config/index.ts');
      assert.equal(resolved(project, 'apps/web/src/main.ts', '@lib/none'), undefined);
      assert.equal(resolved(project, 'src/main.ts', 'util/strings'), 'src/util/strings.ts');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('the several-service JSON schema', () => {
  it('is committed as schema/repository.schema.json, unchanged', async () => {
    const file = fileURLToPath(new URL('../schema/repository.schema.json', import.meta.url));
    const committed = await readFile(file, 'utf8');
    const config = await prettier.resolveConfig(file);
    const expected = await prettier.format(JSON.stringify(repositoryReportSchema, null, 2), {
      ...config,
      filepath: file,
    });
    assert.equal(
      committed,
      expected,
      'schema/repository.schema.json is stale: write JSON.stringify(repositoryReportSchema, null, 2) to it and run prettier --write on it',
    );
    assert.equal((JSON.parse(committed) as { $id: string }).$id, 'urn:tessera:audit-repository:v1');
  });
});
