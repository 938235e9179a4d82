import { TesseraError } from '@tessera/core';
import {
  Migrator,
  sql,
  type Kysely,
  type Migration,
  type MigrationProvider,
  type CreateTableBuilder,
} from 'kysely';
import type { Database } from './schema.ts';
import type { Store } from './types.ts';

export type StoreDialect = Store['dialect'];

/**
 * The revocation cursor must never be reused: a verifier that has seen id 41 asks for `since=41`
 * and would silently miss a new entry that got id 41 again. SQLite reuses the highest rowid
 * after a delete (and `purgeExpired` deletes the newest entries too) unless the column is
 * AUTOINCREMENT; PostgreSQL identity columns never go back.
 */
function withCursorColumn<T extends string>(
  table: CreateTableBuilder<T>,
  dialect: StoreDialect,
): CreateTableBuilder<T, 'id'> {
  return dialect === 'sqlite'
    ? table.addColumn('id', 'integer', (col) => col.primaryKey().autoIncrement())
    : table.addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity());
}

/**
 * Replaces the revocations table's kind CHECK constraint. SQLite cannot alter a CHECK constraint,
 * so there the table is rebuilt, keeping every id and the AUTOINCREMENT high-water mark (see
 * withCursorColumn: an id handed out once must never come back).
 */
async function allowRevocationKinds(
  db: Kysely<unknown>,
  dialect: StoreDialect,
  kinds: readonly string[],
): Promise<void> {
  const allowed = sql.join(kinds.map((kind) => sql.lit(kind)));
  if (dialect === 'postgres') {
    await sql`alter table revocations drop constraint revocations_kind_check`.execute(db);
    await sql`alter table revocations add constraint revocations_kind_check check (kind in (${allowed}))`.execute(
      db,
    );
    return;
  }
  const highest = await sql<{
    seq: number;
  }>`select seq from sqlite_sequence where name = 'revocations'`.execute(db);
  await withCursorColumn(db.schema.createTable('revocations_rebuilt'), dialect)
    .addColumn('kind', 'text', (col) => col.notNull())
    .addColumn('value', 'text', (col) => col.notNull())
    .addColumn('issued_at_or_before', 'bigint')
    .addColumn('expires_at', 'bigint', (col) => col.notNull())
    .addColumn('created_at_ms', 'bigint', (col) => col.notNull())
    .addCheckConstraint('revocations_kind_check', sql`kind in (${allowed})`)
    .execute();
  await sql`insert into revocations_rebuilt (id, kind, value, issued_at_or_before, expires_at, created_at_ms)
    select id, kind, value, issued_at_or_before, expires_at, created_at_ms from revocations`.execute(
    db,
  );
  await db.schema.dropTable('revocations').execute();
  await db.schema.alterTable('revocations_rebuilt').renameTo('revocations').execute();
  await db.schema
    .createIndex('revocations_expires_at_idx')
    .on('revocations')
    .column('expires_at')
    .execute();
  const seq = highest.rows[0]?.seq;
  if (seq !== undefined) {
    await sql`delete from sqlite_sequence where name = 'revocations'`.execute(db);
    await sql`insert into sqlite_sequence (name, seq) values ('revocations', ${seq})`.execute(db);
  }
}

/**
 * The store's schema history, one migration per step, shared by both dialects. Append new steps;
 * never edit one that has shipped.
 */
export function storeMigrations(dialect: StoreDialect): Readonly<Record<string, Migration>> {
  return {
    '0001_initial': {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .createTable('services')
          .addColumn('name', 'text', (col) => col.primaryKey())
          .addColumn('spiffe_id', 'text', (col) => col.notNull())
          .addColumn('enabled', 'integer', (col) => col.notNull())
          .addColumn('audiences', 'text', (col) => col.notNull())
          .addColumn('scopes', 'text', (col) => col.notNull())
          .addColumn('jwks', 'text', (col) => col.notNull())
          .addColumn('created_at_ms', 'bigint', (col) => col.notNull())
          .addColumn('updated_at_ms', 'bigint', (col) => col.notNull())
          .addCheckConstraint('services_enabled_check', sql`enabled in (0, 1)`)
          .execute();

        await db.schema
          .createTable('signing_keys')
          .addColumn('kid', 'text', (col) => col.primaryKey())
          .addColumn('alg', 'text', (col) => col.notNull())
          .addColumn('state', 'text', (col) => col.notNull())
          .addColumn('public_jwk', 'text', (col) => col.notNull())
          .addColumn('encrypted_private_key', 'text', (col) => col.notNull())
          .addColumn('created_at_ms', 'bigint', (col) => col.notNull())
          .addColumn('activates_at_ms', 'bigint', (col) => col.notNull())
          .addColumn('retired_at_ms', 'bigint')
          .addColumn('publish_until_ms', 'bigint')
          .addCheckConstraint(
            'signing_keys_state_check',
            sql`state in ('next', 'active', 'retired', 'revoked')`,
          )
          .execute();

        await db.schema
          .createTable('used_assertions')
          .addColumn('key', 'text', (col) => col.primaryKey())
          .addColumn('expires_at', 'bigint', (col) => col.notNull())
          .execute();
        await db.schema
          .createIndex('used_assertions_expires_at_idx')
          .on('used_assertions')
          .column('expires_at')
          .execute();

        await withCursorColumn(db.schema.createTable('revocations'), dialect)
          .addColumn('kind', 'text', (col) => col.notNull())
          .addColumn('value', 'text', (col) => col.notNull())
          .addColumn('issued_at_or_before', 'bigint')
          .addColumn('expires_at', 'bigint', (col) => col.notNull())
          .addColumn('created_at_ms', 'bigint', (col) => col.notNull())
          .addCheckConstraint('revocations_kind_check', sql`kind in ('jti', 'subject')`)
          .execute();
        await db.schema
          .createIndex('revocations_expires_at_idx')
          .on('revocations')
          .column('expires_at')
          .execute();

        await db.schema
          .createTable('join_tokens')
          .addColumn('id', 'text', (col) => col.primaryKey())
          .addColumn('token_hash', 'text', (col) => col.notNull().unique())
          .addColumn('service_name', 'text', (col) => col.notNull())
          .addColumn('created_at_ms', 'bigint', (col) => col.notNull())
          .addColumn('expires_at_ms', 'bigint', (col) => col.notNull())
          .addColumn('used_at_ms', 'bigint')
          .execute();
        await db.schema
          .createIndex('join_tokens_expires_at_ms_idx')
          .on('join_tokens')
          .column('expires_at_ms')
          .execute();

        await db.schema
          .createTable('audit_log')
          .addColumn('seq', 'bigint', (col) => col.primaryKey())
          .addColumn('at_ms', 'bigint', (col) => col.notNull())
          .addColumn('type', 'text', (col) => col.notNull())
          .addColumn('actor', 'text', (col) => col.notNull())
          .addColumn('data', 'text', (col) => col.notNull())
          .addColumn('prev_hash', 'text', (col) => col.notNull())
          .addColumn('hash', 'text', (col) => col.notNull())
          .addCheckConstraint('audit_log_seq_check', sql`seq >= 1`)
          .execute();
      },
    },
    // Emergency key withdrawal travels on the revocation feed (review finding 5): a `kid` entry
    // says "tokens signed by this key are void", for as long as any of them could still be valid.
    '0002_revocation_kind_kid': {
      async up(db: Kysely<unknown>): Promise<void> {
        if (dialect === 'postgres') {
          await sql`alter table revocations drop constraint revocations_kind_check`.execute(db);
          await sql`alter table revocations add constraint revocations_kind_check check (kind in ('jti', 'subject', 'kid'))`.execute(
            db,
          );
          return;
        }
        // SQLite cannot change a CHECK constraint: rebuild the table, keeping every id and the
        // AUTOINCREMENT high-water mark, which can lie above the highest id left (see
        // withCursorColumn: an id handed out once must never come back).
        const highest = await sql<{
          seq: number;
        }>`select seq from sqlite_sequence where name = 'revocations'`.execute(db);
        await withCursorColumn(db.schema.createTable('revocations_0002'), dialect)
          .addColumn('kind', 'text', (col) => col.notNull())
          .addColumn('value', 'text', (col) => col.notNull())
          .addColumn('issued_at_or_before', 'bigint')
          .addColumn('expires_at', 'bigint', (col) => col.notNull())
          .addColumn('created_at_ms', 'bigint', (col) => col.notNull())
          .addCheckConstraint('revocations_kind_check', sql`kind in ('jti', 'subject', 'kid')`)
          .execute();
        await sql`insert into revocations_0002 (id, kind, value, issued_at_or_before, expires_at, created_at_ms)
          select id, kind, value, issued_at_or_before, expires_at, created_at_ms from revocations`.execute(
          db,
        );
        await db.schema.dropTable('revocations').execute();
        await db.schema.alterTable('revocations_0002').renameTo('revocations').execute();
        await db.schema
          .createIndex('revocations_expires_at_idx')
          .on('revocations')
          .column('expires_at')
          .execute();
        const seq = highest.rows[0]?.seq;
        if (seq !== undefined) {
          await sql`delete from sqlite_sequence where name = 'revocations'`.execute(db);
          await sql`insert into sqlite_sequence (name, seq) values ('revocations', ${seq})`.execute(
            db,
          );
        }
      },
    },
    // Review finding 8: scopes were granted per service, so a scope meant for one audience could
    // be asked for in a token to any other. Grants are now per audience; an existing service
    // keeps exactly what it could ask for before: its flat scopes, for each of its audiences.
    '0003_service_grants': {
      async up(db: Kysely<unknown>): Promise<void> {
        const services = db as unknown as Kysely<{
          services: { name: string; audiences: string; scopes: string; grants: string };
        }>;
        await db.schema
          .alterTable('services')
          .addColumn('grants', 'text', (col) => col.notNull().defaultTo('[]'))
          .execute();
        const rows = await services
          .selectFrom('services')
          .select(['name', 'audiences', 'scopes'])
          .execute();
        for (const row of rows) {
          const scopes = JSON.parse(row.scopes) as string[];
          const grants = (JSON.parse(row.audiences) as string[]).map((audience) => ({
            audience,
            scopes,
          }));
          await services
            .updateTable('services')
            .set({ grants: JSON.stringify(grants) })
            .where('name', '=', row.name)
            .execute();
        }
        await db.schema.alterTable('services').dropColumn('audiences').execute();
        await db.schema.alterTable('services').dropColumn('scopes').execute();
      },
    },
    // Issue 13: the authority is the trust domain's CA. Its CA keys (encrypted like the signing
    // keys), the serials it issued (revocation, CRL, and how long a retired CA stays in the
    // bundle), the bundle's sequence number, and host SANs per service.
    '0004_certificate_authority': {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .alterTable('services')
          .addColumn('hosts', 'text', (col) => col.notNull().defaultTo('[]'))
          .execute();
        await db.schema
          .createTable('certificate_authorities')
          .addColumn('id', 'text', (col) => col.primaryKey())
          .addColumn('state', 'text', (col) => col.notNull())
          .addColumn('certificate_pem', 'text', (col) => col.notNull())
          .addColumn('parents_pem', 'text', (col) => col.notNull())
          .addColumn('encrypted_private_key', 'text', (col) => col.notNull())
          .addColumn('not_before_ms', 'bigint', (col) => col.notNull())
          .addColumn('not_after_ms', 'bigint', (col) => col.notNull())
          .addColumn('created_at_ms', 'bigint', (col) => col.notNull())
          .addColumn('activates_at_ms', 'bigint', (col) => col.notNull())
          .addColumn('retired_at_ms', 'bigint')
          .addColumn('publish_until_ms', 'bigint')
          .addCheckConstraint(
            'certificate_authorities_state_check',
            sql`state in ('next', 'active', 'retired')`,
          )
          .execute();
        await db.schema
          .createTable('issued_svids')
          .addColumn('serial_number', 'text', (col) => col.primaryKey())
          .addColumn('ca_id', 'text', (col) => col.notNull())
          .addColumn('service_name', 'text', (col) => col.notNull())
          .addColumn('spiffe_id', 'text', (col) => col.notNull())
          .addColumn('issued_at_ms', 'bigint', (col) => col.notNull())
          .addColumn('not_after_ms', 'bigint', (col) => col.notNull())
          .addColumn('revoked_at_ms', 'bigint')
          .execute();
        await db.schema
          .createIndex('issued_svids_ca_id_not_after_ms_idx')
          .on('issued_svids')
          .columns(['ca_id', 'not_after_ms'])
          .execute();
        await db.schema
          .createIndex('issued_svids_not_after_ms_idx')
          .on('issued_svids')
          .column('not_after_ms')
          .execute();
        await db.schema
          .createTable('bundle_sequence')
          .addColumn('id', 'integer', (col) => col.primaryKey())
          .addColumn('sequence', 'bigint', (col) => col.notNull())
          .addColumn('digest', 'text', (col) => col.notNull())
          .addCheckConstraint('bundle_sequence_single_row', sql`id = 1`)
          .execute();
        await allowRevocationKinds(db, dialect, ['jti', 'subject', 'kid', 'svid']);
      },
    },
    // Issue 13: a service may be held to one client authentication method (tls_client_auth over
    // mTLS, or private_key_jwt), and, as an audience, require certificate-bound tokens.
    '0005_service_client_auth': {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .alterTable('services')
          .addColumn('token_endpoint_auth_method', 'text')
          .execute();
        await db.schema
          .alterTable('services')
          .addColumn('bound_tokens', 'integer', (col) => col.notNull().defaultTo(0))
          .execute();
      },
    },
  };
}

/** Serves {@link storeMigrations} to Kysely's `Migrator` from code, so nothing is read from disk. */
export class StoreMigrationProvider implements MigrationProvider {
  readonly #dialect: StoreDialect;

  constructor(dialect: StoreDialect) {
    this.#dialect = dialect;
  }

  getMigrations(): Promise<Record<string, Migration>> {
    return Promise.resolve({ ...storeMigrations(this.#dialect) });
  }
}

/**
 * Brings the schema up to date, skipping steps already applied. On PostgreSQL several authority
 * instances may run it at once: Kysely's migrator serialises them with an advisory lock.
 * Fails with `ERR_CONFIG_INVALID` when the database cannot be migrated, for example because a
 * newer Tessera already applied steps this one does not know.
 */
export async function migrateStore(db: Kysely<Database>, dialect: StoreDialect): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: new StoreMigrationProvider(dialect),
    migrationTableName: 'tessera_migration',
    migrationLockTableName: 'tessera_migration_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((result) => result.status === 'Error')?.migrationName;
    throw new TesseraError(
      'ERR_CONFIG_INVALID',
      failed === undefined ? 'store migration failed' : `store migration ${failed} failed`,
      { cause: error },
    );
  }
}
