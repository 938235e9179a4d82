import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  isTesseraError,
  parseJwks,
  parsePayloadObject,
  signCompactJws,
  signingKeyFromPrivateKey,
  TesseraError,
  verifyCompactJws,
  type Clock,
  type KeyResolver,
  type SigningKey,
} from '@tessera/core';
import { decryptPrivateKey, parseKek, type KeyEncryptionKey } from '../keys/kek.ts';
import { readKekFile } from '../secret-files.ts';
import type { AuditRecord, Store } from '../store/types.ts';
import { verifyStoreAuditChain, type AuditAnchor, type AuditChainVerdict } from './chain.ts';

/** JWS `typ` of a signed chain head: not an access token, so no verifier can take it for one. */
export const AUDIT_HEAD_TYP = 'tessera-audit-head+jwt';

/** The audit record type that holds a signed head in the store. */
export const AUDIT_ANCHOR = 'audit.anchor';

/** What a signed head says: record `seq` of the log of `iss` had hash `hash` at `iat`. */
export interface SignedAuditHead extends AuditAnchor {
  readonly iss: string;
  /** Seconds since the epoch. */
  readonly iat: number;
  readonly kid: string;
}

/** Signs the chain head as a compact JWS (`typ` {@link AUDIT_HEAD_TYP}). */
export function signAuditHead(
  head: AuditAnchor,
  key: SigningKey,
  options: { readonly issuer: string; readonly atMs: number },
): string {
  return signCompactJws(
    { alg: key.alg, kid: key.kid, typ: AUDIT_HEAD_TYP },
    { iss: options.issuer, seq: head.seq, hash: head.hash, iat: Math.floor(options.atMs / 1000) },
    key,
  );
}

function invalid(detail: string): TesseraError {
  return new TesseraError('ERR_AUDIT_CHECKPOINT_INVALID', detail);
}

/**
 * Checks a signed head against `keys` (signature, algorithm, `kid`, `typ`) and reads it. Throws
 * `ERR_AUDIT_CHECKPOINT_INVALID` for anything else: a forged or altered file must not be read.
 */
export function readSignedAuditHead(jws: string, keys: KeyResolver): SignedAuditHead {
  let header;
  let payload: Record<string, unknown>;
  try {
    const verified = verifyCompactJws(jws.trim(), keys, { typ: [AUDIT_HEAD_TYP] });
    header = verified.header;
    payload = parsePayloadObject(verified.payload);
  } catch (error) {
    if (!isTesseraError(error)) throw error;
    throw invalid(`not a head signed by one of the authority's keys (${error.code})`);
  }
  const { iss, seq, hash, iat } = payload;
  if (
    typeof iss !== 'string' ||
    typeof seq !== 'number' ||
    !Number.isSafeInteger(seq) ||
    seq < 1 ||
    typeof hash !== 'string' ||
    !/^[0-9a-f]{64}$/.test(hash) ||
    typeof iat !== 'number' ||
    !Number.isSafeInteger(iat)
  ) {
    throw invalid('the signed head lacks iss, seq, hash or iat');
  }
  return { iss, seq, hash, iat, kid: header.kid };
}

/**
 * The keys a checkpoint may be signed with: the store's signing keys whose private part
 * decrypts under the key-encryption key and matches the kid. Someone who can rewrite the store
 * can add a public key of their own to it, but cannot encrypt its private part under the KEK, so
 * it is not trusted here. Public keys are derived from the decrypted private keys, not read.
 */
export async function auditAnchorKeys(
  store: Pick<Store, 'listSigningKeys'>,
  kek: KeyEncryptionKey,
): Promise<KeyResolver> {
  const keys = [];
  for (const record of await store.listSigningKeys()) {
    try {
      const key = signingKeyFromPrivateKey(
        decryptPrivateKey(kek, record.encryptedPrivateKey, record.kid),
        record.alg,
      );
      if (key.kid === record.kid) keys.push(key.publicJwk);
    } catch {
      // Not the authority's key (or not readable with this KEK): not trusted.
    }
  }
  return parseJwks({ keys });
}

/** {@link auditAnchorKeys} with the KEK read from `kekFile` (owner-only, like the authority). */
export async function loadAuditAnchorKeys(
  store: Pick<Store, 'listSigningKeys'>,
  kekFile: string,
): Promise<KeyResolver> {
  return auditAnchorKeys(store, parseKek(await readKekFile(kekFile), 'kekFile'));
}

/**
 * Writes `text` to `path` atomically with mode 0600: a temporary file in the same directory,
 * synced, then renamed over the old one. A reader sees the old head or the new one, never half.
 */
export async function writeFileAtomically(path: string, text: string): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(
    temporary,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    await handle.writeFile(text);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

export interface AuditAnchorDeps {
  readonly store: Pick<Store, 'auditHead' | 'appendAudit'>;
  readonly signingKey: () => SigningKey | Promise<SigningKey>;
  readonly clock: Clock;
  readonly issuer: string;
  /** Also write the signed head here, outside the store. */
  readonly file?: string;
}

/**
 * Signs the current chain head with the authority's signing key and records it: as an
 * `audit.anchor` record in the store (data `{ seq, hash, jws }`) and, when `file` is given, in
 * that file, replaced atomically. Someone who rewrites the store can rewrite in-store anchors
 * too (by deleting them); the file, kept where the store's writers cannot reach, is what
 * `tessera audit-log verify --checkpoint FILE` checks the store against.
 *
 * Does nothing when the head is already an anchor of the record before it (no new record since).
 * Returns the anchor record, or undefined when it did nothing.
 */
export async function anchorAuditHead(deps: AuditAnchorDeps): Promise<AuditRecord | undefined> {
  const head = await deps.store.auditHead();
  if (head === undefined) return undefined;
  if (head.type === AUDIT_ANCHOR && head.data.seq === head.seq - 1) return undefined;
  const atMs = deps.clock.now();
  const jws = signAuditHead(head, await deps.signingKey(), { issuer: deps.issuer, atMs });
  const record = await deps.store.appendAudit({
    atMs,
    type: AUDIT_ANCHOR,
    actor: 'system',
    data: { seq: head.seq, hash: head.hash, jws },
  });
  if (deps.file !== undefined) await writeFileAtomically(deps.file, `${jws}\n`);
  return record;
}

/** The outcome of checking a store against a signed head kept outside it. */
export interface AnchoredAuditVerdict {
  readonly head: SignedAuditHead;
  readonly verdict: AuditChainVerdict;
}

/**
 * Verifies the store's chain and that the record at the signed head's seq is still there with
 * the signed hash. Throws `ERR_AUDIT_CHECKPOINT_INVALID` when the head is not validly signed by
 * one of `keys` or names another issuer.
 */
export async function verifyAnchoredAuditChain(
  store: Pick<Store, 'listAudit'>,
  checkpoint: string,
  keys: KeyResolver,
  options: { readonly issuer?: string } = {},
): Promise<AnchoredAuditVerdict> {
  const head = readSignedAuditHead(checkpoint, keys);
  if (options.issuer !== undefined && head.iss !== options.issuer) {
    throw invalid(`the head was signed for ${head.iss}, not ${options.issuer}`);
  }
  return { head, verdict: await verifyStoreAuditChain(store, { anchor: head }) };
}
