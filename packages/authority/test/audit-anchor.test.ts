import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateSigningKey, isTesseraError, signCompactJws } from '@tessera/core';
import BetterSqlite3 from 'better-sqlite3';
import {
  AUDIT_HEAD_TYP,
  loadAuditAnchorKeys,
  readSignedAuditHead,
  signAuditHead,
  verifyAnchoredAuditChain,
  type SignedAuditHead,
} from '../src/audit/anchor.ts';
import { auditHash, canonicalJson, type AuditChainVerdict } from '../src/audit/chain.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';
import type { AuditRecord } from '../src/store/types.ts';
import { startTestAuthority } from '../src/testing/test-authority.ts';

interface Row {
  seq: number;
  at_ms: number;
  type: string;
  actor: string;
  data: string;
  prev_hash: string;
  hash: string;
}

/**
 * What an intruder who can write the database and knows the hashing rule does: changes the rows
 * `edit` returns, then recomputes every hash from the first changed row on, so the chain links.
 */
function rewriteConsistently(db: BetterSqlite3.Database, edit: (rows: Row[]) => Row[]): void {
  const rows = edit(db.prepare('SELECT * FROM audit_log ORDER BY seq').all() as Row[]);
  db.exec('DELETE FROM audit_log');
  const insert = db.prepare(
    'INSERT INTO audit_log (seq, at_ms, type, actor, data, prev_hash, hash) VALUES (@seq, @at_ms, @type, @actor, @data, @prev_hash, @hash)',
  );
  let prevHash = rows[0]?.prev_hash ?? '0'.repeat(64);
  for (const row of rows) {
    const record = {
      seq: row.seq,
      atMs: row.at_ms,
      type: row.type,
      actor: row.actor,
      data: JSON.parse(row.data) as Record<string, unknown>,
    };
    const hash = auditHash(prevHash, record);
    insert.run({ ...row, data: canonicalJson(record.data), prev_hash: prevHash, hash });
    prevHash = hash;
  }
}

describe('anchored audit chain: a signed head kept outside the store', () => {
  let dir = '';
  let headSeq = 0;
  let checkpoint = '';
  let lastSeq = 0;
  let issuer = '';

  before(async () => {
    const authority = await startTestAuthority();
    let closed = false;
    try {
      issuer = authority.url;
      await authority.register('billing', [], []);
      await authority.register('events', ['billing'], []);
      await authority.running.anchorAudit();
      const anchorFile = join(authority.dataDir, 'audit-head.jws');
      checkpoint = await readFile(anchorFile, 'utf8');
      assert.equal((await stat(anchorFile)).mode & 0o777, 0o600);
      // Records after the signed head: the anchor record itself, and more.
      await authority.register('tickets', ['billing'], []);
      await authority.running.close();
      closed = true;
      dir = await mkdtemp(join(tmpdir(), 'tessera-anchor-'));
      await copyFile(join(authority.dataDir, 'tessera.db'), join(dir, 'tessera.db'));
      await copyFile(join(authority.dataDir, 'kek'), join(dir, 'kek'));
    } finally {
      // A failed step must not leave the authority listening: the file would never exit.
      if (!closed) await authority.running.close();
      await rm(authority.dataDir, { recursive: true, force: true });
    }
    const db = new BetterSqlite3(join(dir, 'tessera.db'), { readonly: true });
    lastSeq = (db.prepare('SELECT max(seq) AS seq FROM audit_log').get() as { seq: number }).seq;
    db.close();
    const payload = Buffer.from(checkpoint.split('.')[1] ?? '', 'base64url').toString();
    headSeq = (JSON.parse(payload) as { seq: number }).seq;
  });
  after(() => rm(dir, { recursive: true, force: true }));

  let copies = 0;
  /** A copy of the store, changed by `tamper`, checked against `file` (default: the real one). */
  async function check(
    tamper: (db: BetterSqlite3.Database) => void,
    file = checkpoint,
  ): Promise<{ head: SignedAuditHead; verdict: AuditChainVerdict }> {
    copies += 1;
    const path = join(dir, `copy-${copies}.db`);
    await copyFile(join(dir, 'tessera.db'), path);
    const db = new BetterSqlite3(path);
    try {
      tamper(db);
    } finally {
      db.close();
    }
    const store = await openSqliteStore({ path });
    try {
      const keys = await loadAuditAnchorKeys(store, join(dir, 'kek'));
      return await verifyAnchoredAuditChain(store, file, keys, { issuer });
    } finally {
      await store.close();
    }
  }

  it('signs the head on demand and at shutdown; an untouched store matches it', async () => {
    assert.ok(headSeq >= 3 && lastSeq >= headSeq + 3, `head ${headSeq}, last ${lastSeq}`);
    const { head, verdict } = await check(() => undefined);
    assert.equal(head.seq, headSeq);
    assert.equal(head.iss, issuer);
    assert.deepEqual(verdict, { ok: true, count: lastSeq });
    const db = new BetterSqlite3(join(dir, 'tessera.db'), { readonly: true });
    const anchors = db.prepare("SELECT data FROM audit_log WHERE type = 'audit.anchor'").all() as {
      data: string;
    }[];
    db.close();
    // One from anchorAudit(), one from close(); each holds the JWS it wrote.
    assert.equal(anchors.length, 2);
    assert.equal((JSON.parse(anchors[0]?.data ?? '{}') as { jws: string }).jws, checkpoint.trim());
  });

  const TAMPERING: readonly {
    name: string;
    tamper: (db: BetterSqlite3.Database) => void;
    verdict: () => AuditChainVerdict;
  }[] = [
    {
      name: 'a record before the signed head rewritten',
      tamper: (db) => db.exec(`UPDATE audit_log SET actor = 'mallory' WHERE seq = 2`),
      verdict: () => ({ ok: false, seq: 2, reason: 'altered' }),
    },
    {
      name: 'a record before the signed head rewritten, every later hash recomputed',
      tamper: (db) => {
        rewriteConsistently(db, (rows) =>
          rows.map((row) => (row.seq === 2 ? { ...row, actor: 'mallory' } : row)),
        );
      },
      verdict: () => ({ ok: false, seq: headSeq, reason: 'anchor-mismatch' }),
    },
    {
      name: 'a record after the signed head rewritten',
      tamper: (db) => db.exec(`UPDATE audit_log SET actor = 'mallory' WHERE seq = ${headSeq + 2}`),
      verdict: () => ({ ok: false, seq: headSeq + 2, reason: 'altered' }),
    },
    {
      name: 'the tail deleted, the signed head included',
      tamper: (db) => db.exec(`DELETE FROM audit_log WHERE seq >= ${headSeq - 1}`),
      verdict: () => ({ ok: false, seq: headSeq - 1, reason: 'truncated' }),
    },
    {
      name: 'the whole chain recomputed from the first record with one change',
      tamper: (db) => {
        rewriteConsistently(db, (rows) =>
          rows.map((row) => (row.seq === 1 ? { ...row, at_ms: row.at_ms + 1 } : row)),
        );
      },
      verdict: () => ({ ok: false, seq: headSeq, reason: 'anchor-mismatch' }),
    },
    {
      name: 'a record removed and the chain renumbered and recomputed',
      tamper: (db) => {
        rewriteConsistently(db, (rows) =>
          rows.filter((row) => row.seq !== 2).map((row, i) => ({ ...row, seq: i + 1 })),
        );
      },
      verdict: () => ({ ok: false, seq: headSeq, reason: 'anchor-mismatch' }),
    },
  ];
  for (const row of TAMPERING) {
    it(`detects ${row.name}`, async () => {
      assert.deepEqual((await check(row.tamper)).verdict, row.verdict());
    });
  }

  /** Forged or replaced checkpoint files, each refused before the chain is even compared. */
  const FORGED: readonly {
    name: string;
    file: () => string;
    tamper?: (db: BetterSqlite3.Database) => void;
  }[] = [
    {
      name: 'signed by a key that is not the authority’s, under the authority’s kid',
      file: () => {
        const header = JSON.parse(
          Buffer.from(checkpoint.split('.')[0] ?? '', 'base64url').toString(),
        ) as { kid: string };
        const key = generateSigningKey();
        return signCompactJws(
          { alg: 'ES256', kid: header.kid, typ: AUDIT_HEAD_TYP },
          { iss: issuer, seq: 1, hash: '0'.repeat(64), iat: 1 },
          key,
        );
      },
    },
    {
      name: 'with its payload changed (another seq) and the signature kept',
      file: () => {
        const [header, payload, signature] = checkpoint.trim().split('.');
        const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()) as {
          seq: number;
        };
        const changed = Buffer.from(JSON.stringify({ ...claims, seq: claims.seq - 1 })).toString(
          'base64url',
        );
        return `${header}.${changed}.${signature}`;
      },
    },
    {
      name: 'signed by a key the intruder added to the store',
      file: () => signAuditHead({ seq: 1, hash: '0'.repeat(64) }, intruderKey, { issuer, atMs: 0 }),
      tamper: (db) => {
        db.prepare(
          "INSERT INTO signing_keys (kid, alg, state, public_jwk, encrypted_private_key, created_at_ms, activates_at_ms) VALUES (?, 'ES256', 'active', ?, 'v1.AAAA.AAAA.AAAA', 0, 0)",
        ).run(intruderKey.kid, JSON.stringify(intruderKey.publicJwk));
      },
    },
    { name: 'that is no JWS at all', file: () => 'not-a-checkpoint\n' },
    {
      name: 'with alg none',
      file: () =>
        `${Buffer.from(JSON.stringify({ alg: 'none', typ: AUDIT_HEAD_TYP })).toString('base64url')}.${checkpoint.split('.')[1] ?? ''}.`,
    },
  ];
  const intruderKey = generateSigningKey();
  for (const row of FORGED) {
    it(`refuses a checkpoint file ${row.name}`, async () => {
      await assert.rejects(
        check(row.tamper ?? (() => undefined), row.file()),
        (error) => isTesseraError(error) && error.code === 'ERR_AUDIT_CHECKPOINT_INVALID',
      );
    });
  }

  it('refuses a head signed for another issuer', async () => {
    const store = await openSqliteStore({ path: join(dir, 'tessera.db') });
    try {
      const keys = await loadAuditAnchorKeys(store, join(dir, 'kek'));
      assert.equal(readSignedAuditHead(checkpoint, keys).seq, headSeq);
      await assert.rejects(
        verifyAnchoredAuditChain(store, checkpoint, keys, { issuer: 'https://elsewhere.example' }),
        (error) => isTesseraError(error) && error.code === 'ERR_AUDIT_CHECKPOINT_INVALID',
      );
    } finally {
      await store.close();
    }
  });

  it('does not sign again while nothing was appended after the last anchor', async () => {
    const authority = await startTestAuthority();
    try {
      await authority.running.anchorAudit();
      const records = async (): Promise<AuditRecord[]> =>
        authority.running.context.store.listAudit(0, 1000);
      const count = (await records()).length;
      await authority.running.anchorAudit();
      assert.equal((await records()).length, count);
    } finally {
      await authority.close();
    }
  });
});
