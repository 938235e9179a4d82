import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { isTesseraError } from '@tessera/core';
import { ManualClock } from '@tessera/core/testing';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, sql, SqliteDialect, type Dialect } from 'kysely';
import pg from 'pg';
import {
  auditHash,
  auditHashOfCanonicalData,
  canonicalJson,
  GENESIS_HASH,
  verifyAuditChain,
  verifyStoreAuditChain,
  type AuditChainVerdict,
} from '../src/audit/chain.ts';
import { storeMigrations, type StoreDialect } from '../src/store/migrations.ts';
import { openPostgresStore } from '../src/store/postgres.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';
import type { AuditRecord, Store } from '../src/store/types.ts';
import { storeContract } from '../src/testing/index.ts';
import { postgresSkipReason, startTestPostgres, type TestPostgres } from './support/postgres.ts';

const START_MS = 1_795_435_200_000;

/** A chain of `length` records built in memory, as a store would append them. */
function buildChain(length: number): AuditRecord[] {
  const records: AuditRecord[] = [];
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= length; seq += 1) {
    const entry = {
      seq,
      atMs: START_MS + seq,
      type: 'token.issued',
      actor: 'system',
      data: { seq },
    };
    const hash = auditHash(prevHash, entry);
    records.push({ ...entry, prevHash, hash });
    prevHash = hash;
  }
  return records;
}

const isConfigError = (error: unknown): boolean =>
  isTesseraError(error) && error.code === 'ERR_CONFIG_INVALID';

void describe('audit chain', () => {
  void it('hashes the append path (canonical data text) exactly as the whole-record canonical JSON', () => {
    const rows = [
      { seq: 1, atMs: START_MS, type: 'token.issued', actor: 'spiffe://tessera.local/a', data: {} },
      {
        seq: 42,
        atMs: START_MS + 0.5,
        type: 'weird "type"\n',
        actor: 'é\u2028',
        data: { z: [1, { b: null, a: 'x' }], a: -0, '': true },
      },
    ];
    for (const record of rows) {
      const whole = createHash('sha256')
        .update(`${GENESIS_HASH}\n${canonicalJson(record)}`, 'utf8')
        .digest('hex');
      assert.equal(
        auditHashOfCanonicalData(GENESIS_HASH, record, canonicalJson(record.data)),
        whole,
      );
      assert.equal(auditHash(GENESIS_HASH, record), whole);
    }
  });

  void it('serialises JSON canonically: keys sorted at every depth, no whitespace', () => {
    assert.equal(
      canonicalJson({ b: [3, { z: 1, a: null }], a: 'é', c: undefined, '': true }),
      '{"":true,"a":"é","b":[3,{"a":null,"z":1}]}',
    );
    assert.equal(canonicalJson({ a: 1, b: 2 }), canonicalJson({ b: 2, a: 1 }));
    // A "__proto__" member is data like any other, not a prototype.
    assert.equal(
      canonicalJson(JSON.parse('{"__proto__":{"y":1,"x":2}}')),
      '{"__proto__":{"x":2,"y":1}}',
    );
    assert.throws(() => canonicalJson(undefined), isConfigError);
  });

  void it('hashes prevHash, a newline and the canonical record (known answer)', () => {
    const expected = createHash('sha256')
      .update(
        `${GENESIS_HASH}\n{"actor":"admin","atMs":1795435200000,"data":{"a":[1,{"b":"票"}],"z":0},"seq":1,"type":"service.registered"}`,
      )
      .digest('hex');
    assert.equal(
      auditHash(GENESIS_HASH, {
        type: 'service.registered',
        seq: 1,
        data: { z: 0, a: [1, { b: '票' }] },
        atMs: START_MS,
        actor: 'admin',
      }),
      expected,
    );
    assert.equal(GENESIS_HASH, '0'.repeat(64));
  });

  const chain = buildChain(6);
  const [r1, r2, r3, r4, r5, r6] = chain as [
    AuditRecord,
    AuditRecord,
    AuditRecord,
    AuditRecord,
    AuditRecord,
    AuditRecord,
  ];
  const cases: { name: string; records: AuditRecord[]; verdict: AuditChainVerdict }[] = [
    { name: 'an intact chain', records: chain, verdict: { ok: true, count: 6 } },
    { name: 'an empty log', records: [], verdict: { ok: true, count: 0 } },
    {
      name: 'altered data',
      records: [r1, r2, { ...r3, data: { seq: 99 } }, r4],
      verdict: { ok: false, seq: 3, reason: 'altered' },
    },
    {
      name: 'an altered hash',
      records: [r1, { ...r2, hash: r3.hash }, r3],
      verdict: { ok: false, seq: 2, reason: 'altered' },
    },
    {
      name: 'a missing record',
      records: [r1, r2, r4, r5],
      verdict: { ok: false, seq: 3, reason: 'missing' },
    },
    {
      name: 'a missing first record',
      records: [r2, r3],
      verdict: { ok: false, seq: 1, reason: 'missing' },
    },
    {
      name: 'a missing last record before the end',
      records: [r1, r2, r3, r4, r6],
      verdict: { ok: false, seq: 5, reason: 'missing' },
    },
    {
      name: 'two records swapped',
      records: [r1, r2, r4, r3, r5, r6],
      verdict: { ok: false, seq: 3, reason: 'reordered' },
    },
    {
      name: 'a record moved far back',
      records: [r1, r5, r2, r3, r4, r6],
      verdict: { ok: false, seq: 2, reason: 'reordered' },
    },
    {
      name: 'a repeated record',
      records: [r1, r2, r2, r3],
      verdict: { ok: false, seq: 2, reason: 'reordered' },
    },
    {
      name: 'a forged record with a recomputed hash',
      records: (() => {
        const forged = { ...r3, data: { seq: 99 } };
        return [r1, r2, { ...forged, hash: auditHash(forged.prevHash, forged) }, r4];
      })(),
      verdict: { ok: false, seq: 4, reason: 'broken-link' },
    },
    {
      name: 'a first record that does not start from the genesis hash',
      records: (() => {
        const first = { ...r1, prevHash: 'f'.repeat(64) };
        return [{ ...first, hash: auditHash(first.prevHash, first) }];
      })(),
      verdict: { ok: false, seq: 1, reason: 'broken-link' },
    },
  ];
  for (const { name, records, verdict } of cases) {
    void it(`verifies ${name}`, async () => {
      assert.deepEqual(await verifyAuditChain(records), verdict);
    });
  }

  void it('reads an async iterable, and stops reading at the first bad record', async () => {
    let read = 0;
    async function* source(): AsyncGenerator<AuditRecord> {
      for (const record of [r1, r2, { ...r3, actor: 'intruder' }, r4, r5, r6]) {
        read += 1;
        await Promise.resolve();
        yield record;
      }
    }
    assert.deepEqual(await verifyAuditChain(source()), { ok: false, seq: 3, reason: 'altered' });
    assert.equal(read, 4);
  });
});

interface TamperTarget {
  readonly store: Store;
  /** Runs SQL directly against the store's database, behind the store's back. */
  exec(statements: string): Promise<void>;
  close(): Promise<void>;
}

/** Direct SQL edits an intruder with database access could make, and what verification says. */
const TAMPERING: readonly {
  name: string;
  /** Retention first: records 1-3 pruned, the checkpoint is record 11. */
  pruned?: true;
  sql: (records: readonly AuditRecord[]) => string;
  verdict: AuditChainVerdict;
}[] = [
  {
    name: 'DELETE of the first record left after pruning',
    pruned: true,
    sql: () => 'DELETE FROM audit_log WHERE seq = 4',
    verdict: { ok: false, seq: 4, reason: 'missing' },
  },
  {
    name: 'DELETE of the retention checkpoint',
    pruned: true,
    sql: () => 'DELETE FROM audit_log WHERE seq = 11',
    verdict: { ok: false, seq: 1, reason: 'missing' },
  },
  {
    name: 'DELETE of more records than were pruned, from the start',
    pruned: true,
    sql: () => 'DELETE FROM audit_log WHERE seq <= 6',
    verdict: { ok: false, seq: 4, reason: 'missing' },
  },
  {
    name: "UPDATE of the checkpoint's pruned hash, with its own hash recomputed",
    pruned: true,
    sql: (records) => {
      const original = records[10];
      assert.ok(original !== undefined);
      const forged = { ...original, data: { ...original.data, prunedThroughHash: 'f'.repeat(64) } };
      const hash = auditHash(forged.prevHash, forged);
      return `UPDATE audit_log SET data = '${canonicalJson(forged.data)}', hash = '${hash}' WHERE seq = 11`;
    },
    verdict: { ok: false, seq: 4, reason: 'broken-link' },
  },
  {
    name: 'UPDATE of the seq the checkpoint says it pruned through',
    pruned: true,
    sql: () =>
      `UPDATE audit_log SET data = replace(data, '"prunedThroughSeq":3', '"prunedThroughSeq":2') WHERE seq = 11`,
    verdict: { ok: false, seq: 11, reason: 'altered' },
  },
  {
    name: "UPDATE of a record's data",
    sql: () => `UPDATE audit_log SET data = '{"i":99}' WHERE seq = 4`,
    verdict: { ok: false, seq: 4, reason: 'altered' },
  },
  {
    name: "UPDATE of a record's time",
    sql: () => 'UPDATE audit_log SET at_ms = at_ms + 1 WHERE seq = 8',
    verdict: { ok: false, seq: 8, reason: 'altered' },
  },
  {
    name: 'DELETE of a middle record',
    sql: () => 'DELETE FROM audit_log WHERE seq = 5',
    verdict: { ok: false, seq: 5, reason: 'missing' },
  },
  {
    name: 'DELETE of the first record',
    sql: () => 'DELETE FROM audit_log WHERE seq = 1',
    verdict: { ok: false, seq: 1, reason: 'missing' },
  },
  {
    // Listing is in seq order, so the swapped rows read as records whose hashed seq was changed.
    name: "swap of two records' seq values",
    sql: () =>
      [
        'UPDATE audit_log SET seq = 1000 WHERE seq = 3',
        'UPDATE audit_log SET seq = 3 WHERE seq = 7',
        'UPDATE audit_log SET seq = 7 WHERE seq = 1000',
      ].join(';\n'),
    verdict: { ok: false, seq: 3, reason: 'altered' },
  },
  {
    name: 'UPDATE of data with the hash recomputed to match',
    sql: (records) => {
      const original = records[5];
      assert.ok(original !== undefined);
      const forged = { ...original, data: { i: 99 } };
      const hash = auditHash(forged.prevHash, forged);
      return `UPDATE audit_log SET data = '{"i":99}', hash = '${hash}' WHERE seq = 6`;
    },
    verdict: { ok: false, seq: 7, reason: 'broken-link' },
  },
];

function auditTamperSuite(name: string, openTarget: () => Promise<TamperTarget>): void {
  void describe(`audit log tampering is detected: ${name}`, () => {
    for (const tampering of TAMPERING) {
      void it(`names the first affected record after ${tampering.name}`, async () => {
        const target = await openTarget();
        try {
          const records: AuditRecord[] = [];
          for (let i = 1; i <= 10; i += 1) {
            records.push(
              await target.store.appendAudit({
                atMs: START_MS + i,
                type: 'token.issued',
                actor: 'spiffe://tessera.local/billing',
                data: { i },
              }),
            );
          }
          assert.deepEqual(await verifyStoreAuditChain(target.store), { ok: true, count: 10 });
          if (tampering.pruned === true) {
            const checkpoint = await target.store.pruneAudit(START_MS + 4, START_MS + 20);
            assert.ok(checkpoint !== undefined);
            records.push(checkpoint);
            assert.deepEqual(await verifyStoreAuditChain(target.store), { ok: true, count: 8 });
          }
          await target.exec(tampering.sql(records));
          assert.deepEqual(
            await verifyStoreAuditChain(target.store, { pageSize: 3 }),
            tampering.verdict,
          );
        } finally {
          await target.close();
        }
      });
    }
  });
}

/**
 * Migration 0003 (review finding 8) against a store written by the first schema: each service's
 * flat scopes become a grant for each of its audiences, so nothing it could ask for is lost or
 * added. `kysely` is a database at schema 0001 that `open` then opens as a store.
 */
function grantsMigrationCase(
  dialect: StoreDialect,
  setUp: () => Promise<{ kysely: Kysely<unknown>; open: () => Promise<Store> }>,
): void {
  void it('migrates flat audiences and scopes into one grant per audience (0003)', async () => {
    const { kysely, open } = await setUp();
    const first = storeMigrations(dialect)['0001_initial'];
    assert.ok(first);
    const { error } = await new Migrator({
      db: kysely,
      provider: { getMigrations: () => Promise.resolve({ '0001_initial': first }) },
      migrationTableName: 'tessera_migration',
      migrationLockTableName: 'tessera_migration_lock',
    }).migrateToLatest();
    assert.equal(error, undefined);
    const rows: [string, string[], string[]][] = [
      [
        'gateway',
        ['spiffe://tessera.local/billing', 'spiffe://tessera.local/audit'],
        ['a:b', '票務'],
      ],
      ['lonely', [], ['orphan:scope']],
      ['plain', ['spiffe://tessera.local/billing'], []],
    ];
    for (const [name, audiences, scopes] of rows) {
      await sql`insert into services (name, spiffe_id, enabled, audiences, scopes, jwks, created_at_ms, updated_at_ms)
        values (${name}, ${`spiffe://tessera.local/${name}`}, 1, ${JSON.stringify(audiences)},
          ${JSON.stringify(scopes)}, ${'{"keys":[]}'}, ${START_MS}, ${START_MS})`.execute(kysely);
    }
    await kysely.destroy();
    const store = await open();
    try {
      const grants = Object.fromEntries(
        (await store.listServices()).map((service) => [service.name, service.grants]),
      );
      assert.deepEqual(grants, {
        gateway: [
          { audience: 'spiffe://tessera.local/billing', scopes: ['a:b', '票務'] },
          { audience: 'spiffe://tessera.local/audit', scopes: ['a:b', '票務'] },
        ],
        lonely: [],
        plain: [{ audience: 'spiffe://tessera.local/billing', scopes: [] }],
      });
      const gateway = await store.getService('gateway');
      assert.equal(gateway?.spiffeId, 'spiffe://tessera.local/gateway');
      assert.equal(gateway.enabled, true);
    } finally {
      await store.close();
    }
  });
}

storeContract('SQLite (in-memory)', (clock) => openSqliteStore({ path: ':memory:', clock }));

void describe('SQLite store in a file', () => {
  let dir = '';
  let opened = 0;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-store-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  storeContract('SQLite (file)', (clock) =>
    openSqliteStore({ path: join(dir, 'contract.db'), clock }),
  );

  void it('creates the database file, and its WAL, readable by the owner only', async () => {
    const path = join(dir, 'private.db');
    const store = await openSqliteStore({ path });
    try {
      await store.appendAudit({ atMs: START_MS, type: 'key.rotated', actor: 'system', data: {} });
      for (const file of [path, `${path}-wal`]) {
        assert.equal(statSync(file).mode & 0o777, 0o600, file);
      }
    } finally {
      await store.close();
    }
  });

  void it('keeps its data across close and reopen', async () => {
    const path = join(dir, 'reopen.db');
    const first = await openSqliteStore({ path });
    const record = await first.appendAudit({
      atMs: START_MS,
      type: 'service.registered',
      actor: 'admin',
      data: { name: 'billing' },
    });
    await first.close();
    const second = await openSqliteStore({ path });
    try {
      assert.deepEqual(await second.listAudit(0, 10), [record]);
    } finally {
      await second.close();
    }
  });

  void describe('while another connection holds the write lock', () => {
    /** A store and a second connection to its file that can take the write lock. */
    async function lockedPair(name: string, busyTimeoutMs?: number) {
      const path = join(dir, name);
      const store = await openSqliteStore({
        path,
        ...(busyTimeoutMs === undefined ? {} : { busyTimeoutMs }),
      });
      const other = new BetterSqlite3(path);
      other.exec('begin immediate');
      return {
        store,
        other,
        close: async () => {
          if (other.inTransaction) other.exec('rollback');
          other.close();
          await store.close();
        },
      };
    }
    const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

    void it('keeps the event loop running, and writes once the lock is released', async () => {
      const { store, other, close } = await lockedPair('locked.db');
      try {
        const started = performance.now();
        let settled = false;
        const remembered = store.rememberAssertion('client\njti-1', 2_000_000_000).finally(() => {
          settled = true;
        });
        const audited = store.appendAudit({
          atMs: START_MS,
          type: 'token.issued',
          actor: 'client',
          data: { jti: 'a' },
        });
        // SQLite's busy handler would hold the thread here until the timeout (5 s) and fail.
        await tick(50);
        assert.ok(performance.now() - started < 1000, 'the event loop was blocked');
        assert.equal(settled, false, 'written while another connection held the lock');
        other.exec('commit');
        assert.equal(await remembered, true);
        assert.equal((await audited).seq, 1);
        assert.equal(await store.rememberAssertion('client\njti-1', 2_000_000_000), false);
      } finally {
        await close();
      }
    });

    void it('fails the writes with ERR_UNAVAILABLE once the lock stays taken past the timeout', async () => {
      const { store, close } = await lockedPair('stuck.db', 100);
      try {
        await assert.rejects(store.rememberAssertion('client\njti-2', 2_000_000_000), (error) => {
          assert.ok(isTesseraError(error));
          assert.equal(error.code, 'ERR_UNAVAILABLE');
          return true;
        });
      } finally {
        await close();
      }
      const reopened = await openSqliteStore({ path: join(dir, 'stuck.db') });
      try {
        // Nothing was half-written: the refused assertion is still new.
        assert.equal(await reopened.rememberAssertion('client\njti-2', 2_000_000_000), true);
      } finally {
        await reopened.close();
      }
    });
  });

  grantsMigrationCase('sqlite', () => {
    const path = join(dir, 'schema-0001.db');
    const dialect: Dialect = new SqliteDialect({ database: new BetterSqlite3(path) });
    return Promise.resolve({
      kysely: new Kysely<unknown>({ dialect }),
      open: () => openSqliteStore({ path }),
    });
  });

  auditTamperSuite('SQLite', async () => {
    opened += 1;
    const path = join(dir, `tamper-${opened}.db`);
    const store = await openSqliteStore({ path });
    const raw = new BetterSqlite3(path);
    return {
      store,
      exec: (statements) => {
        raw.exec(statements);
        return Promise.resolve();
      },
      close: async () => {
        raw.close();
        await store.close();
      },
    };
  });
});

void describe('PostgreSQL store', { skip: postgresSkipReason() ?? false }, () => {
  let server: TestPostgres | undefined;
  before(
    async () => {
      server = await startTestPostgres();
    },
    { timeout: 90_000 },
  );
  after(() => server?.stop(), { timeout: 60_000 });

  void it('migration 0002 widens the revocation kind check on an existing store', async () => {
    const connectionString = await server!.createDatabase();
    const pool = new pg.Pool({ connectionString, max: 1 });
    const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
    await seedSchema0001(db, 'postgres');
    await db.destroy();
    const store = await openPostgresStore({ connectionString });
    try {
      await assertMigratedRevocations(store);
    } finally {
      await store.close();
    }
  });

  storeContract('PostgreSQL', (clock) =>
    openPostgresStore({ connectionString: server!.connectionString, clock }),
  );

  void it('keeps one audit chain while two instances append at once', async () => {
    const connectionString = await server!.createDatabase();
    const clock = new ManualClock(START_MS);
    const [a, b] = await Promise.all([
      openPostgresStore({ connectionString, clock, poolSize: 5 }),
      openPostgresStore({ connectionString, clock, poolSize: 5 }),
    ]);
    try {
      const appended = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          (i % 2 === 0 ? a : b).appendAudit({
            atMs: START_MS + i,
            type: 'token.issued',
            actor: i % 2 === 0 ? 'instance-a' : 'instance-b',
            data: { i },
          }),
        ),
      );
      assert.deepEqual(
        appended.map((record) => record.seq).sort((x, y) => x - y),
        Array.from({ length: 60 }, (_, i) => i + 1),
      );
      assert.deepEqual(await verifyStoreAuditChain(a), { ok: true, count: 60 });
      assert.deepEqual(await verifyStoreAuditChain(b), { ok: true, count: 60 });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  void it('lets exactly one of three instances consume a join token or remember an assertion', async () => {
    const connectionString = await server!.createDatabase();
    const clock = new ManualClock(START_MS);
    const stores = await Promise.all(
      [1, 2, 3].map(() => openPostgresStore({ connectionString, clock, poolSize: 4 })),
    );
    try {
      const [first] = stores as [Store, ...Store[]];
      await first.insertJoinToken({
        id: 'jt-1',
        tokenHash: 'hash-1',
        serviceName: 'billing',
        createdAtMs: START_MS,
        expiresAtMs: START_MS + 60_000,
        usedAtMs: null,
      });
      const consumed = await Promise.all(
        stores.flatMap((store) =>
          Array.from({ length: 10 }, () => store.consumeJoinToken('hash-1', START_MS + 1)),
        ),
      );
      assert.equal(consumed.filter((record) => record !== undefined).length, 1);
      const remembered = await Promise.all(
        stores.flatMap((store) =>
          Array.from({ length: 10 }, () =>
            store.rememberAssertion('client\njti', START_MS / 1000 + 60),
          ),
        ),
      );
      assert.equal(remembered.filter(Boolean).length, 1);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  grantsMigrationCase('postgres', async () => {
    const connectionString = await server!.createDatabase();
    const dialect: Dialect = new PostgresDialect({ pool: new pg.Pool({ connectionString }) });
    return {
      kysely: new Kysely<unknown>({ dialect }),
      open: () => openPostgresStore({ connectionString }),
    };
  });

  auditTamperSuite('PostgreSQL', async () => {
    const connectionString = await server!.createDatabase();
    const store = await openPostgresStore({ connectionString });
    const client = new pg.Client({ connectionString });
    await client.connect();
    return {
      store,
      exec: async (statements) => {
        await client.query(statements);
      },
      close: async () => {
        await client.end();
        await store.close();
      },
    };
  });
});

void describe('store configuration', () => {
  void it('refuses an empty SQLite path', async () => {
    await assert.rejects(openSqliteStore({ path: '' }), isConfigError);
  });

  void it('refuses a SQLite path whose directory does not exist', async () => {
    await assert.rejects(
      openSqliteStore({ path: join(tmpdir(), 'tessera-no-such-dir', 'x', 'tessera.db') }),
      isConfigError,
    );
  });

  void it('refuses an out-of-range SQLite busy timeout', async () => {
    await assert.rejects(openSqliteStore({ path: ':memory:', busyTimeoutMs: -1 }), isConfigError);
  });

  void it('refuses an empty PostgreSQL connection string and a bad pool size', async () => {
    await assert.rejects(openPostgresStore({ connectionString: '' }), isConfigError);
    await assert.rejects(
      openPostgresStore({ connectionString: 'postgres://127.0.0.1:1/x', poolSize: 0 }),
      isConfigError,
    );
  });

  void it('reports an unreachable PostgreSQL server without its password', async () => {
    const error = await openPostgresStore({
      connectionString: 'postgres://tessera:canary-secret-5f1c@127.0.0.1:1/tessera',
      timeoutMs: 2_000,
    }).then(
      () => assert.fail('opened a store on a closed port'),
      (reason: unknown) => reason,
    );
    assert.ok(isConfigError(error));
    // Everything a log line could show, the cause chain included.
    assert.doesNotMatch(inspect(error, { depth: 10 }), /canary-secret/);
  });

  void it('refuses invalid arguments with ERR_CONFIG_INVALID', async () => {
    const store = await openSqliteStore({ path: ':memory:' });
    try {
      await assert.rejects(store.listAudit(0, 0), isConfigError);
      await assert.rejects(store.rememberAssertion('k', 1.5), isConfigError);
      await assert.rejects(
        store.appendAudit({ atMs: START_MS, type: 't', actor: 'a', data: [] as never }),
        isConfigError,
      );
    } finally {
      await store.close();
    }
  });
});

/**
 * A store created by the first schema version (0001 only), holding revocations 1..3 of which
 * the newest was purged: what an authority upgraded in place finds.
 */
async function seedSchema0001(db: Kysely<unknown>, dialect: 'sqlite' | 'postgres'): Promise<void> {
  const { '0001_initial': initial } = storeMigrations(dialect);
  const migrator = new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve({ '0001_initial': initial! }) },
    migrationTableName: 'tessera_migration',
    migrationLockTableName: 'tessera_migration_lock',
  });
  const { error } = await migrator.migrateToLatest();
  if (error !== undefined) throw new Error('migration 0001 failed', { cause: error });
  for (const value of ['old-1', 'old-2', 'old-3']) {
    await sql`insert into revocations (kind, value, issued_at_or_before, expires_at, created_at_ms)
      values ('jti', ${value}, null, ${START_MS / 1000 + 3600}, ${START_MS})`.execute(db);
  }
  await sql`delete from revocations where value = 'old-3'`.execute(db);
  await assert.rejects(
    sql`insert into revocations (kind, value, issued_at_or_before, expires_at, created_at_ms)
      values ('kid', 'k', null, 0, 0)`.execute(db),
    'schema 0001 refuses the kind kid',
  );
}

/** After migrating a 0001 store: old entries kept, a kid entry stored, no id handed out twice. */
async function assertMigratedRevocations(store: Store): Promise<void> {
  const nowS = START_MS / 1000;
  const before = await store.listRevocations(0, nowS);
  assert.deepEqual(
    before.map((r) => [r.id, r.kind, r.value]),
    [
      [1, 'jti', 'old-1'],
      [2, 'jti', 'old-2'],
    ],
  );
  const kid = await store.addRevocation({
    kind: 'kid',
    value: 'withdrawn',
    issuedAtOrBefore: null,
    expiresAt: nowS + 3600,
    createdAtMs: START_MS,
  });
  assert.ok(kid.id > 3, `id ${kid.id}: 3 was handed out before the migration, never again`);
}

void describe('migration 0002 (revocation kind kid) on an existing store', () => {
  void it('SQLite: rebuilds the table keeping rows, ids and the id high-water mark', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-migrate-'));
    try {
      const path = join(dir, 'old.db');
      const db = new Kysely<unknown>({
        dialect: new SqliteDialect({ database: new BetterSqlite3(path) }),
      });
      await seedSchema0001(db, 'sqlite');
      await db.destroy();
      const store = await openSqliteStore({ path });
      try {
        await assertMigratedRevocations(store);
      } finally {
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
