import { closeSync, openSync } from 'node:fs';
import { systemClock, TesseraError, type Clock } from '@tessera/core';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { GENESIS_HASH } from '../audit/chain.ts';
import {
  KyselyStore,
  type AssertionWrite,
  type AuditRow,
  type IssuedSvidRow,
  type SqliteWriteBatch,
} from './kysely-store.ts';
import { migrateStore } from './migrations.ts';
import type { Database } from './schema.ts';
import type { Store } from './types.ts';

export interface SqliteStoreOptions {
  /** Database file, or `':memory:'` for a private in-memory database (tests, one-off runs). */
  readonly path: string;
  /**
   * How long a write waits for another process's write lock before failing. Default 5000 ms.
   * Replay records and audit rows retry every millisecond meanwhile, with the event loop
   * running; other writes (registry, keys, revocations) wait in SQLite's busy handler, which
   * better-sqlite3 runs synchronously, so keep it short.
   */
  readonly busyTimeoutMs?: number;
  /** Judges when a remembered client assertion has expired. Default: the system clock. */
  readonly clock?: Clock;
  /**
   * `normal` (default): in WAL mode SQLite syncs at checkpoints, not at every commit. A crashed
   * process loses nothing; a power loss or kernel panic can lose the last commits (replay
   * records and audit entries of the final moments), never the database's consistency.
   * `full`: sync at every commit (measured here at about half the token throughput).
   */
  readonly durability?: 'normal' | 'full';
}

/**
 * Creates the database file readable by its owner only: it holds the encrypted signing keys,
 * the registry and the audit log. SQLite gives the `-wal` and `-shm` files the same mode.
 * An existing file is left as it is.
 */
function createPrivateFile(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

function openDatabase(
  path: string,
  busyTimeoutMs: number,
  durability: 'normal' | 'full',
): BetterSqlite3.Database {
  if (path !== ':memory:') createPrivateFile(path);
  const sqlite = new BetterSqlite3(path, { timeout: busyTimeoutMs });
  try {
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma(`busy_timeout = ${busyTimeoutMs}`);
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`);
    return sqlite;
  } catch (error) {
    sqlite.close();
    throw error;
  }
}

/** Distinct SQL texts kept prepared; the store issues a few dozen, so this is never reached. */
const MAX_CACHED_STATEMENTS = 256;

/**
 * Kysely's SQLite driver prepares every statement again on every query; that was 12 % of the
 * token endpoint's CPU profile. better-sqlite3 statements are reusable (and, being synchronous,
 * never in use twice at once), so keep them by SQL text.
 */
function withStatementCache(sqlite: BetterSqlite3.Database): BetterSqlite3.Database {
  const statements = new Map<string, BetterSqlite3.Statement>();
  return new Proxy(sqlite, {
    get(target, property, receiver) {
      if (property !== 'prepare') {
        const value: unknown = Reflect.get(target, property, receiver);
        // Native methods must run on the real database object, not the proxy.
        return typeof value === 'function'
          ? (value as (...a: unknown[]) => unknown).bind(target)
          : value;
      }
      return (sql: string) => {
        let statement = statements.get(sql);
        if (statement === undefined) {
          statement = target.prepare(sql);
          if (statements.size >= MAX_CACHED_STATEMENTS) statements.clear();
          statements.set(sql, statement);
        }
        return statement;
      };
    },
  });
}

/**
 * Runs one batch of the token endpoint's writes (see `KyselyStoreDeps.sqliteWriteBatch`) in a
 * single synchronous BEGIN IMMEDIATE transaction: the replay records first, each decided by the
 * same conditional upsert as the Kysely path, then the audit rows chained onto the last record.
 */
function sqliteWriteBatcher(
  sqlite: BetterSqlite3.Database,
  busyTimeoutMs: number,
): SqliteWriteBatch {
  const upsert = sqlite.prepare<[string, number, number], { key: string }>(
    'insert into used_assertions (key, expires_at) values (?, ?) on conflict (key) do update set expires_at = excluded.expires_at where used_assertions.expires_at <= ? returning key',
  );
  const last = sqlite.prepare<[], { seq: number | bigint; hash: string }>(
    'select seq, hash from audit_log order by seq desc limit 1',
  );
  const insert = sqlite.prepare(
    'insert into audit_log (seq, at_ms, type, actor, data, prev_hash, hash) values (@seq, @at_ms, @type, @actor, @data, @prev_hash, @hash)',
  );
  const insertSvid = sqlite.prepare<[IssuedSvidRow]>(
    'insert into issued_svids (serial_number, ca_id, service_name, spiffe_id, issued_at_ms, not_after_ms, revoked_at_ms) values (@serial_number, @ca_id, @service_name, @spiffe_id, @issued_at_ms, @not_after_ms, @revoked_at_ms)',
  );
  const write = sqlite.transaction(
    (
      assertions: readonly AssertionWrite[],
      audit: ((lastSeq: number, lastHash: string) => AuditRow[]) | undefined,
      svids: readonly IssuedSvidRow[],
    ): boolean[] => {
      const fresh = assertions.map(
        (a) => upsert.get(a.key, a.expiresAt, a.nowSeconds) !== undefined,
      );
      for (const row of svids) insertSvid.run(row);
      if (audit !== undefined) {
        const row = last.get();
        for (const r of audit(row === undefined ? 0 : Number(row.seq), row?.hash ?? GENESIS_HASH)) {
          insert.run(r);
        }
      }
      return fresh;
    },
  );
  // While another process (a cluster worker) commits, BEGIN IMMEDIATE would wait in SQLite's busy
  // handler, which sleeps 1, 2, 5, 10... ms with the event loop stopped. The batch asks once, and
  // the store retries it later while this process goes on serving requests. (This pragma acts
  // when it is prepared, so it cannot be kept as a prepared statement.)
  return (assertions, audit, svids) => {
    sqlite.pragma('busy_timeout = 0');
    try {
      return write.immediate(assertions, audit, svids);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'SQLITE_BUSY') return undefined;
      throw error;
    } finally {
      sqlite.pragma(`busy_timeout = ${busyTimeoutMs}`);
    }
  };
}

/**
 * Opens (creating if needed) the embedded SQLite store, the default for an authority on one
 * machine (one process, or the workers of `--workers N` sharing the file), and brings its
 * schema up to date. WAL journal mode lets readers (`/readyz`, the
 * revocation feed, `tessera audit-log verify` from another process) run beside the writer.
 * Open one store per database file per process.
 *
 * @example
 * ```ts
 * const store = await openSqliteStore({ path: '.tessera/tessera.db' });
 * ```
 */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  const { path } = options;
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  if (typeof path !== 'string' || path === '') {
    throw new TesseraError('ERR_CONFIG_INVALID', 'SQLite store path must be a non-empty string');
  }
  if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0 || busyTimeoutMs > 60_000) {
    throw new TesseraError('ERR_CONFIG_INVALID', 'SQLite busyTimeoutMs must be 0 to 60000');
  }

  let sqlite: BetterSqlite3.Database;
  try {
    sqlite = openDatabase(path, busyTimeoutMs, options.durability ?? 'normal');
  } catch (error) {
    throw new TesseraError('ERR_CONFIG_INVALID', `cannot open SQLite store at ${path}`, {
      cause: error,
    });
  }

  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: withStatementCache(sqlite) }),
  });
  try {
    await migrateStore(db, 'sqlite');
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return new KyselyStore({
    db,
    dialect: 'sqlite',
    clock: options.clock ?? systemClock,
    sqliteWriteBatch: sqliteWriteBatcher(sqlite, busyTimeoutMs),
    writeLockTimeoutMs: busyTimeoutMs,
  });
}
