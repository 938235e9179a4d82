import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cp, lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '@tessera/authority/testing';

/**
 * The packages as a team installs them: `npm run build`, `npm pack` of every package, and a
 * fresh project in the system's temporary directory (outside the repository, so no workspace
 * link or hoisted dependency of ours can be found) that installs the tarballs from the registry's
 * client like any other dependency. There, under plain `node` (no tsx, no source condition), the
 * installed `tessera` starts a dev authority and registers two services, a Fastify app with the
 * installed plugin and client accepts a real token and refuses forged ones, and `tsc --noEmit`
 * checks a consumer file and the packages' README examples against the shipped types.
 *
 * It needs the npm registry (or npm's cache) for the third-party dependencies, and compiles
 * better-sqlite3 when no prebuilt binary matches: minutes, not seconds.
 */

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./fixtures/consumer/', import.meta.url));
const PACKAGES = ['core', 'authority', 'fastify', 'client', 'auditor', 'cli'] as const;
/** Installed from the registry next to the tarballs, at the versions this repository uses. */
const REGISTRY_DEPENDENCIES = ['fastify', 'undici', 'typescript', '@types/node'] as const;
const TRUST_DOMAIN = 'tessera.local';

const MINUTE_MS = 60_000;
const BUILD_TIMEOUT_MS = 10 * MINUTE_MS;
const INSTALL_TIMEOUT_MS = 15 * MINUTE_MS;
const COMMAND_TIMEOUT_MS = 2 * MINUTE_MS;
const READY_TIMEOUT_MS = MINUTE_MS;

/** What the consumer app printed for one request. */
interface Answer {
  readonly status: number;
  readonly wwwAuthenticate: string | null;
  readonly body: Record<string, unknown>;
}

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The environment of every child: this one's, without what `npm test` and the test runner set
 * for themselves (`npm_*` configuration would point npm at the repository), and with this
 * process's node first on PATH so `#!/usr/bin/env node` finds the same one.
 */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(name) || ['INIT_CWD', 'NODE_OPTIONS', 'NODE_TEST_CONTEXT'].includes(name))
      continue;
    env[name] = value;
  }
  env.PATH = [dirname(process.execPath), process.env.PATH ?? ''].join(':');
  return env;
}

function start(command: string, args: readonly string[], cwd: string): ChildProcess {
  return spawn(command, args, { cwd, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs a command to its end, killed after `timeoutMs`; rejects with its output unless it exits 0. */
async function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; timeoutMs: number },
): Promise<Run> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: options.timeoutMs,
    killSignal: 'SIGKILL',
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  const result = { code, signal, stdout, stderr };
  if (code !== 0) {
    assert.fail(
      `${command} ${args.join(' ')} (in ${options.cwd}): exit ${String(code)} ${String(signal)}\n` +
        `stdout:\n${stdout.slice(-4000)}\nstderr:\n${stderr.slice(-4000)}`,
    );
  }
  return result;
}

async function versionInRepo(name: string): Promise<string> {
  const manifest = JSON.parse(
    await readFile(join(REPO, 'node_modules', name, 'package.json'), 'utf8'),
  ) as { version: string };
  return manifest.version;
}

/** The TypeScript code blocks of a README. */
function typescriptBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1] ?? '');
}

/** Stops a child: SIGTERM, then SIGKILL if it is still there after `graceMs`. */
async function stop(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

describe('the packed packages, installed into a project outside the repository', () => {
  let work = '';
  let project: string;
  let authority: ChildProcess | undefined;
  let authorityOutput = '';
  let authorityUrl = '';
  const packed = new Map<string, { filename: string; files: string[] }>();

  before(
    async () => {
      work = await mkdtemp(join(tmpdir(), 'tessera-consumer-'));
      assert.ok(relative(REPO, work).startsWith('..'), `${work} is outside ${REPO}`);
      project = join(work, 'project');
      const tarballs = join(work, 'tarballs');
      await mkdir(project);
      await mkdir(tarballs);

      await run('npm', ['run', 'build'], { cwd: REPO, timeoutMs: BUILD_TIMEOUT_MS });
      const pack = await run(
        'npm',
        [
          'pack',
          '--json',
          '--pack-destination',
          tarballs,
          ...PACKAGES.flatMap((name) => ['--workspace', `packages/${name}`]),
        ],
        { cwd: REPO, timeoutMs: COMMAND_TIMEOUT_MS },
      );
      const manifests = JSON.parse(pack.stdout) as {
        name: string;
        filename: string;
        files: { path: string }[];
      }[];
      for (const { name, filename, files } of manifests) {
        packed.set(name, { filename, files: files.map((file) => file.path) });
      }

      // Every @tessera package comes from its tarball, also as another one's dependency
      // (overrides), so nothing of that name is ever fetched from the registry.
      const ours = PACKAGES.map((name) => `@tessera/${name}`);
      const dependencies: Record<string, string> = {};
      for (const name of ours) {
        const tarball = packed.get(name)?.filename;
        assert.ok(tarball !== undefined, `npm pack made no tarball for ${name}`);
        dependencies[name] = `file:../tarballs/${tarball}`;
      }
      for (const name of REGISTRY_DEPENDENCIES) dependencies[name] = await versionInRepo(name);
      await writeFile(
        join(project, 'package.json'),
        JSON.stringify({
          name: 'tessera-consumer',
          private: true,
          type: 'module',
          dependencies,
          overrides: Object.fromEntries(ours.map((name) => [name, `$${name}`])),
        }),
      );
      await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], {
        cwd: project,
        timeoutMs: INSTALL_TIMEOUT_MS,
      });
      await cp(FIXTURES, project, { recursive: true });
    },
    { timeout: BUILD_TIMEOUT_MS + INSTALL_TIMEOUT_MS + 2 * COMMAND_TIMEOUT_MS },
  );

  after(async () => {
    if (authority !== undefined) await stop(authority);
    if (work !== '') await rm(work, { recursive: true, force: true });
  });

  it('packs built JavaScript, declarations, README and LICENSE; no sources, tests or build info', () => {
    assert.equal(packed.size, PACKAGES.length);
    for (const [name, { files }] of packed) {
      assert.ok(files.includes('dist/index.js') || files.includes('dist/main.js'), name);
      assert.ok(files.includes('dist/index.d.ts') || files.includes('dist/main.d.ts'), name);
      for (const file of ['package.json', 'README.md', 'LICENSE']) {
        assert.ok(files.includes(file), `${name} ships ${file}`);
      }
      const stray = files.filter(
        (file) => /^(src|test)\//.test(file) || file.endsWith('.tsbuildinfo'),
      );
      assert.deepEqual(stray, [], `${name} ships only what it needs`);
    }
    assert.ok(packed.get('@tessera/auditor')?.files.includes('schema/report.schema.json'));
    assert.ok(packed.get('@tessera/cli')?.files.includes('bin/tessera.js'));
  });

  it('installs real copies of the packages, not links into the repository', async () => {
    const installed = await readdir(join(project, 'node_modules', '@tessera'));
    assert.deepEqual(installed.sort(), [...PACKAGES].sort());
    for (const name of PACKAGES) {
      const entry = await lstat(join(project, 'node_modules', '@tessera', name));
      assert.ok(entry.isDirectory() && !entry.isSymbolicLink(), name);
    }
  });

  it('starts the authority with the installed `tessera authority start --dev`', async () => {
    const port = await freePort();
    authorityUrl = `http://127.0.0.1:${port}`;
    authority = start(
      join(project, 'node_modules', '.bin', 'tessera'),
      [
        'authority',
        'start',
        '--dev',
        '--data-dir',
        join(work, 'data'),
        '--listen',
        `127.0.0.1:${port}`,
      ],
      project,
    );
    authority.stdout?.setEncoding('utf8').on('data', (chunk: string) => (authorityOutput += chunk));
    authority.stderr?.setEncoding('utf8').on('data', (chunk: string) => (authorityOutput += chunk));
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      assert.equal(authority.exitCode, null, `the authority exited:\n${authorityOutput}`);
      assert.ok(Date.now() < deadline, `not ready in time:\n${authorityOutput}`);
      const status = await fetch(`${authorityUrl}/readyz`, { signal: AbortSignal.timeout(2000) })
        .then((response) => response.status)
        .catch(() => 0);
      if (status === 200) break;
      await delay(200);
    }
    assert.match(authorityOutput, /authority listening on/);
  });

  it('registers two services with the installed CLI', async () => {
    assert.notEqual(authorityUrl, '', 'the authority started');
    const tessera = join(project, 'node_modules', '.bin', 'tessera');
    const common = [
      '--authority',
      authorityUrl,
      '--admin-token-file',
      join(work, 'data', 'admin.token'),
      '--out',
      join(work, 'keys'),
    ];
    for (const args of [
      ['service', 'add', 'billing', ...common],
      [
        'service',
        'add',
        'event-service',
        '--aud',
        'billing',
        '--scope',
        'invoices:write',
        ...common,
      ],
    ]) {
      const { stdout } = await run(tessera, args, { cwd: project, timeoutMs: COMMAND_TIMEOUT_MS });
      const registered = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as {
        client_id: string;
      };
      assert.equal(registered.client_id, `spiffe://${TRUST_DOMAIN}/${args[2] ?? ''}`);
    }
  });

  it('runs a Fastify app with the installed plugin and client: a real token in, forged ones out', async () => {
    assert.notEqual(authorityUrl, '', 'the authority started');
    const { stdout } = await run(
      process.execPath,
      [
        'app.mjs',
        authorityUrl,
        join(work, 'keys', 'billing.key'),
        join(work, 'keys', 'event-service.key'),
      ],
      { cwd: project, timeoutMs: COMMAND_TIMEOUT_MS },
    );
    const results = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Record<
      'real' | 'forged' | 'tampered' | 'none',
      Answer
    >;
    assert.deepEqual(results.real, {
      status: 200,
      wwwAuthenticate: null,
      body: { createdFor: `spiffe://${TRUST_DOMAIN}/event-service` },
    });
    for (const [refused, code] of [
      [results.forged, 'ERR_TOKEN_KID_UNKNOWN'],
      [results.tampered, 'ERR_TOKEN_SIGNATURE'],
    ] as const) {
      assert.equal(refused.status, 401);
      assert.match(refused.wwwAuthenticate ?? '', /^Bearer .*error="invalid_token"/);
      assert.deepEqual(refused.body, { code, message: 'unauthorized' });
    }
    assert.equal(results.none.status, 401);
    assert.deepEqual(results.none.body, {
      code: 'ERR_CREDENTIALS_MISSING',
      message: 'unauthorized',
    });
  });

  it('type-checks a consumer file and the README examples against the shipped types', async () => {
    const examples: string[] = [];
    for (const name of PACKAGES) {
      const readme = await readFile(
        join(project, 'node_modules', '@tessera', name, 'README.md'),
        'utf8',
      );
      for (const [index, block] of typescriptBlocks(readme).entries()) {
        const file = `readme-${name}-${String(index + 1)}.ts`;
        await writeFile(join(project, file), block);
        examples.push(file);
      }
    }
    // Every package but the CLI (shell commands) shows TypeScript.
    assert.equal(new Set(examples.map((file) => file.split('-')[1])).size, PACKAGES.length - 1);
    await run(
      process.execPath,
      [join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'],
      { cwd: project, timeoutMs: COMMAND_TIMEOUT_MS },
    );
  });
});
