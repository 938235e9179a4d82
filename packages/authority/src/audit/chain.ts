import { createHash } from 'node:crypto';
import { TesseraError } from '@tessera/core';
import type { AuditEntry, AuditRecord, Store } from '../store/types.ts';

/** `prevHash` of the first record: there is nothing before it. */
export const GENESIS_HASH = '0'.repeat(64);

/** The fields a record's hash covers. */
export interface AuditHashInput extends AuditEntry {
  readonly seq: number;
}

type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

function serialize(value: JsonValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(serialize).join(',')}]`;
  // Default sort order is by UTF-16 code units, as RFC 8785 (JCS) §3.2.3 requires.
  const members = Object.keys(value)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${serialize(value[key] as JsonValue)}`);
  return `{${members.join(',')}}`;
}

/**
 * The one JSON text of a value: what `JSON.stringify` would keep (so `undefined` members go,
 * `toJSON` applies), with object keys sorted recursively and no whitespace. For JSON data this is
 * RFC 8785 (JCS) form, so anyone can recompute an audit hash without Tessera.
 *
 * Throws `ERR_CONFIG_INVALID` for a value with no JSON form (a function, a symbol, `undefined`);
 * `JSON.stringify` itself throws on a `bigint` or a cycle.
 */
export function canonicalJson(value: unknown): string {
  const text = JSON.stringify(value);
  if (typeof text !== 'string') {
    throw new TesseraError('ERR_CONFIG_INVALID', 'value has no JSON form');
  }
  // Parsing first turns whatever JSON.stringify accepted into plain JSON values, and builds
  // objects with own properties only (a "__proto__" key stays a key).
  return serialize(JSON.parse(text) as JsonValue);
}

/**
 * SHA-256 (hex) over `prevHash`, a newline and the canonical JSON of the record's
 * `{ seq, atMs, type, actor, data }`. `seq` is covered, so a record cannot be moved to another
 * place in the log without its hash changing.
 */
export function auditHash(prevHash: string, record: AuditHashInput): string {
  return auditHashOfCanonicalData(prevHash, record, canonicalJson(record.data));
}

/**
 * {@link auditHash} for a record whose `data` is already in canonical JSON (the append path
 * has it: it is the stored text), without canonicalising the data a second time. The members
 * are written in RFC 8785 order (actor, atMs, data, seq, type), so the text is byte for byte
 * what `canonicalJson` makes of the whole record.
 */
export function auditHashOfCanonicalData(
  prevHash: string,
  record: Omit<AuditHashInput, 'data'>,
  dataJson: string,
): string {
  const { seq, atMs, type, actor } = record;
  const text = `{"actor":${JSON.stringify(actor)},"atMs":${JSON.stringify(atMs)},"data":${dataJson},"seq":${JSON.stringify(seq)},"type":${JSON.stringify(type)}}`;
  return createHash('sha256').update(`${prevHash}\n${text}`, 'utf8').digest('hex');
}

/**
 * Why a chain does not verify, for the first record that shows it:
 * - `altered`: the record's hash does not match its content;
 * - `missing`: one or more seq numbers are absent (the verdict names the first absent one);
 * - `reordered`: the records are out of seq order: a seq that does not increase, or a jump ahead
 *   followed by a step back (the verdict names the seq expected where the order breaks);
 * - `broken-link`: `prevHash` is not the previous record's hash (or, for seq 1, not
 *   {@link GENESIS_HASH}).
 */
export type AuditChainFault = 'altered' | 'missing' | 'reordered' | 'broken-link';

export type AuditChainVerdict =
  | { readonly ok: true; readonly count: number }
  | { readonly ok: false; readonly seq: number; readonly reason: AuditChainFault };

function contentMatches(record: AuditRecord): boolean {
  try {
    return auditHash(record.prevHash, record) === record.hash;
  } catch {
    // Data that has no canonical JSON form cannot be what was hashed when it was appended.
    return false;
  }
}

/**
 * Checks a whole audit log, from seq 1, in the order given, and names the first bad record.
 * Reads one record ahead, to tell a record that arrives early (reordered) from one that never
 * comes (missing); memory stays constant however long the log is.
 *
 * A log cut short at the end still verifies: compare `count` (or the last hash) with a copy kept
 * elsewhere to detect that. So does a log whose last records were rewritten with recomputed
 * hashes by someone who can write the store; the chain makes any other edit visible.
 *
 * @example
 * ```ts
 * const verdict = await verifyAuditChain(records);
 * if (!verdict.ok) console.error(`audit log ${verdict.reason} at seq ${verdict.seq}`);
 * ```
 */
export async function verifyAuditChain(
  records: AsyncIterable<AuditRecord> | Iterable<AuditRecord>,
): Promise<AuditChainVerdict> {
  let previous: { seq: number; hash: string } | undefined;
  let count = 0;

  const check = (
    record: AuditRecord,
    next: AuditRecord | undefined,
  ): AuditChainVerdict | undefined => {
    const expected = previous === undefined ? 1 : previous.seq + 1;
    if (!Number.isSafeInteger(record.seq) || (previous === undefined && record.seq < 1)) {
      return { ok: false, seq: expected, reason: 'altered' };
    }
    if (record.seq < expected) return { ok: false, seq: record.seq, reason: 'reordered' };
    if (record.seq > expected) {
      const stepsBack = next !== undefined && next.seq < record.seq;
      return { ok: false, seq: expected, reason: stepsBack ? 'reordered' : 'missing' };
    }
    if (!contentMatches(record)) return { ok: false, seq: record.seq, reason: 'altered' };
    if (record.prevHash !== (previous?.hash ?? GENESIS_HASH)) {
      return { ok: false, seq: record.seq, reason: 'broken-link' };
    }
    previous = { seq: record.seq, hash: record.hash };
    count += 1;
    return undefined;
  };

  let pending: AuditRecord | undefined;
  for await (const record of records) {
    const fault = pending === undefined ? undefined : check(pending, record);
    if (fault !== undefined) return fault;
    pending = record;
  }
  const fault = pending === undefined ? undefined : check(pending, undefined);
  return fault ?? { ok: true, count };
}

async function* pageThroughAudit(
  store: Pick<Store, 'listAudit'>,
  pageSize: number,
): AsyncGenerator<AuditRecord> {
  let afterSeq = 0;
  for (;;) {
    const page = await store.listAudit(afterSeq, pageSize);
    yield* page;
    const last = page.at(-1);
    if (last === undefined || page.length < pageSize) return;
    afterSeq = last.seq;
  }
}

/** {@link verifyAuditChain} over a store's whole log, read `pageSize` records at a time. */
export function verifyStoreAuditChain(
  store: Pick<Store, 'listAudit'>,
  options: { readonly pageSize?: number } = {},
): Promise<AuditChainVerdict> {
  const pageSize = options.pageSize ?? 500;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) {
    throw new TesseraError('ERR_CONFIG_INVALID', 'pageSize must be a positive integer');
  }
  return verifyAuditChain(pageThroughAudit(store, pageSize));
}
