import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { appendFile, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from '../../src/testing/free-port.ts';

/**
 * A real, throwaway PostgreSQL for tests: a server from the Debian `postgresql` package started
 * in a temporary directory on 127.0.0.1 (or, with `TESSERA_TEST_PG_URL`, an existing server).
 *
 * @example
 * ```ts
 * describe('PostgreSQL', { skip: postgresSkipReason() ?? false }, () => {
 *   let pg: TestPostgres | undefined;
 *   before(async () => { pg = await startTestPostgres(); });
 *   after(() => pg?.stop());
 *   it('works', async () => { const store = await openPostgresStore({ connectionString: pg!.connectionString }); ... });
 * });
 * ```
 */
export interface TestPostgres {
  /** A fresh database, created for this harness. */
  readonly connectionString: string;
  /** Creates another fresh database on the same server and returns its connection string. */
  createDatabase(): Promise<string>;
  /** Stops the server (or drops the databases created on an external one) and cleans up. */
  stop(): Promise<void>;
}

const URL_ENV = 'TESSERA_TEST_PG_URL';
const POSTGRES_ROOT = '/usr/lib/postgresql';
/** pg_ctl's own readiness poll; the process timeout around it adds a margin. */
const STARTUP_TIMEOUT_S = 30;
const COMMAND_TIMEOUT_MS = 60_000;
const ADMIN_TIMEOUT_MS = 10_000;

const HOW_TO_ENABLE =
  `install the Debian package (apt-get install postgresql) or set ${URL_ENV}=` +
  'postgres://user:password@host:port/database (a database is created and dropped per suite)';

const execFileAsync = promisify(execFile);

/** The newest `/usr/lib/postgresql/<version>/bin` that has the server programs. */
function findPostgresBin(): string | undefined {
  if (!existsSync(POSTGRES_ROOT)) return undefined;
  const versions = readdirSync(POSTGRES_ROOT)
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const bin = join(POSTGRES_ROOT, version, 'bin');
    if (['initdb', 'pg_ctl', 'postgres'].every((tool) => existsSync(join(bin, tool)))) return bin;
  }
  return undefined;
}

/**
 * Why the PostgreSQL tests cannot run here, or undefined when they can. In CI (`CI=true`) it is
 * always undefined: CI must test PostgreSQL, so there {@link startTestPostgres} fails instead.
 */
export function postgresSkipReason(): string | undefined {
  if (process.env[URL_ENV] !== undefined && process.env[URL_ENV] !== '') return undefined;
  if (findPostgresBin() !== undefined || process.env.CI === 'true') return undefined;
  return `no PostgreSQL server binaries under ${POSTGRES_ROOT}/*/bin: ${HOW_TO_ENABLE}`;
}

function databaseName(): string {
  return `tessera_test_${randomBytes(6).toString('hex')}`;
}

function withDatabase(connectionString: string, database: string): string {
  const url = new URL(connectionString);
  url.pathname = `/${database}`;
  return url.toString();
}

async function adminQuery(connectionString: string, statement: string): Promise<void> {
  const client = new pg.Client({
    connectionString,
    connectionTimeoutMillis: ADMIN_TIMEOUT_MS,
    statement_timeout: ADMIN_TIMEOUT_MS,
  });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

async function useExternalServer(adminUrl: string): Promise<TestPostgres> {
  try {
    new URL(adminUrl);
  } catch {
    throw new Error(`${URL_ENV} must be a postgres:// URL`);
  }
  const created: string[] = [];
  const createDatabase = async (): Promise<string> => {
    const name = databaseName();
    await adminQuery(adminUrl, `CREATE DATABASE "${name}"`);
    created.push(name);
    return withDatabase(adminUrl, name);
  };
  const connectionString = await createDatabase();
  let stopped = false;
  return {
    connectionString,
    createDatabase,
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const name of created.splice(0)) {
        await adminQuery(adminUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      }
    },
  };
}

async function postgresUser(): Promise<{ uid: number; gid: number }> {
  try {
    const uid = await execFileAsync('id', ['-u', 'postgres'], { timeout: ADMIN_TIMEOUT_MS });
    const gid = await execFileAsync('id', ['-g', 'postgres'], { timeout: ADMIN_TIMEOUT_MS });
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch (error) {
    throw new Error(
      'running as root, and initdb refuses root: the `postgres` system user (from the Debian ' +
        'package) is needed to run the test server',
      { cause: error },
    );
  }
}

function tail(text: string, lines = 20): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * Reads the postmaster's pid and sends it `signal` (SIGQUIT: immediate shutdown, the postmaster
 * takes its children down with it). For when pg_ctl could not stop the server, or the test
 * process is exiting without having run its `after` hooks.
 */
function signalPostmaster(dataDir: string, signal: NodeJS.Signals): void {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (Number.isSafeInteger(pid) && pid > 0) process.kill(pid, signal);
  } catch {
    // No pid file or no such process: nothing is running.
  }
}

async function startLocalServer(bin: string): Promise<TestPostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const asRoot = process.getuid?.() === 0;

  const run = async (tool: string, args: string[]): Promise<void> => {
    const command = join(bin, tool);
    const [file, argv] = asRoot
      ? ['runuser', ['-u', 'postgres', '--', command, ...args]]
      : [command, args];
    await execFileAsync(file, argv, { cwd: dir, timeout: COMMAND_TIMEOUT_MS });
  };

  const emergencyStop = (): void => {
    signalPostmaster(dataDir, 'SIGQUIT');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', emergencyStop);

  const password = randomBytes(24).toString('hex');
  let port = 0;
  try {
    const passwordFile = join(dir, 'password');
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    if (asRoot) {
      const { uid, gid } = await postgresUser();
      await chown(dir, uid, gid);
      await chown(passwordFile, uid, gid);
    }
    await run('initdb', [
      '--pgdata',
      dataDir,
      '--username',
      'tessera',
      '--pwfile',
      passwordFile,
      '--auth',
      'scram-sha-256',
      '--encoding',
      'UTF8',
      '--locale',
      'C',
      '--no-sync',
    ]);
    await rm(passwordFile);

    // Loopback TCP only, the socket in our own directory, and durability off: it is thrown away.
    const settings = [
      `listen_addresses = '127.0.0.1'`,
      `unix_socket_directories = '${dir}'`,
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
    ];
    await appendFile(join(dataDir, 'postgresql.conf'), `\n${settings.join('\n')}\n`);

    // Another process may take the free port before the server binds it: try a few.
    for (let attempt = 1; ; attempt += 1) {
      port = await freePort();
      await appendFile(join(dataDir, 'postgresql.conf'), `port = ${port}\n`);
      try {
        await run('pg_ctl', [
          'start',
          '--pgdata',
          dataDir,
          '--log',
          logFile,
          '--wait',
          '--timeout',
          String(STARTUP_TIMEOUT_S),
        ]);
        break;
      } catch (error) {
        const log = await readFile(logFile, 'utf8').catch(() => '');
        if (attempt < 3 && /could not bind|Address already in use/i.test(log)) continue;
        throw new Error(`PostgreSQL did not start:\n${tail(log)}`, { cause: error });
      }
    }
  } catch (error) {
    emergencyStop();
    process.removeListener('exit', emergencyStop);
    throw error;
  }

  const adminUrl = `postgres://tessera:${password}@127.0.0.1:${port}/postgres`;
  const createDatabase = async (): Promise<string> => {
    const name = databaseName();
    await adminQuery(adminUrl, `CREATE DATABASE "${name}"`);
    return withDatabase(adminUrl, name);
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      try {
        await run('pg_ctl', [
          'stop',
          '--pgdata',
          dataDir,
          '--mode',
          'fast',
          '--wait',
          '--timeout',
          String(STARTUP_TIMEOUT_S),
        ]);
      } catch {
        signalPostmaster(dataDir, 'SIGQUIT');
      }
      process.removeListener('exit', emergencyStop);
      await rm(dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  try {
    return { connectionString: await createDatabase(), createDatabase, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Starts a throwaway PostgreSQL server (or connects to `TESSERA_TEST_PG_URL`) and creates a fresh
 * database in it. Always pair with `stop()` in an `after` hook. Fails, naming what is missing,
 * when neither is available: use {@link postgresSkipReason} to skip instead outside CI.
 */
export async function startTestPostgres(): Promise<TestPostgres> {
  const url = process.env[URL_ENV];
  if (url !== undefined && url !== '') return useExternalServer(url);
  const bin = findPostgresBin();
  if (bin === undefined) {
    throw new Error(
      `PostgreSQL is required here (CI=${process.env.CI ?? ''}) but there are no server binaries ` +
        `under ${POSTGRES_ROOT}/*/bin and ${URL_ENV} is not set: ${HOW_TO_ENABLE}`,
    );
  }
  return startLocalServer(bin);
}
