import { systemClock, TesseraError, type Clock } from '@tessera/core';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { KyselyStore } from './kysely-store.ts';
import { migrateStore } from './migrations.ts';
import type { Database } from './schema.ts';
import type { Store } from './types.ts';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`; it is never put into errors or logs. */
  readonly connectionString: string;
  /** Most connections this instance holds. Default 10. */
  readonly poolSize?: number;
  /** Longest wait for a connection, and for any one statement (including lock waits). Default 30 000 ms. */
  readonly timeoutMs?: number;
  /** Judges when a remembered client assertion has expired. Default: the system clock. */
  readonly clock?: Clock;
}

function parseInt8(text: string): number | string {
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : text;
}

/**
 * int8 columns (times, seq, revocation ids) as numbers, for this pool only (`pg.types` is
 * process-wide and other code may rely on its string default). A value a number cannot hold
 * exactly stays a string and is refused when read.
 */
const int8AsNumber: pg.CustomTypesConfig = {
  getTypeParser: (oid, format) => {
    if (oid === pg.types.builtins.INT8 && format !== 'binary') return parseInt8;
    const parser: unknown = pg.types.getTypeParser(oid, format);
    return parser;
  },
};

/**
 * Opens the PostgreSQL store for highly available authorities (several instances, one
 * database) and brings its schema up to date; instances starting together migrate once.
 *
 * @example
 * ```ts
 * const store = await openPostgresStore({ connectionString: secrets.databaseUrl, poolSize: 20 });
 * ```
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  const { connectionString } = options;
  const poolSize = options.poolSize ?? 10;
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (typeof connectionString !== 'string' || connectionString === '') {
    throw new TesseraError(
      'ERR_CONFIG_INVALID',
      'PostgreSQL connectionString must be a non-empty string',
    );
  }
  if (!Number.isSafeInteger(poolSize) || poolSize < 1 || poolSize > 1000) {
    throw new TesseraError('ERR_CONFIG_INVALID', 'PostgreSQL poolSize must be 1 to 1000');
  }
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 600_000) {
    throw new TesseraError('ERR_CONFIG_INVALID', 'PostgreSQL timeoutMs must be 100 to 600000');
  }

  const pool = new pg.Pool({
    connectionString,
    max: poolSize,
    connectionTimeoutMillis: timeoutMs,
    statement_timeout: timeoutMs,
    types: int8AsNumber,
  });
  // An idle connection that breaks (server restart, failover) is dropped by the pool and the
  // next query opens a new one; without a listener the 'error' event would end the process.
  // Outages still surface: queries fail and `ping()` (behind /readyz) throws.
  pool.on('error', () => undefined);

  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    await migrateStore(db, 'postgres');
  } catch (error) {
    await db.destroy();
    if (error instanceof TesseraError) throw error;
    throw new TesseraError('ERR_CONFIG_INVALID', 'cannot open PostgreSQL store', {
      cause: error,
    });
  }
  return new KyselyStore({ db, dialect: 'postgres', clock: options.clock ?? systemClock });
}
