import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { access, chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { freePort, requestOverTls } from '@tessera/authority/testing';
import { createTestCa } from '@tessera/core/testing';
import { eventually } from '@tessera/core/testing';
import { TESSERA_FROM_SOURCE } from './support/bin.ts';

/**
 * The `tessera` binary end to end: every step runs `packages/cli/bin/tessera.js` from source as a child
 * process (cwd a temporary directory, so `.tessera` lands there) and asserts its exit code and
 * output, against a real dev-mode authority on 127.0.0.1.
 */

const COMMAND_TIMEOUT_MS = 20_000;
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Everything any `tessera` process printed, scanned for secrets at the end. */
const transcript: string[] = [];

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  // The children are not tests; and each command's authority comes from this suite only.
  delete env.NODE_TEST_CONTEXT;
  if (extra.TESSERA_AUTHORITY === undefined) delete env.TESSERA_AUTHORITY;
  return env;
}

function spawnTessera(
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): { child: ChildProcess; output: () => { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, [...TESSERA_FROM_SOURCE, ...args], {
    cwd: options.cwd,
    env: childEnv(options.env ?? {}),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.timeoutMs !== undefined
      ? { timeout: options.timeoutMs, killSignal: 'SIGKILL' }
      : {}),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    transcript.push(chunk);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    transcript.push(chunk);
  });
  return { child, output: () => ({ stdout, stderr }) };
}

/** Runs one command to completion (killed after 20 s). */
async function tessera(
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<Run> {
  const { child, output } = spawnTessera(args, { ...options, timeoutMs: COMMAND_TIMEOUT_MS });
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  return { code, signal, ...output() };
}

function describeRun(run: Run): string {
  return `exit ${String(run.code)} (${String(run.signal)})\nstdout: ${run.stdout}\nstderr: ${run.stderr}`;
}

function assertExit(run: Run, code: number): void {
  assert.equal(run.code, code, describeRun(run));
}

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

function jwtSegment(token: string, index: 0 | 1): Record<string, unknown> {
  const segment = token.split('.')[index] ?? '';
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as Record<string, unknown>;
}

const headerOf = (token: string) => jwtSegment(token, 0);
const claimsOf = (token: string) => jwtSegment(token, 1);

/** A `tessera authority start` running in the background. */
class AuthorityProcess {
  readonly #spawned: ReturnType<typeof spawnTessera>;

  constructor(args: readonly string[], cwd: string) {
    this.#spawned = spawnTessera(['authority', 'start', ...args], { cwd });
  }

  get child(): ChildProcess {
    return this.#spawned.child;
  }

  output(): { stdout: string; stderr: string } {
    return this.#spawned.output();
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Polls `/readyz` (at most 20 s) until 200 and the start message is out; over HTTPS with the CA
   * bundle from `bundleFile` once it exists.
   */
  async waitReady(url: string, bundleFile?: string): Promise<void> {
    const ready = async () => {
      if (!this.running) {
        const { stdout, stderr } = this.output();
        assert.fail(
          `authority exited early (${String(this.child.exitCode)}):\n${stdout}\n${stderr}`,
        );
      }
      const readyz =
        bundleFile === undefined
          ? fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) })
          : readFile(bundleFile, 'utf8').then((ca) => requestOverTls(`${url}/readyz`, { ca }));
      const status = await readyz.then(
        (response) => response.status,
        () => 0,
      );
      return status === 200 && this.output().stderr.includes('authority listening on');
    };
    await eventually(ready, 20_000, { intervalMs: 200 }).catch((error: unknown) => {
      if (error instanceof assert.AssertionError) throw error;
      assert.fail(`authority at ${url} was not ready within 20 s:\n${this.output().stderr}`);
    });
  }

  /** SIGTERM, then the exit code (the process must be gone within `ms`). */
  async stop(ms = 10_000): Promise<number | null> {
    if (this.running) {
      const exited = once(this.child, 'exit', { signal: AbortSignal.timeout(ms) });
      this.child.kill('SIGTERM');
      await exited;
    }
    return this.child.exitCode;
  }

  /** After-hook safety net: nothing outlives the suite. */
  async kill(): Promise<void> {
    if (!this.running) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGKILL');
    await exited;
  }
}

/** Secrets whose values must never show up in anything the CLI prints. */
const secrets: { name: string; value: string }[] = [];

async function rememberSecretFile(name: string, path: string): Promise<void> {
  const text = await readFile(path, 'utf8');
  if (text.includes('PRIVATE KEY')) {
    // Each base64 line of the PEM body on its own, so a partial print is caught too.
    for (const line of text.split('\n')) {
      if (line.length >= 16 && !line.startsWith('-----')) secrets.push({ name, value: line });
    }
  } else {
    secrets.push({ name, value: text.trim() });
  }
}

describe('tessera CLI: the whole story against a dev authority', { timeout: 90_000 }, () => {
  let cwd: string;
  let dataDir: string;
  let url: string;
  let port: number;
  let authority: AuthorityProcess | undefined;
  let env: Record<string, string>;
  let eventsKey: string;
  let firstToken: string;

  before(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'tessera-cli-'));
    dataDir = join(cwd, '.tessera');
    port = await freePort();
    url = `http://127.0.0.1:${port}`;
    env = { TESSERA_AUTHORITY: url };
    eventsKey = join(cwd, 'keys', 'event-service.key');
  });

  after(async () => {
    await authority?.kill();
    await rm(cwd, { recursive: true, force: true });
  });

  it('prints help with exit 0 for `--help` and `token --help`', async () => {
    const [top, token] = await Promise.all([
      tessera(['--help'], { cwd }),
      tessera(['token', '--help'], { cwd }),
    ]);
    assertExit(top, 0);
    for (const command of ['authority', 'service', 'token', 'revoke', 'keys', 'audit-log']) {
      assert.match(top.stdout, new RegExp(`^\\s+${command}\\b`, 'm'), command);
    }
    assertExit(token, 0);
    assert.match(token.stdout, /^\s+get \[options\]/m);
    assert.match(token.stdout, /^\s+inspect \[options\] <token>/m);
  });

  it('exits 2 for an unknown command, a missing required option or a bad option value', async () => {
    const [unknown, missing, badExp] = await Promise.all([
      tessera(['frobnicate'], { cwd }),
      tessera(['token', 'get', '--service', 'event-service', '--aud', 'billing'], { cwd }),
      tessera(['revoke', '--jti', 'abc', '--exp', 'soon'], { cwd }),
    ]);
    assertExit(unknown, 2);
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);
    assertExit(missing, 2);
    assert.match(missing.stderr, /required option '--key <file>' not specified/);
    assertExit(badExp, 2);
    assert.match(badExp.stderr, /--exp <seconds>.*positive whole number/s);
  });

  it('starts a dev authority: KEK and admin token 0600 in the data dir, only the path printed', async () => {
    authority = new AuthorityProcess(
      ['--dev', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`],
      cwd,
    );
    await authority.waitReady(url);
    assert.equal(await modeOf(dataDir), 0o700);
    assert.equal(await modeOf(join(dataDir, 'kek')), 0o600);
    assert.equal(await modeOf(join(dataDir, 'admin.token')), 0o600);
    assert.ok(await exists(join(dataDir, 'tessera.db')));
    const { stderr } = authority.output();
    assert.ok(stderr.includes(`admin token in ${join(dataDir, 'admin.token')}`), stderr);
    assert.ok(stderr.includes(`authority listening on ${url} (issuer ${url})`), stderr);
    await rememberSecretFile('admin token', join(dataDir, 'admin.token'));
    await rememberSecretFile('KEK', join(dataDir, 'kek'));
  });

  it('refuses --dev on a non-loopback address or an ephemeral port', async () => {
    const other = await freePort();
    const [wildcard, ephemeral] = await Promise.all([
      tessera(
        ['authority', 'start', '--dev', '--data-dir', dataDir, '--listen', `0.0.0.0:${other}`],
        {
          cwd,
        },
      ),
      tessera(['authority', 'start', '--dev', '--data-dir', dataDir, '--listen', '127.0.0.1:0'], {
        cwd,
      }),
    ]);
    assertExit(wildcard, 1);
    assert.match(wildcard.stderr, /ERR_CONFIG_INSECURE: .*listen: .*loopback/);
    assertExit(ephemeral, 1);
    assert.match(ephemeral.stderr, /--listen needs a fixed port with --dev/);
  });

  it('refuses a --workers count that is not 1 to 64', async () => {
    const runs = await Promise.all(
      ['0', '65', '2.5', 'two'].map((workers) =>
        tessera(['authority', 'start', '--dev', '--data-dir', dataDir, '--workers', workers], {
          cwd,
        }),
      ),
    );
    for (const run of runs) {
      assertExit(run, 1);
      assert.match(run.stderr, /--workers must be an integer from 1 to 64/);
    }
  });

  it('refuses to start without --dev or --config', async () => {
    const run = await tessera(['authority', 'start'], { cwd });
    assertExit(run, 1);
    assert.match(run.stderr, /--config FILE is required without --dev/);
  });

  it('registers services; the generated key is 0600 under --out and reused on a re-run', async () => {
    const billing = await tessera(['service', 'add', 'billing', '--out', 'keys'], { cwd, env });
    assertExit(billing, 0);
    assert.deepEqual(
      { ...(JSON.parse(billing.stdout) as Record<string, unknown>), kid: 'any' },
      {
        name: 'billing',
        client_id: 'spiffe://tessera.local/billing',
        kid: 'any',
        key: join('keys', 'billing.key'),
      },
    );

    const args = [
      'service',
      'add',
      'event-service',
      '--aud',
      'billing',
      '--scope',
      'invoices:write',
      '--out',
      'keys',
    ];
    const first = await tessera(args, { cwd, env });
    assertExit(first, 0);
    assert.match(first.stderr, /wrote private key keys\/event-service\.key \(mode 0600\)/);
    assert.equal(await modeOf(eventsKey), 0o600);
    const pem = await readFile(eventsKey, 'utf8');

    const again = await tessera(args, { cwd, env });
    assertExit(again, 0);
    assert.match(again.stderr, /reusing private key keys\/event-service\.key/);
    assert.equal(await readFile(eventsKey, 'utf8'), pem, 'the key file is left as it was');
    const [a, b] = [first, again].map((run) => JSON.parse(run.stdout) as { kid: string });
    assert.equal(a?.kid, b?.kid, 'the same public key is registered');

    await rememberSecretFile('billing private key', join(cwd, 'keys', 'billing.key'));
    await rememberSecretFile('event-service private key', eventsKey);
  });

  it('registers scopes per audience with --grant, and refuses --grant with --aud', async () => {
    const run = await tessera(
      [
        'service',
        'add',
        'auditor-svc',
        '--grant',
        'billing=invoices:read,invoices:list',
        '--grant',
        'event-service=',
        '--out',
        'keys',
      ],
      { cwd, env },
    );
    assertExit(run, 0);
    const adminToken = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
    const record = (await (
      await fetch(`${url}/v1/admin/services/auditor-svc`, {
        headers: { authorization: `Bearer ${adminToken}` },
      })
    ).json()) as { grants: unknown };
    assert.deepEqual(record.grants, [
      { audience: 'spiffe://tessera.local/billing', scopes: ['invoices:read', 'invoices:list'] },
      { audience: 'spiffe://tessera.local/event-service', scopes: [] },
    ]);
    const both = await tessera(
      ['service', 'add', 'x', '--grant', 'billing=a', '--aud', 'billing', '--out', 'keys'],
      { cwd, env },
    );
    assertExit(both, 1);
    assert.match(both.stderr, /give --grant, or --aud and --scope, not both/);
  });

  it('refuses a service name that is not one before writing any key file', async () => {
    const run = await tessera(['service', 'add', '../escape', '--out', 'keys'], { cwd, env });
    assertExit(run, 1);
    assert.match(run.stderr, /a service name is 1-255 letters/);
    assert.equal(await exists(join(cwd, 'escape.key')), false);
  });

  it('fails with exit 1 and no secret when the admin token is wrong', async () => {
    await writeFile(join(cwd, 'wrong.token'), `${randomBytes(32).toString('base64url')}\n`, {
      mode: 0o600,
    });
    const run = await tessera(['service', 'add', 'billing', '--admin-token-file', 'wrong.token'], {
      cwd,
      env,
    });
    assertExit(run, 1);
    assert.match(run.stderr, /authority answered 401 \(ERR_UNAUTHENTICATED\)/);
    await rememberSecretFile('wrong admin token', join(cwd, 'wrong.token'));
  });

  it('`token get` prints only the JWT on stdout; `token inspect` verifies it', async () => {
    const get = await tessera(
      [
        'token',
        'get',
        '--service',
        'event-service',
        '--key',
        eventsKey,
        '--aud',
        'billing',
        '--scope',
        'invoices:write',
      ],
      { cwd, env },
    );
    assertExit(get, 0);
    assert.match(get.stdout, /^[^\n]+\n$/, 'exactly one line');
    firstToken = get.stdout.trim();
    assert.match(firstToken, JWT);
    assert.match(get.stderr, /token for billing, expires in 300 s, scope "invoices:write"/);
    const claims = claimsOf(firstToken);
    assert.equal(claims.sub, 'spiffe://tessera.local/event-service');
    assert.equal(claims.aud, 'spiffe://tessera.local/billing');
    assert.equal(claims.scope, 'invoices:write');
    assert.equal(claims.iss, url);

    const inspect = await tessera(['token', 'inspect', firstToken], { cwd, env });
    assertExit(inspect, 0);
    assert.match(inspect.stdout, /"sub": "spiffe:\/\/tessera\.local\/event-service"/);
    assert.match(inspect.stdout, /"scope": "invoices:write"/);
    assert.match(inspect.stdout, /^expires: \S+ \(in [45]m( \d+s)?\)$/m);
    assert.match(inspect.stdout, /^signature: valid \(kid /m);
    assert.ok(
      !inspect.stdout.includes(firstToken.split('.')[2] ?? '<none>'),
      'the signature is not printed',
    );
  });

  it('`token inspect` exits 1 for a tampered token or something that is not a JWT', async () => {
    const [header, , signature] = firstToken.split('.');
    const forged = Buffer.from(
      JSON.stringify({ ...claimsOf(firstToken), scope: 'invoices:write invoices:admin' }),
    ).toString('base64url');
    const [tampered, garbage] = await Promise.all([
      tessera(['token', 'inspect', `${header ?? ''}.${forged}.${signature ?? ''}`], { cwd, env }),
      tessera(['token', 'inspect', 'not-a-token'], { cwd, env }),
    ]);
    assertExit(tampered, 1);
    assert.match(tampered.stdout, /^signature: INVALID \(ERR_TOKEN_SIGNATURE\)$/m);
    assert.match(tampered.stderr, /token did not verify/);
    assertExit(garbage, 1);
    assert.match(garbage.stderr, /not a JWT/);
  });

  it('revokes every token of a service, or one token by jti', async () => {
    const byService = await tessera(['revoke', '--service', 'event-service'], { cwd, env });
    assertExit(byService, 0);
    assert.deepEqual(
      { ...(JSON.parse(byService.stdout) as Record<string, unknown>), id: 0, expires_at: 0 },
      { id: 0, kind: 'subject', value: 'spiffe://tessera.local/event-service', expires_at: 0 },
    );

    const { jti, exp } = claimsOf(firstToken) as { jti: string; exp: number };
    const byJti = await tessera(['revoke', '--jti', jti, '--exp', String(exp)], { cwd, env });
    assertExit(byJti, 0);
    assert.deepEqual(
      { ...(JSON.parse(byJti.stdout) as Record<string, unknown>), id: 0 },
      { id: 0, kind: 'jti', value: jti, expires_at: exp },
    );
  });

  it('`revoke` with neither or both of --jti and --service fails with a clear message', async () => {
    const [neither, both, expWithService] = await Promise.all([
      tessera(['revoke'], { cwd, env }),
      tessera(['revoke', '--jti', 'x', '--service', 'billing'], { cwd, env }),
      tessera(['revoke', '--service', 'billing', '--exp', '1900000000'], { cwd, env }),
    ]);
    for (const run of [neither, both]) {
      assertExit(run, 1);
      assert.match(run.stderr, /give exactly one of --jti or --service/);
    }
    assertExit(expWithService, 1);
    assert.match(expWithService.stderr, /--exp goes with --jti/);
  });

  it('`keys rotate` keeps old tokens verifying; `--revoke-previous` withdraws the key at once', async () => {
    const firstKid = headerOf(firstToken).kid;
    const rotate = await tessera(['keys', 'rotate'], { cwd, env });
    assertExit(rotate, 0);
    const rotation = JSON.parse(rotate.stdout) as { activeKid: string; previousKid: string };
    assert.equal(rotation.previousKid, firstKid);
    assert.notEqual(rotation.activeKid, firstKid);
    // A retired key stays published until the tokens it signed have expired.
    assertExit(await tessera(['token', 'inspect', firstToken], { cwd, env }), 0);

    const get = await tessera(
      ['token', 'get', '--service', 'event-service', '--key', eventsKey, '--aud', 'billing'],
      { cwd, env },
    );
    assertExit(get, 0);
    const secondToken = get.stdout.trim();
    assert.equal(headerOf(secondToken).kid, rotation.activeKid);

    const emergency = await tessera(['keys', 'rotate', '--revoke-previous'], { cwd, env });
    assertExit(emergency, 0);
    const revoked = JSON.parse(emergency.stdout) as { revokedKid?: string };
    assert.equal(revoked.revokedKid, rotation.activeKid);

    const inspect = await tessera(['token', 'inspect', secondToken], { cwd, env });
    assertExit(inspect, 1);
    assert.match(inspect.stdout, /^signature: INVALID \(ERR_TOKEN_KID_UNKNOWN\)$/m);
  });

  it('stops on SIGTERM with exit 0 within 10 s', async () => {
    assert.ok(authority?.running);
    assert.equal(await authority.stop(10_000), 0, authority.output().stderr);
  });

  it('`audit-log verify --checkpoint` finds the head the authority signed at shutdown', async () => {
    const checkpoint = join(dataDir, 'audit-head.jws');
    assert.equal((await stat(checkpoint)).mode & 0o777, 0o600);
    const run = await tessera(
      ['audit-log', 'verify', '--data-dir', dataDir, '--checkpoint', checkpoint],
      { cwd },
    );
    assertExit(run, 0);
    assert.match(
      run.stdout,
      /^audit log intact: \d+ records; signed head at record \d+ .* matches$/m,
    );
  });

  it('`audit-log verify` reports an intact chain, then names the record altered in the DB', async () => {
    const intact = await tessera(['audit-log', 'verify', '--data-dir', dataDir], { cwd });
    assertExit(intact, 0);
    const count = Number(/^audit log intact: (\d+) records$/m.exec(intact.stdout)?.[1]);
    // 2 registrations, 1 update, 2 revocations, 2 rotations at least.
    assert.ok(count >= 7, intact.stdout);

    const db = new Database(join(dataDir, 'tessera.db'));
    try {
      const changed = db
        .prepare('UPDATE audit_log SET data = ? WHERE seq = 3')
        .run(JSON.stringify({ name: 'mallory' }));
      assert.equal(changed.changes, 1);
    } finally {
      db.close();
    }

    const broken = await tessera(['audit-log', 'verify', '--data-dir', dataDir], { cwd });
    assertExit(broken, 1);
    assert.match(broken.stderr, /audit log broken at record 3: altered/);
  });

  it('`audit-log verify --checkpoint` detects a store rewritten with every hash recomputed', async () => {
    // The intruder recomputes the chain over the record altered above, by the documented rule:
    // SHA-256 of prevHash, a newline and the canonical JSON of { actor, atMs, data, seq, type }.
    const db = new Database(join(dataDir, 'tessera.db'));
    try {
      const rows = db.prepare('SELECT * FROM audit_log ORDER BY seq').all() as {
        seq: number;
        at_ms: number;
        type: string;
        actor: string;
        data: string;
      }[];
      const update = db.prepare('UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?');
      let prevHash = '0'.repeat(64);
      for (const row of rows) {
        const text = `{"actor":${JSON.stringify(row.actor)},"atMs":${row.at_ms},"data":${row.data},"seq":${row.seq},"type":${JSON.stringify(row.type)}}`;
        const hash = createHash('sha256').update(`${prevHash}\n${text}`).digest('hex');
        update.run(prevHash, hash, row.seq);
        prevHash = hash;
      }
    } finally {
      db.close();
    }
    const unanchored = await tessera(['audit-log', 'verify', '--data-dir', dataDir], { cwd });
    assertExit(unanchored, 0);

    const checkpoint = join(dataDir, 'audit-head.jws');
    const anchored = await tessera(
      ['audit-log', 'verify', '--data-dir', dataDir, '--checkpoint', checkpoint],
      { cwd },
    );
    assertExit(anchored, 1);
    assert.match(anchored.stderr, /audit log broken at record \d+: anchor-mismatch \(.*rewritten/);

    const forged = join(cwd, 'forged-head.jws');
    const [header = '', payload = ''] = (await readFile(checkpoint, 'utf8')).split('.');
    await writeFile(forged, `${header}.${payload}.${randomBytes(64).toString('base64url')}\n`);
    const refused = await tessera(
      ['audit-log', 'verify', '--data-dir', dataDir, '--checkpoint', forged],
      { cwd },
    );
    assertExit(refused, 1);
    assert.match(refused.stderr, /checkpoint .* refused \(ERR_AUDIT_CHECKPOINT_INVALID\)/);
  });

  it('`audit-log verify` on a directory without a store fails and creates nothing', async () => {
    const missing = join(cwd, 'no-such-data');
    const run = await tessera(['audit-log', 'verify', '--data-dir', missing], { cwd });
    assertExit(run, 1);
    assert.match(run.stderr, /no audit log at .*no-such-data/);
    assert.equal(await exists(missing), false);
  });
});

/** One row per refused setting: what to change in a valid config file, and the expected error. */
interface ConfigRefusal {
  readonly name: string;
  readonly patch: (config: Record<string, unknown>) => Record<string, unknown>;
  readonly args?: readonly string[];
  readonly error: RegExp;
}

const CONFIG_REFUSALS: readonly ConfigRefusal[] = [
  {
    name: 'plain HTTP on 0.0.0.0',
    patch: (c) => ({ ...c, listen: { host: '0.0.0.0', port: 7700 } }),
    error: /ERR_CONFIG_INSECURE: .*listen\.host: plain HTTP/,
  },
  {
    name: 'plain HTTP on 0.0.0.0 through --listen',
    patch: (c) => c,
    args: ['--listen', '0.0.0.0:7700'],
    error: /ERR_CONFIG_INSECURE: .*listen\.host: plain HTTP/,
  },
  {
    name: 'a missing KEK file',
    patch: (c) => ({ ...c, kekFile: 'no-such-kek' }),
    error: /ERR_CONFIG_INVALID: .*kekFile: cannot read/,
  },
  {
    name: 'a 16-byte admin token',
    patch: (c) => ({ ...c, adminTokenFile: 'short.token' }),
    error: /ERR_CONFIG_INSECURE: .*adminTokenFile: secret is shorter than 32 bytes/,
  },
  {
    name: 'a KEK file with mode 0644',
    patch: (c) => ({ ...c, kekFile: 'open.kek' }),
    error: /ERR_CONFIG_INSECURE: .*kekFile: .*readable by other users/,
  },
  {
    name: 'an admin token file with mode 0644',
    patch: (c) => ({ ...c, adminTokenFile: 'open.token' }),
    error: /ERR_CONFIG_INSECURE: .*adminTokenFile: .*readable by other users/,
  },
  {
    name: 'an unknown key',
    patch: (c) => ({ ...c, adminToken: 'inline-secrets-are-not-a-setting' }),
    error: /ERR_CONFIG_INVALID: .*\/adminToken: Unexpected property/,
  },
  {
    name: 'a plain-HTTP issuer that is not loopback',
    patch: (c) => ({ ...c, issuer: 'http://auth.example.com' }),
    error: /ERR_CONFIG_INSECURE: .*issuer: must be https/,
  },
  {
    name: '--data-dir, which only --dev reads',
    patch: (c) => c,
    args: ['--data-dir', '.tessera'],
    error: /--data-dir applies to --dev only/,
  },
];

describe(
  'tessera authority start --config: refuses insecure settings',
  // Each command loads the authority through tsx, about 4 s of CPU; eleven at once on two cores
  // ran past the 20-s command timeout, so two at a time.
  { concurrency: 2, timeout: 180_000 },
  () => {
    let cwd: string;
    let confDir: string;
    let valid: Record<string, unknown>;
    let server: AuthorityProcess | undefined;

    const secret = () => `${randomBytes(32).toString('base64url')}\n`;

    async function writeConfig(name: string, config: unknown): Promise<string> {
      const path = join(confDir, name);
      await writeFile(path, JSON.stringify(config, null, 2));
      return path;
    }

    before(async () => {
      cwd = await mkdtemp(join(tmpdir(), 'tessera-cli-config-'));
      confDir = join(cwd, 'etc');
      await mkdir(confDir, { mode: 0o700 });
      await writeFile(join(confDir, 'kek'), secret(), { mode: 0o600 });
      await writeFile(join(confDir, 'admin.token'), secret(), { mode: 0o600 });
      await writeFile(join(confDir, 'short.token'), `${randomBytes(8).toString('hex')}\n`, {
        mode: 0o600,
      });
      await writeFile(join(confDir, 'open.kek'), secret(), { mode: 0o600 });
      await writeFile(join(confDir, 'open.token'), secret(), { mode: 0o600 });
      await chmod(join(confDir, 'open.kek'), 0o644);
      await chmod(join(confDir, 'open.token'), 0o644);
      for (const file of ['kek', 'admin.token', 'open.kek', 'open.token']) {
        await rememberSecretFile(`config ${file}`, join(confDir, file));
      }
      const port = await freePort();
      // Relative paths: taken relative to the config file, while the commands run in `cwd`.
      valid = {
        issuer: `http://127.0.0.1:${port}`,
        trustDomain: 'example.org',
        listen: { host: '127.0.0.1', port },
        store: { kind: 'sqlite', path: 'authority.db' },
        kekFile: 'kek',
        adminTokenFile: 'admin.token',
      };
    });

    after(async () => {
      await server?.kill();
      await rm(cwd, { recursive: true, force: true });
    });

    for (const [index, row] of CONFIG_REFUSALS.entries()) {
      it(`refuses ${row.name}`, async () => {
        const config = await writeConfig(`refusal-${index}.json`, row.patch(valid));
        const run = await tessera(['authority', 'start', '--config', config, ...(row.args ?? [])], {
          cwd,
        });
        assertExit(run, 1);
        assert.match(run.stderr, row.error);
        assert.equal(await exists(join(confDir, 'authority.db')), false, 'no store was created');
      });
    }

    it('refuses a config file that is not JSON', async () => {
      const path = join(confDir, 'broken.json');
      await writeFile(path, '{ "issuer": ');
      const run = await tessera(['authority', 'start', '--config', path], { cwd });
      assertExit(run, 1);
      assert.match(run.stderr, /broken\.json is not JSON/);
    });

    it('starts from a valid config, with paths relative to the file, and stops on SIGTERM', async () => {
      const config = await writeConfig('authority.json', {
        ...valid,
        store: { kind: 'sqlite', path: 'ok.db' },
      });
      const issuer = valid.issuer as string;
      server = new AuthorityProcess(['--config', config], cwd);
      await server.waitReady(issuer);
      const metadata = (await (
        await fetch(`${issuer}/.well-known/oauth-authorization-server`)
      ).json()) as { issuer: string };
      assert.equal(metadata.issuer, issuer);
      assert.equal(await modeOf(join(confDir, 'ok.db')), 0o600);
      assert.equal(await server.stop(10_000), 0, server.output().stderr);
      assert.doesNotMatch(server.output().stderr, /admin token in/);
    });
  },
);

describe('tessera CLI against an HTTPS dev authority (--dev --tls)', { timeout: 120_000 }, () => {
  let cwd: string;
  let url: string;
  let port: number;
  let authority: AuthorityProcess | undefined;
  const bundle = () => join(cwd, '.tessera', 'bundle.pem');

  before(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'tessera-cli-tls-'));
    port = await freePort();
    url = `https://127.0.0.1:${port}`;
  });

  after(async () => {
    await authority?.kill();
    await rm(cwd, { recursive: true, force: true });
  });

  it('serves HTTPS with its own SVID and writes the CA bundle into the data dir', async () => {
    authority = new AuthorityProcess(
      [
        '--dev',
        '--tls',
        '--listen',
        `127.0.0.1:${port}`,
        '--admin-spiffe-id',
        'spiffe://tessera.local/ops',
      ],
      cwd,
    );
    await authority.waitReady(url, bundle());
    const { stderr } = authority.output();
    assert.ok(stderr.includes(`authority listening on ${url} (issuer ${url})`), stderr);
    assert.ok(stderr.includes(`CA bundle in ${bundle()}`), stderr);
    assert.equal(await modeOf(bundle()), 0o644);
    await rememberSecretFile('TLS admin token', join(cwd, '.tessera', 'admin.token'));
  });

  it('registers services and gets tokens with the bundle found by default', async () => {
    const env = { TESSERA_AUTHORITY: url };
    for (const args of [
      ['service', 'add', 'billing'],
      ['service', 'add', 'vault', '--bound-tokens'],
      ['service', 'add', 'event-service', '--grant', 'billing=invoices:write', '--grant', 'vault'],
    ]) {
      assertExit(await tessera(args, { cwd, env }), 0);
    }
    const key = join('.tessera', 'keys', 'event-service.key');
    const base = ['token', 'get', '--service', 'event-service', '--key', key];
    const [token, bound] = await Promise.all([
      tessera([...base, '--aud', 'billing', '--scope', 'invoices:write'], { cwd, env }),
      tessera([...base, '--aud', 'vault'], { cwd, env }),
    ]);
    assertExit(token, 0);
    assert.match(token.stdout.trim(), JWT);
    assert.equal(claimsOf(token.stdout.trim()).iss, url);
    // A bound-token audience needs the client certificate; the CLI's private_key_jwt has none.
    assertExit(bound, 1);
    assert.match(bound.stderr, /authority answered 400 \(invalid_request\)/);
    const inspect = await tessera(['token', 'inspect', token.stdout.trim()], { cwd, env });
    assertExit(inspect, 0);
    assert.match(inspect.stdout, /signature: valid/);
  });

  it('is admin with a listed SVID (--cert/--key) and no admin token; another SVID gets 401', async () => {
    const env = { TESSERA_AUTHORITY: url };
    assertExit(await tessera(['service', 'add', 'ops'], { cwd, env }), 0);
    const svids = await Promise.all(
      ['ops', 'event-service'].map((name) =>
        tessera(
          [
            'svid',
            'get',
            '--service',
            name,
            '--key',
            join('.tessera', 'keys', `${name}.key`),
            '--out',
            name,
          ],
          { cwd, env },
        ),
      ),
    );
    for (const svid of svids) assertExit(svid, 0);
    const rotate = (name: string) =>
      tessera(
        [
          'keys',
          'rotate',
          '--admin-token-file',
          'no-such-token',
          '--cert',
          join(name, 'svid.pem'),
          '--key',
          join(name, 'svid.key'),
        ],
        { cwd, env },
      );
    const [ops, events] = await Promise.all([rotate('ops'), rotate('event-service')]);
    assertExit(ops, 0);
    assert.match(ops.stdout, /"activeKid"/);
    assertExit(events, 1);
    assert.match(events.stderr, /authority answered 401/);
  });

  it('refuses an authority whose certificate does not chain to --ca, and plain HTTP to it', async () => {
    const other = join(cwd, 'other-ca.pem');
    await writeFile(other, createTestCa().certPem);
    const [wrongCa, plain] = await Promise.all([
      tessera(['keys', 'rotate', '--authority', url, '--ca', other], { cwd }),
      tessera(['keys', 'rotate', '--authority', `http://127.0.0.1:${port}`], { cwd }),
    ]);
    assertExit(wrongCa, 1);
    assert.match(
      wrongCa.stderr,
      /cannot reach the authority at https:.*\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/,
    );
    assertExit(plain, 1);
  });

  it('a plain-HTTP dev start removes the bundle, so the CLI goes back to http', async () => {
    assert.equal(await authority?.stop(10_000), 0);
    authority = new AuthorityProcess(['--dev', '--listen', `127.0.0.1:${port}`], cwd);
    await authority.waitReady(`http://127.0.0.1:${port}`);
    assert.equal(await exists(bundle()), false);
    assert.equal(await authority.stop(10_000), 0);
  });
});

describe('tessera CLI output', () => {
  it('never contains the admin token, the KEK or a private key', () => {
    assert.ok(secrets.length >= 6, 'the suites above recorded their secrets');
    const everything = transcript.join('');
    for (const { name, value } of secrets) {
      assert.ok(!everything.includes(value), `the ${name} appeared in CLI output`);
    }
  });
});
