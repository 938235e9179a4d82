import type { Clock, Jwks, PublicJwk, SigningAlgorithm } from '@tessera/core';
import { TesseraError } from '@tessera/core';
import { sql, type Kysely, type Selectable } from 'kysely';
import {
  AUDIT_CHECKPOINT,
  auditHashOfCanonicalData,
  canonicalJson,
  GENESIS_HASH,
} from '../audit/chain.ts';
import type { StoreDialect } from './migrations.ts';
import type {
  AuditLogTable,
  CertificateAuthoritiesTable,
  Database,
  IssuedSvidsTable,
  JoinTokensTable,
  RevocationsTable,
  ServicesTable,
  SigningKeysTable,
} from './schema.ts';
import type {
  AuditEntry,
  AuditRecord,
  CaRecord,
  CaState,
  IssuedSvidRecord,
  JoinTokenRecord,
  RevocationKind,
  RevocationRecord,
  AudienceGrant,
  ServiceRecord,
  SigningKeyRecord,
  SigningKeyState,
  Store,
} from './types.ts';

/**
 * PostgreSQL advisory lock keys (`pg_advisory_xact_lock(int, int)`): the first number marks them
 * as Tessera's ("TESS" in ASCII), the second names what they serialise.
 */
const LOCK_NAMESPACE = 0x54455353;
const LOCK_AUDIT_LOG = 1;
const LOCK_REVOCATIONS = 2;

/** Holds the PostgreSQL lock `key` until the transaction `db` ends. */
async function advisoryTransactionLock(db: Kysely<Database>, key: number): Promise<void> {
  await sql`select pg_advisory_xact_lock(${sql.lit(LOCK_NAMESPACE)}, ${sql.lit(key)})`.execute(db);
}

/** Most audit records one `listAudit` call returns. */
export const MAX_AUDIT_PAGE = 10_000;

/**
 * Reads a 64-bit column. `pg` hands int8 over as a decimal string unless told otherwise; a value
 * outside the safe integer range would lose precision as a number, so it is refused, not rounded.
 */
function toSafeInteger(value: number | string | bigint, column: string): number {
  const number = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(number)) {
    throw new RangeError(`store column ${column} holds a value outside the safe integer range`);
  }
  return number;
}

function toNullableSafeInteger(
  value: number | string | bigint | null,
  column: string,
): number | null {
  return value === null ? null : toSafeInteger(value, column);
}

function requireInteger(value: number, what: string): number {
  if (!Number.isSafeInteger(value)) {
    throw new TesseraError('ERR_CONFIG_INVALID', `${what} must be a safe integer`);
  }
  return value;
}

function requireNullableInteger(value: number | null, what: string): number | null {
  return value === null ? null : requireInteger(value, what);
}

function parseJson(text: string, column: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new SyntaxError(`store column ${column} does not hold JSON`, { cause: error });
  }
}

function serviceFromRow(row: Selectable<ServicesTable>): ServiceRecord {
  return {
    name: row.name,
    spiffeId: row.spiffe_id,
    enabled: row.enabled === 1,
    grants: parseJson(row.grants, 'services.grants') as AudienceGrant[],
    jwks: parseJson(row.jwks, 'services.jwks') as Jwks,
    ...(row.token_endpoint_auth_method === 'private_key_jwt' ||
    row.token_endpoint_auth_method === 'tls_client_auth'
      ? { tokenEndpointAuthMethod: row.token_endpoint_auth_method }
      : {}),
    ...(row.bound_tokens === 1 ? { boundTokens: true } : {}),
    hosts: parseJson(row.hosts, 'services.hosts') as string[],
    createdAtMs: toSafeInteger(row.created_at_ms, 'services.created_at_ms'),
    updatedAtMs: toSafeInteger(row.updated_at_ms, 'services.updated_at_ms'),
  };
}

/** The columns of a schedule change (signing keys and CAs share them). */
function scheduleColumns(
  patch: Partial<{
    state: string;
    activatesAtMs: number;
    retiredAtMs: number | null;
    publishUntilMs: number | null;
  }>,
): {
  state?: string;
  activates_at_ms?: number;
  retired_at_ms?: number | null;
  publish_until_ms?: number | null;
} {
  return {
    ...(patch.state !== undefined ? { state: patch.state } : {}),
    ...(patch.activatesAtMs !== undefined
      ? { activates_at_ms: requireInteger(patch.activatesAtMs, 'activatesAtMs') }
      : {}),
    ...(patch.retiredAtMs !== undefined
      ? { retired_at_ms: requireNullableInteger(patch.retiredAtMs, 'retiredAtMs') }
      : {}),
    ...(patch.publishUntilMs !== undefined
      ? { publish_until_ms: requireNullableInteger(patch.publishUntilMs, 'publishUntilMs') }
      : {}),
  };
}

function signingKeyFromRow(row: Selectable<SigningKeysTable>): SigningKeyRecord {
  return {
    kid: row.kid,
    alg: row.alg as SigningAlgorithm,
    state: row.state as SigningKeyState,
    publicJwk: parseJson(row.public_jwk, 'signing_keys.public_jwk') as PublicJwk,
    encryptedPrivateKey: row.encrypted_private_key,
    createdAtMs: toSafeInteger(row.created_at_ms, 'signing_keys.created_at_ms'),
    activatesAtMs: toSafeInteger(row.activates_at_ms, 'signing_keys.activates_at_ms'),
    retiredAtMs: toNullableSafeInteger(row.retired_at_ms, 'signing_keys.retired_at_ms'),
    publishUntilMs: toNullableSafeInteger(row.publish_until_ms, 'signing_keys.publish_until_ms'),
  };
}

function caFromRow(row: Selectable<CertificateAuthoritiesTable>): CaRecord {
  return {
    id: row.id,
    state: row.state as CaState,
    certificatePem: row.certificate_pem,
    parentsPem: row.parents_pem,
    encryptedPrivateKey: row.encrypted_private_key,
    notBeforeMs: toSafeInteger(row.not_before_ms, 'certificate_authorities.not_before_ms'),
    notAfterMs: toSafeInteger(row.not_after_ms, 'certificate_authorities.not_after_ms'),
    createdAtMs: toSafeInteger(row.created_at_ms, 'certificate_authorities.created_at_ms'),
    activatesAtMs: toSafeInteger(row.activates_at_ms, 'certificate_authorities.activates_at_ms'),
    retiredAtMs: toNullableSafeInteger(row.retired_at_ms, 'certificate_authorities.retired_at_ms'),
    publishUntilMs: toNullableSafeInteger(
      row.publish_until_ms,
      'certificate_authorities.publish_until_ms',
    ),
  };
}

function svidFromRow(row: Selectable<IssuedSvidsTable>): IssuedSvidRecord {
  return {
    serialNumber: row.serial_number,
    caId: row.ca_id,
    serviceName: row.service_name,
    spiffeId: row.spiffe_id,
    issuedAtMs: toSafeInteger(row.issued_at_ms, 'issued_svids.issued_at_ms'),
    notAfterMs: toSafeInteger(row.not_after_ms, 'issued_svids.not_after_ms'),
    revokedAtMs: toNullableSafeInteger(row.revoked_at_ms, 'issued_svids.revoked_at_ms'),
  };
}

function revocationFromRow(row: Selectable<RevocationsTable>): RevocationRecord {
  return {
    id: toSafeInteger(row.id, 'revocations.id'),
    kind: row.kind as RevocationKind,
    value: row.value,
    issuedAtOrBefore: toNullableSafeInteger(
      row.issued_at_or_before,
      'revocations.issued_at_or_before',
    ),
    expiresAt: toSafeInteger(row.expires_at, 'revocations.expires_at'),
    createdAtMs: toSafeInteger(row.created_at_ms, 'revocations.created_at_ms'),
  };
}

function joinTokenFromRow(row: Selectable<JoinTokensTable>): JoinTokenRecord {
  return {
    id: row.id,
    tokenHash: row.token_hash,
    serviceName: row.service_name,
    createdAtMs: toSafeInteger(row.created_at_ms, 'join_tokens.created_at_ms'),
    expiresAtMs: toSafeInteger(row.expires_at_ms, 'join_tokens.expires_at_ms'),
    usedAtMs: toNullableSafeInteger(row.used_at_ms, 'join_tokens.used_at_ms'),
  };
}

function auditFromRow(row: Selectable<AuditLogTable>): AuditRecord {
  return {
    seq: toSafeInteger(row.seq, 'audit_log.seq'),
    atMs: toSafeInteger(row.at_ms, 'audit_log.at_ms'),
    type: row.type,
    actor: row.actor,
    data: parseJson(row.data, 'audit_log.data') as Record<string, unknown>,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

export interface KyselyStoreDeps {
  readonly db: Kysely<Database>;
  readonly dialect: StoreDialect;
  /** Decides when a remembered assertion has expired (`rememberAssertion` takes no time). */
  readonly clock: Clock;
  /**
   * SQLite only: writes a batch of replay records and audit rows synchronously in one
   * BEGIN IMMEDIATE transaction. The token endpoint writes twice per request (its assertion's
   * `jti`, then the issuance record); a commit each cost more CPU than the ES256 verification.
   * Writes queue up during one event-loop turn and commit together at the end of it, and each
   * caller still resolves only once its own write is committed.
   */
  readonly sqliteWriteBatch?: SqliteWriteBatch;
  /**
   * SQLite only: how long a batch keeps retrying for the write lock (held by another process
   * sharing the file) before its writes fail. Default 5000 ms.
   */
  readonly writeLockTimeoutMs?: number;
}

/** One `rememberAssertion` call waiting for its batch. */
export interface AssertionWrite {
  readonly key: string;
  readonly expiresAt: number;
  readonly nowSeconds: number;
}

/**
 * Writes `assertions` (returning, for each, whether it was new or an expired record taken over),
 * `svids`, and, when `audit` is given, the audit rows it builds from the last stored record, all
 * in one transaction. Returns `undefined`, having written nothing, when another process holds the
 * database's write lock: the caller retries later instead of the event loop sleeping in SQLite's
 * busy handler.
 */
export type SqliteWriteBatch = (
  assertions: readonly AssertionWrite[],
  audit: ((lastSeq: number, lastHash: string) => AuditRow[]) | undefined,
  svids: readonly IssuedSvidRow[],
) => boolean[] | undefined;

/** One issued X.509-SVID as stored (`recordSvid`, batched like the replay records on SQLite). */
export interface IssuedSvidRow {
  readonly serial_number: string;
  readonly ca_id: string;
  readonly service_name: string;
  readonly spiffe_id: string;
  readonly issued_at_ms: number;
  readonly not_after_ms: number;
  readonly revoked_at_ms: number | null;
}

interface PendingSvid {
  readonly row: IssuedSvidRow;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** SVID records per SQLite batch. */
const MAX_SVID_BATCH = 2000;

/** How long a batch waits before trying again for a write lock another process holds. */
const WRITE_LOCK_RETRY_MS = 1;

/** One audit row as stored. */
export interface AuditRow {
  readonly seq: number;
  readonly at_ms: number;
  readonly type: string;
  readonly actor: string;
  readonly data: string;
  readonly prev_hash: string;
  readonly hash: string;
}

/** Chains a batch of pending entries onto the last stored record. */
function chainRows(
  batch: readonly Pick<PendingAudit, 'entry' | 'data' | 'dataJson'>[],
  lastSeq: number,
  lastHash: string,
): { records: AuditRecord[]; rows: AuditRow[] } {
  let seq = lastSeq;
  let prevHash = lastHash;
  const records: AuditRecord[] = [];
  const rows: AuditRow[] = [];
  for (const { entry, data, dataJson } of batch) {
    seq += 1;
    const hashed = { seq, atMs: entry.atMs, type: entry.type, actor: entry.actor, data };
    // dataJson is canonical already (appendAudit made it): hash without re-canonicalising.
    const record: AuditRecord = {
      ...hashed,
      prevHash,
      hash: auditHashOfCanonicalData(prevHash, hashed, dataJson),
    };
    records.push(record);
    rows.push({
      seq,
      at_ms: record.atMs,
      type: record.type,
      actor: record.actor,
      data: dataJson,
      prev_hash: prevHash,
      hash: record.hash,
    });
    prevHash = record.hash;
  }
  return { records, rows };
}

/** Reads the last record and appends `batch` after it; the caller holds the audit lock. */
async function appendChained(
  db: Kysely<Database>,
  batch: readonly Pick<PendingAudit, 'entry' | 'data' | 'dataJson'>[],
): Promise<AuditRecord[]> {
  const last = await db
    .selectFrom('audit_log')
    .select(['seq', 'hash'])
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  const { records, rows } = chainRows(
    batch,
    last === undefined ? 0 : toSafeInteger(last.seq, 'audit_log.seq'),
    last?.hash ?? GENESIS_HASH,
  );
  await db.insertInto('audit_log').values(rows).execute();
  return records;
}

/** Most records one `pruneAudit` call deletes (one transaction); the rest wait for the next. */
export const MAX_AUDIT_PRUNE = 10_000;

/** Rows per audit insert: SQLite allows 32,766 bound parameters, 7 per row. */
const MAX_AUDIT_BATCH = 500;

/** Resolves each waiting append with its committed record, in order. */
function settleAudits(batch: readonly PendingAudit[], records: readonly AuditRecord[]): void {
  batch.forEach((pending, i) => {
    const record = records[i];
    if (record !== undefined) pending.resolve(record);
    else pending.reject(new TesseraError('ERR_INTERNAL', 'audit batch lost a record'));
  });
}

interface PendingAssertion extends AssertionWrite {
  readonly resolve: (fresh: boolean) => void;
  readonly reject: (error: unknown) => void;
}

/** Replay records per SQLite batch: bounds how long one batch holds the write lock. */
const MAX_ASSERTION_BATCH = 2000;

interface PendingAudit {
  readonly entry: AuditEntry;
  readonly dataJson: string;
  readonly data: Record<string, unknown>;
  readonly resolve: (record: AuditRecord) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The {@link Store} over a Kysely instance whose schema `migrateStore` has brought up to date.
 * The SQL is the same for both dialects, except that a revocation takes its lock differently,
 * and that on SQLite replay records and audit rows are not written through Kysely: they queue
 * for `sqliteWriteBatch`, one transaction per event-loop turn, retried while another process
 * holds the write lock. The store owns `db`: `close()` destroys it.
 */
export class KyselyStore implements Store {
  readonly dialect: StoreDialect;
  readonly #auditQueue: PendingAudit[] = [];
  #auditFlushing = false;
  readonly #assertionQueue: PendingAssertion[] = [];
  readonly #svidQueue: PendingSvid[] = [];
  /** The SQLite batch being written or scheduled, if any. */
  #sqliteFlush: Promise<void> | undefined;
  readonly #db: Kysely<Database>;
  readonly #clock: Clock;
  #closing: Promise<void> | undefined;

  readonly #sqliteWriteBatch: SqliteWriteBatch | undefined;
  readonly #writeLockTimeoutMs: number;
  /** When the queued batch first found the write lock taken (`performance.now()`), if it did. */
  #lockedOutSince: number | undefined;

  constructor(deps: KyselyStoreDeps) {
    this.#sqliteWriteBatch = deps.sqliteWriteBatch;
    this.#writeLockTimeoutMs = deps.writeLockTimeoutMs ?? 5000;
    this.dialect = deps.dialect;
    this.#db = deps.db;
    this.#clock = deps.clock;
  }

  async upsertService(record: ServiceRecord): Promise<void> {
    const replacement = {
      spiffe_id: record.spiffeId,
      enabled: record.enabled ? 1 : 0,
      grants: JSON.stringify(record.grants),
      jwks: JSON.stringify(record.jwks),
      token_endpoint_auth_method: record.tokenEndpointAuthMethod ?? null,
      bound_tokens: record.boundTokens === true ? 1 : 0,
      hosts: JSON.stringify(record.hosts ?? []),
      created_at_ms: requireInteger(record.createdAtMs, 'createdAtMs'),
      updated_at_ms: requireInteger(record.updatedAtMs, 'updatedAtMs'),
    };
    await this.#db
      .insertInto('services')
      .values({ name: record.name, ...replacement })
      .onConflict((conflict) => conflict.column('name').doUpdateSet(replacement))
      .execute();
  }

  async getService(name: string): Promise<ServiceRecord | undefined> {
    const row = await this.#db
      .selectFrom('services')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row === undefined ? undefined : serviceFromRow(row);
  }

  async listServices(): Promise<ServiceRecord[]> {
    const rows = await this.#db.selectFrom('services').selectAll().orderBy('name').execute();
    return rows.map(serviceFromRow);
  }

  async setServiceEnabled(name: string, enabled: boolean, atMs: number): Promise<boolean> {
    const result = await this.#db
      .updateTable('services')
      .set({ enabled: enabled ? 1 : 0, updated_at_ms: requireInteger(atMs, 'atMs') })
      .where('name', '=', name)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async replaceServiceJwks(
    name: string,
    expected: Jwks,
    next: Jwks,
    atMs: number,
  ): Promise<boolean> {
    // The column holds JSON.stringify of the stored record and is read back with JSON.parse,
    // which keeps member order: the text of what was read is the text stored.
    const result = await this.#db
      .updateTable('services')
      .set({ jwks: JSON.stringify(next), updated_at_ms: requireInteger(atMs, 'atMs') })
      .where('name', '=', name)
      .where('jwks', '=', JSON.stringify(expected))
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async insertSigningKey(record: SigningKeyRecord): Promise<void> {
    await this.#db
      .insertInto('signing_keys')
      .values({
        kid: record.kid,
        alg: record.alg,
        state: record.state,
        public_jwk: JSON.stringify(record.publicJwk),
        encrypted_private_key: record.encryptedPrivateKey,
        created_at_ms: requireInteger(record.createdAtMs, 'createdAtMs'),
        activates_at_ms: requireInteger(record.activatesAtMs, 'activatesAtMs'),
        retired_at_ms: requireNullableInteger(record.retiredAtMs, 'retiredAtMs'),
        publish_until_ms: requireNullableInteger(record.publishUntilMs, 'publishUntilMs'),
      })
      .execute();
  }

  async updateSigningKey(
    kid: string,
    patch: Partial<
      Pick<SigningKeyRecord, 'state' | 'activatesAtMs' | 'retiredAtMs' | 'publishUntilMs'>
    >,
  ): Promise<void> {
    const set = scheduleColumns(patch);
    if (Object.keys(set).length === 0) return;
    await this.#db.updateTable('signing_keys').set(set).where('kid', '=', kid).execute();
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    const rows = await this.#db
      .selectFrom('signing_keys')
      .selectAll()
      .orderBy('created_at_ms')
      .orderBy('kid')
      .execute();
    return rows.map(signingKeyFromRow);
  }

  async insertCa(record: CaRecord): Promise<void> {
    await this.#db
      .insertInto('certificate_authorities')
      .values({
        id: record.id,
        state: record.state,
        certificate_pem: record.certificatePem,
        parents_pem: record.parentsPem,
        encrypted_private_key: record.encryptedPrivateKey,
        not_before_ms: requireInteger(record.notBeforeMs, 'notBeforeMs'),
        not_after_ms: requireInteger(record.notAfterMs, 'notAfterMs'),
        created_at_ms: requireInteger(record.createdAtMs, 'createdAtMs'),
        activates_at_ms: requireInteger(record.activatesAtMs, 'activatesAtMs'),
        retired_at_ms: requireNullableInteger(record.retiredAtMs, 'retiredAtMs'),
        publish_until_ms: requireNullableInteger(record.publishUntilMs, 'publishUntilMs'),
      })
      .execute();
  }

  async updateCa(
    id: string,
    patch: Partial<Pick<CaRecord, 'state' | 'activatesAtMs' | 'retiredAtMs' | 'publishUntilMs'>>,
  ): Promise<void> {
    const set = scheduleColumns(patch);
    if (Object.keys(set).length === 0) return;
    await this.#db.updateTable('certificate_authorities').set(set).where('id', '=', id).execute();
  }

  async listCas(): Promise<CaRecord[]> {
    const rows = await this.#db
      .selectFrom('certificate_authorities')
      .selectAll()
      .orderBy('created_at_ms')
      .orderBy('id')
      .execute();
    return rows.map(caFromRow);
  }

  async recordSvid(record: IssuedSvidRecord): Promise<void> {
    const row: IssuedSvidRow = {
      serial_number: record.serialNumber,
      ca_id: record.caId,
      service_name: record.serviceName,
      spiffe_id: record.spiffeId,
      issued_at_ms: requireInteger(record.issuedAtMs, 'issuedAtMs'),
      not_after_ms: requireInteger(record.notAfterMs, 'notAfterMs'),
      revoked_at_ms: requireNullableInteger(record.revokedAtMs, 'revokedAtMs'),
    };
    // On SQLite with the SVID endpoint under load, one write per certificate outside the batch
    // cost a commit each, and waited for another worker's write lock in the synchronous busy
    // handler: queued with the replay records instead.
    if (this.#sqliteWriteBatch !== undefined) {
      await new Promise<void>((resolve, reject) => {
        this.#svidQueue.push({ row, resolve, reject });
        this.#scheduleSqliteFlush();
      });
      return;
    }
    await this.#db.insertInto('issued_svids').values(row).execute();
  }

  async getSvid(serialNumber: string): Promise<IssuedSvidRecord | undefined> {
    const row = await this.#db
      .selectFrom('issued_svids')
      .selectAll()
      .where('serial_number', '=', serialNumber)
      .executeTakeFirst();
    return row === undefined ? undefined : svidFromRow(row);
  }

  async revokeSvid(serialNumber: string, atMs: number): Promise<IssuedSvidRecord | undefined> {
    requireInteger(atMs, 'atMs');
    // First revocation wins: a second call leaves the recorded time (the CRL's revocationDate).
    await this.#db
      .updateTable('issued_svids')
      .set({ revoked_at_ms: atMs })
      .where('serial_number', '=', serialNumber)
      .where('revoked_at_ms', 'is', null)
      .where('not_after_ms', '>', atMs)
      .execute();
    const row = await this.#db
      .selectFrom('issued_svids')
      .selectAll()
      .where('serial_number', '=', serialNumber)
      .where('not_after_ms', '>', atMs)
      .executeTakeFirst();
    return row === undefined ? undefined : svidFromRow(row);
  }

  async revokeSvidsOf(spiffeId: string, atMs: number): Promise<number> {
    requireInteger(atMs, 'atMs');
    const result = await this.#db
      .updateTable('issued_svids')
      .set({ revoked_at_ms: atMs })
      .where('spiffe_id', '=', spiffeId)
      .where('revoked_at_ms', 'is', null)
      .where('issued_at_ms', '<=', atMs)
      .where('not_after_ms', '>', atMs)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async listRevokedSvids(caId: string, nowMs: number): Promise<IssuedSvidRecord[]> {
    const rows = await this.#db
      .selectFrom('issued_svids')
      .selectAll()
      .where('ca_id', '=', caId)
      .where('revoked_at_ms', 'is not', null)
      .where('not_after_ms', '>', requireInteger(nowMs, 'nowMs'))
      .orderBy('serial_number')
      .execute();
    return rows.map(svidFromRow);
  }

  async latestSvidExpiry(caId: string): Promise<number | null> {
    const row = await this.#db
      .selectFrom('issued_svids')
      .select((eb) => eb.fn.max('not_after_ms').as('latest'))
      .where('ca_id', '=', caId)
      .executeTakeFirst();
    const latest = row?.latest ?? null;
    return latest === null ? null : toSafeInteger(latest, 'issued_svids.not_after_ms');
  }

  async bundleSequence(digest: string): Promise<number> {
    // Compare-and-set on the digest: of instances seeing the same new bundle at once, one moves
    // the sequence on and the others then read the digest they wanted. An instance briefly
    // seeing an older bundle moves it on again; the sequence never goes back.
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const row = await this.#db
        .selectFrom('bundle_sequence')
        .select(['sequence', 'digest'])
        .where('id', '=', 1)
        .executeTakeFirst();
      if (row === undefined) {
        await this.#db
          .insertInto('bundle_sequence')
          .values({ id: 1, sequence: 1, digest })
          .onConflict((conflict) => conflict.column('id').doNothing())
          .execute();
        continue;
      }
      const sequence = toSafeInteger(row.sequence, 'bundle_sequence.sequence');
      if (row.digest === digest) return sequence;
      const updated = await this.#db
        .updateTable('bundle_sequence')
        .set({ sequence: sequence + 1, digest })
        .where('id', '=', 1)
        .where('digest', '=', row.digest)
        .where('sequence', '=', sequence)
        .executeTakeFirst();
      if (updated.numUpdatedRows > 0n) return sequence + 1;
    }
    throw new TesseraError('ERR_UNAVAILABLE', 'the bundle sequence kept changing');
  }

  async rememberAssertion(key: string, expiresAt: number): Promise<boolean> {
    requireInteger(expiresAt, 'expiresAt');
    const nowSeconds = Math.floor(this.#clock.now() / 1000);
    // One statement, decided by the primary key: a concurrent duplicate either conflicts and
    // finds a live row (no row returned: a replay) or takes over an expired one. Reading first
    // and inserting after would let two concurrent first uses both pass.
    if (this.#sqliteWriteBatch !== undefined) {
      return await new Promise<boolean>((resolve, reject) => {
        this.#assertionQueue.push({ key, expiresAt, nowSeconds, resolve, reject });
        this.#scheduleSqliteFlush();
      });
    }
    const row = await this.#db
      .insertInto('used_assertions')
      .values({ key, expires_at: expiresAt })
      .onConflict((conflict) =>
        conflict
          .column('key')
          .doUpdateSet({ expires_at: (eb) => eb.ref('excluded.expires_at') })
          .where('used_assertions.expires_at', '<=', nowSeconds),
      )
      .returning('key')
      .executeTakeFirst();
    return row !== undefined;
  }

  async addRevocation(record: Omit<RevocationRecord, 'id'>): Promise<RevocationRecord> {
    const values = {
      kind: record.kind,
      value: record.value,
      issued_at_or_before: requireNullableInteger(record.issuedAtOrBefore, 'issuedAtOrBefore'),
      expires_at: requireInteger(record.expiresAt, 'expiresAt'),
      created_at_ms: requireInteger(record.createdAtMs, 'createdAtMs'),
    };
    const insert = (db: Kysely<Database>) =>
      db.insertInto('revocations').values(values).returningAll().executeTakeFirstOrThrow();
    if (this.dialect === 'sqlite') {
      // One writer at a time: ids commit in the order they are handed out.
      return revocationFromRow(await insert(this.#db));
    }
    // A sequence hands out ids before commit, so without the lock a reader could see id 12
    // committed while id 11 is still in flight, move its cursor to 12 and never see 11.
    return this.#db.transaction().execute(async (trx) => {
      await advisoryTransactionLock(trx, LOCK_REVOCATIONS);
      return revocationFromRow(await insert(trx));
    });
  }

  async listRevocations(sinceId: number, nowSeconds: number): Promise<RevocationRecord[]> {
    const rows = await this.#db
      .selectFrom('revocations')
      .selectAll()
      .where('id', '>', requireInteger(sinceId, 'sinceId'))
      .where('expires_at', '>', requireInteger(nowSeconds, 'nowSeconds'))
      .orderBy('id')
      .execute();
    return rows.map(revocationFromRow);
  }

  async insertJoinToken(record: JoinTokenRecord): Promise<void> {
    await this.#db
      .insertInto('join_tokens')
      .values({
        id: record.id,
        token_hash: record.tokenHash,
        service_name: record.serviceName,
        created_at_ms: requireInteger(record.createdAtMs, 'createdAtMs'),
        expires_at_ms: requireInteger(record.expiresAtMs, 'expiresAtMs'),
        used_at_ms: requireNullableInteger(record.usedAtMs, 'usedAtMs'),
      })
      .execute();
  }

  async consumeJoinToken(tokenHash: string, nowMs: number): Promise<JoinTokenRecord | undefined> {
    requireInteger(nowMs, 'nowMs');
    // The condition and the write are one statement: of concurrent consumers, the first to lock
    // the row changes it and every other one re-checks `used_at_ms` and matches nothing.
    const row = await this.#db
      .updateTable('join_tokens')
      .set({ used_at_ms: nowMs })
      .where('token_hash', '=', tokenHash)
      .where('used_at_ms', 'is', null)
      .where('expires_at_ms', '>', nowMs)
      .returningAll()
      .executeTakeFirst();
    return row === undefined ? undefined : joinTokenFromRow(row);
  }

  async appendAudit(entry: AuditEntry): Promise<AuditRecord> {
    requireInteger(entry.atMs, 'atMs');
    // Hash exactly what will be read back: the stored text is the canonical JSON itself.
    const dataJson = canonicalJson(entry.data);
    const parsed: unknown = JSON.parse(dataJson);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new TesseraError('ERR_CONFIG_INVALID', 'audit data must be a JSON object');
    }
    const data = parsed as Record<string, unknown>;
    return await new Promise<AuditRecord>((resolve, reject) => {
      this.#auditQueue.push({ entry, dataJson, data, resolve, reject });
      if (this.#sqliteWriteBatch !== undefined) this.#scheduleSqliteFlush();
      else if (!this.#auditFlushing) void this.#flushAudit();
    });
  }

  /**
   * Writes everything queued so far at the end of this event-loop turn (SQLite only), or after
   * `delayMs` when the last attempt found the write lock taken.
   */
  #scheduleSqliteFlush(delayMs = 0): void {
    this.#sqliteFlush ??= new Promise<void>((resolve) => {
      const flush = () => {
        void this.#flushSqlite().then((lockedOut) => {
          this.#sqliteFlush = undefined;
          resolve();
          // Writes queued while this batch was committing go in the next one.
          if (lockedOut) this.#scheduleSqliteFlush(WRITE_LOCK_RETRY_MS);
          else if (
            this.#assertionQueue.length > 0 ||
            this.#auditQueue.length > 0 ||
            this.#svidQueue.length > 0
          ) {
            this.#scheduleSqliteFlush();
          }
        });
      };
      if (delayMs === 0) setImmediate(flush);
      else setTimeout(flush, delayMs);
    });
  }

  /** Writes one batch; true when another process held the write lock and nothing was written. */
  async #flushSqlite(): Promise<boolean> {
    const write = this.#sqliteWriteBatch;
    if (write === undefined) return false;
    const assertions = this.#assertionQueue.splice(0, MAX_ASSERTION_BATCH);
    const audits = this.#auditQueue.splice(0, MAX_AUDIT_BATCH);
    const svids = this.#svidQueue.splice(0, MAX_SVID_BATCH);
    try {
      const records: AuditRecord[] = [];
      // Holding Kysely's connection guarantees no Kysely transaction is open meanwhile.
      const fresh = await this.#db.connection().execute(() =>
        Promise.resolve(
          write(
            assertions,
            audits.length === 0
              ? undefined
              : (lastSeq, lastHash) => {
                  const built = chainRows(audits, lastSeq, lastHash);
                  records.push(...built.records);
                  return built.rows;
                },
            svids.map((pending) => pending.row),
          ),
        ),
      );
      if (fresh === undefined) return this.#lockedOut(assertions, audits, svids);
      this.#lockedOutSince = undefined;
      assertions.forEach((pending, i) => {
        pending.resolve(fresh[i] === true);
      });
      settleAudits(audits, records);
      for (const pending of svids) pending.resolve();
    } catch (error) {
      this.#lockedOutSince = undefined;
      for (const pending of [...assertions, ...audits, ...svids]) pending.reject(error);
    }
    return false;
  }

  /**
   * Puts a batch that found the write lock taken back at the head of the queues, in order, to be
   * retried; fails it once the lock has been out of reach for `writeLockTimeoutMs`.
   */
  #lockedOut(
    assertions: PendingAssertion[],
    audits: PendingAudit[],
    svids: PendingSvid[],
  ): boolean {
    const now = performance.now();
    this.#lockedOutSince ??= now;
    if (now - this.#lockedOutSince >= this.#writeLockTimeoutMs) {
      this.#lockedOutSince = undefined;
      const error = new TesseraError(
        'ERR_UNAVAILABLE',
        `the SQLite write lock stayed taken for ${this.#writeLockTimeoutMs} ms`,
      );
      for (const pending of [...assertions, ...audits, ...svids]) pending.reject(error);
      return false;
    }
    this.#assertionQueue.unshift(...assertions);
    this.#auditQueue.unshift(...audits);
    this.#svidQueue.unshift(...svids);
    return true;
  }

  /**
   * Group commit: appends queue up while a batch is being written, and the next batch takes
   * them all in one transaction (one lock, one read of the last record, one insert). Every
   * caller still resolves only once its record is committed. Measured: a transaction per
   * record cost the token endpoint about a third of its throughput.
   */
  async #flushAudit(): Promise<void> {
    this.#auditFlushing = true;
    try {
      while (this.#auditQueue.length > 0) {
        const batch = this.#auditQueue.splice(0, MAX_AUDIT_BATCH);
        try {
          settleAudits(batch, await this.#appendAuditBatch(batch));
        } catch (error) {
          for (const pending of batch) pending.reject(error);
        }
      }
    } finally {
      this.#auditFlushing = false;
    }
  }

  #appendAuditBatch(batch: readonly PendingAudit[]): Promise<AuditRecord[]> {
    return this.#withAuditLock((db) => appendChained(db, batch));
  }

  /** Runs `work` in one transaction that holds the audit log's write lock. */
  #withAuditLock<T>(work: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    if (this.dialect === 'postgres') {
      // Every instance appending to this database queues on the same lock, so reading the last
      // record and inserting the next ones is one step across all of them.
      return this.#db.transaction().execute(async (trx) => {
        await advisoryTransactionLock(trx, LOCK_AUDIT_LOG);
        return work(trx);
      });
    }
    // BEGIN IMMEDIATE takes the write lock before the read, so another process writing the same
    // file cannot slip a record in between. (In-process, Kysely already gives the single
    // connection to one caller at a time.)
    return this.#db.connection().execute(async (connection) => {
      await sql`begin immediate`.execute(connection);
      try {
        const result = await work(connection);
        await sql`commit`.execute(connection);
        return result;
      } catch (error) {
        // SQLite has already rolled back after some errors (SQLITE_FULL, SQLITE_IOERR), and
        // then this fails too; the first error is the one worth reporting.
        await sql`rollback`.execute(connection).catch(() => undefined);
        throw error;
      }
    });
  }

  async pruneAudit(
    beforeMs: number,
    atMs: number,
    maxRecords = MAX_AUDIT_PRUNE,
  ): Promise<AuditRecord | undefined> {
    requireInteger(beforeMs, 'beforeMs');
    requireInteger(atMs, 'atMs');
    if (!Number.isSafeInteger(maxRecords) || maxRecords < 1 || maxRecords > MAX_AUDIT_PRUNE) {
      throw new TesseraError('ERR_CONFIG_INVALID', `maxRecords must be 1 to ${MAX_AUDIT_PRUNE}`);
    }
    return this.#withAuditLock(async (db) => {
      const oldest = await db
        .selectFrom('audit_log')
        .select('seq')
        .orderBy('seq')
        .limit(1)
        .executeTakeFirst();
      if (oldest === undefined) return undefined;
      const firstSeq = toSafeInteger(oldest.seq, 'audit_log.seq');
      // Only a run at the start of the log goes, and only records older than the cutoff: a
      // record stamped late (another instance's clock) stops the run rather than being skipped.
      const firstKept = await db
        .selectFrom('audit_log')
        .select('seq')
        .where('seq', '>=', firstSeq)
        .where('seq', '<', firstSeq + maxRecords)
        .where('at_ms', '>=', beforeMs)
        .orderBy('seq')
        .limit(1)
        .executeTakeFirst();
      const endSeq =
        firstKept === undefined
          ? firstSeq + maxRecords - 1
          : toSafeInteger(firstKept.seq, 'audit_log.seq') - 1;
      const lastPruned = await db
        .selectFrom('audit_log')
        .select(['seq', 'hash'])
        .where('seq', '<=', endSeq)
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirst();
      if (lastPruned === undefined || toSafeInteger(lastPruned.seq, 'audit_log.seq') < firstSeq) {
        return undefined;
      }
      const throughSeq = toSafeInteger(lastPruned.seq, 'audit_log.seq');
      const data = {
        prunedFromSeq: firstSeq,
        prunedThroughSeq: throughSeq,
        prunedThroughHash: lastPruned.hash,
        olderThanMs: beforeMs,
      };
      // The checkpoint is chained on before anything goes, in the same transaction: verification
      // then starts from the record after `throughSeq`, whose prevHash the checkpoint vouches for.
      const [checkpoint] = await appendChained(db, [
        {
          entry: { atMs, type: AUDIT_CHECKPOINT, actor: 'system', data },
          data,
          dataJson: canonicalJson(data),
        },
      ]);
      await db.deleteFrom('audit_log').where('seq', '<=', throughSeq).execute();
      return checkpoint;
    });
  }

  async listAudit(afterSeq: number, limit: number): Promise<AuditRecord[]> {
    requireInteger(afterSeq, 'afterSeq');
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_AUDIT_PAGE) {
      throw new TesseraError('ERR_CONFIG_INVALID', `limit must be 1 to ${MAX_AUDIT_PAGE}`);
    }
    const rows = await this.#db
      .selectFrom('audit_log')
      .selectAll()
      .where('seq', '>', afterSeq)
      .orderBy('seq')
      .limit(limit)
      .execute();
    return rows.map(auditFromRow);
  }

  async auditHead(): Promise<AuditRecord | undefined> {
    const row = await this.#db
      .selectFrom('audit_log')
      .selectAll()
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row === undefined ? undefined : auditFromRow(row);
  }

  async purgeExpired(nowMs: number): Promise<number> {
    requireInteger(nowMs, 'nowMs');
    // Entries in seconds expire at the start of their second: `expires_at <= floor(now)`.
    const nowSeconds = Math.floor(nowMs / 1000);
    return this.#db.transaction().execute(async (trx) => {
      const assertions = await trx
        .deleteFrom('used_assertions')
        .where('expires_at', '<=', nowSeconds)
        .executeTakeFirst();
      const revocations = await trx
        .deleteFrom('revocations')
        .where('expires_at', '<=', nowSeconds)
        .executeTakeFirst();
      const joinTokens = await trx
        .deleteFrom('join_tokens')
        .where('expires_at_ms', '<=', nowMs)
        .executeTakeFirst();
      const svids = await trx
        .deleteFrom('issued_svids')
        .where('not_after_ms', '<=', nowMs)
        .executeTakeFirst();
      return Number(
        assertions.numDeletedRows +
          revocations.numDeletedRows +
          joinTokens.numDeletedRows +
          svids.numDeletedRows,
      );
    });
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.#db);
  }

  close(): Promise<void> {
    // Queued writes are committed (or fail) before the database goes away.
    this.#closing ??= (async () => {
      for (let flush = this.#sqliteFlush; flush !== undefined; flush = this.#sqliteFlush) {
        await flush;
      }
      await this.#db.destroy();
    })();
    return this.#closing;
  }
}
