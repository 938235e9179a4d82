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

/** The record type of a retention checkpoint (see `Store.pruneAudit`). */
export const AUDIT_CHECKPOINT = 'audit.checkpoint';

/**
 * Why a chain does not verify, for the first record that shows it:
 * - `altered`: the record's hash does not match its content;
 * - `missing`: one or more seq numbers are absent (the verdict names the first absent one), also
 *   at the start of a log unless a retention checkpoint in it vouches for what was pruned;
 * - `reordered`: the records are out of seq order: a seq that does not increase, or a jump ahead
 *   followed by a step back (the verdict names the seq expected where the order breaks);
 * - `broken-link`: `prevHash` is not the previous record's hash (or, for seq 1, not
 *   {@link GENESIS_HASH});
 * - `truncated`: the log ends before the seq of a signed head kept elsewhere (`anchor`);
 * - `anchor-mismatch`: the record at the anchor's seq has another hash: the log was rewritten;
 * - `anchor-pruned`: the anchor's record was pruned and no checkpoint says what its hash was.
 */
export type AuditChainFault =
  | 'altered'
  | 'missing'
  | 'reordered'
  | 'broken-link'
  | 'truncated'
  | 'anchor-mismatch'
  | 'anchor-pruned';

export type AuditChainVerdict =
  | { readonly ok: true; readonly count: number }
  | { readonly ok: false; readonly seq: number; readonly reason: AuditChainFault };

/** A chain head known from outside the log: the record `seq` had hash `hash`. */
export interface AuditAnchor {
  readonly seq: number;
  readonly hash: string;
}

function contentMatches(record: AuditRecord): boolean {
  try {
    return auditHash(record.prevHash, record) === record.hash;
  } catch {
    // Data that has no canonical JSON form cannot be what was hashed when it was appended.
    return false;
  }
}

/** What a retention checkpoint says was pruned, if the record is one. */
function prunedThrough(record: AuditRecord): AuditAnchor | undefined {
  if (record.type !== AUDIT_CHECKPOINT) return undefined;
  const { prunedThroughSeq: seq, prunedThroughHash: hash } = record.data;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || typeof hash !== 'string') {
    return undefined;
  }
  return { seq, hash };
}

/**
 * Checks a whole audit log, in the order given, and names the first bad record. Reads one record
 * ahead, to tell a record that arrives early (reordered) from one that never comes (missing);
 * memory stays constant however long the log is.
 *
 * A log whose oldest records were pruned (`Store.pruneAudit`) starts after seq 1: it verifies
 * when a retention checkpoint later in the chain names the seq and hash of the record just
 * before its first one. The checkpoint is covered by the chain after it, so it cannot be forged
 * or moved without that showing.
 *
 * A log cut short at the end still verifies, and so does one rewritten from some record on with
 * every later hash recomputed, by someone who can write the store. Give `anchor`, a head signed
 * and kept outside the store (`tessera audit-log verify --checkpoint`), to detect both up to it.
 *
 * @example
 * ```ts
 * const verdict = await verifyAuditChain(records);
 * if (!verdict.ok) console.error(`audit log ${verdict.reason} at seq ${verdict.seq}`);
 * ```
 */
export async function verifyAuditChain(
  records: AsyncIterable<AuditRecord> | Iterable<AuditRecord>,
  options: { readonly anchor?: AuditAnchor } = {},
): Promise<AuditChainVerdict> {
  const { anchor } = options;
  let previous: { seq: number; hash: string } | undefined;
  let count = 0;
  /** Where the log starts, and what checkpoints say about it (set by the closure below). */
  const start: {
    first?: { seq: number; prevHash: string };
    /** The checkpoint that vouches for a pruned start, once one is seen. */
    checkpoint?: AuditAnchor;
    /** A checkpoint names the seq before the start with another hash than the start links to. */
    contradicted: boolean;
    /** The latest pruning a checkpoint reports before the start (to name what is missing). */
    claimedBefore: number;
  } = { contradicted: false, claimedBefore: 0 };

  const check = (
    record: AuditRecord,
    next: AuditRecord | undefined,
  ): AuditChainVerdict | undefined => {
    if (!Number.isSafeInteger(record.seq) || (previous === undefined && record.seq < 1)) {
      return { ok: false, seq: previous === undefined ? 1 : previous.seq + 1, reason: 'altered' };
    }
    if (previous !== undefined) {
      const expected = previous.seq + 1;
      if (record.seq < expected) return { ok: false, seq: record.seq, reason: 'reordered' };
      if (record.seq > expected) {
        const stepsBack = next !== undefined && next.seq < record.seq;
        return { ok: false, seq: expected, reason: stepsBack ? 'reordered' : 'missing' };
      }
    } else if (next !== undefined && next.seq < record.seq) {
      return { ok: false, seq: next.seq, reason: 'reordered' };
    }
    if (!contentMatches(record)) return { ok: false, seq: record.seq, reason: 'altered' };
    if (previous === undefined) {
      start.first = { seq: record.seq, prevHash: record.prevHash };
      if (record.seq === 1 && record.prevHash !== GENESIS_HASH) {
        return { ok: false, seq: 1, reason: 'broken-link' };
      }
    } else if (record.prevHash !== previous.hash) {
      return { ok: false, seq: record.seq, reason: 'broken-link' };
    }
    if (anchor?.seq === record.seq && record.hash !== anchor.hash) {
      return { ok: false, seq: record.seq, reason: 'anchor-mismatch' };
    }
    const pruned = prunedThrough(record);
    const { first } = start;
    if (pruned !== undefined && first !== undefined && first.seq > 1) {
      if (pruned.seq === first.seq - 1) {
        if (pruned.hash === first.prevHash) start.checkpoint = pruned;
        else start.contradicted = true;
      } else if (pruned.seq < first.seq - 1) {
        start.claimedBefore = Math.max(start.claimedBefore, pruned.seq);
      }
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
  if (fault !== undefined) return fault;
  const { first, checkpoint } = start;
  if (first !== undefined && first.seq > 1 && checkpoint === undefined) {
    return start.contradicted
      ? { ok: false, seq: first.seq, reason: 'broken-link' }
      : { ok: false, seq: start.claimedBefore + 1, reason: 'missing' };
  }
  if (anchor !== undefined) {
    const lastSeq = previous?.seq ?? 0;
    if (anchor.seq > lastSeq) return { ok: false, seq: lastSeq + 1, reason: 'truncated' };
    if (first !== undefined && anchor.seq < first.seq) {
      const vouched = checkpoint?.seq === anchor.seq ? checkpoint : undefined;
      if (vouched === undefined) return { ok: false, seq: anchor.seq, reason: 'anchor-pruned' };
      if (vouched.hash !== anchor.hash) {
        return { ok: false, seq: anchor.seq, reason: 'anchor-mismatch' };
      }
    }
  }
  return { ok: true, count };
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
  options: { readonly pageSize?: number; readonly anchor?: AuditAnchor } = {},
): Promise<AuditChainVerdict> {
  const pageSize = options.pageSize ?? 500;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) {
    throw new TesseraError('ERR_CONFIG_INVALID', 'pageSize must be a positive integer');
  }
  return verifyAuditChain(
    pageThroughAudit(store, pageSize),
    options.anchor !== undefined ? { anchor: options.anchor } : {},
  );
}
