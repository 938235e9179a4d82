import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '@tessera/core/testing';
import { verifyStoreAuditChain } from '../src/audit/chain.ts';
import { startTestAuthority } from '../src/testing/test-authority.ts';

const DAY_MS = 86_400_000;

describe('audit.retentionDays on a running authority', () => {
  it('prunes records older than the retention behind a checkpoint; the chain still verifies', async () => {
    const clock = new ManualClock(Date.now());
    const authority = await startTestAuthority({ clock, config: { audit: { retentionDays: 2 } } });
    try {
      const { store } = authority.running.context;
      await authority.register('billing', [], []);
      const old = await store.listAudit(0, 1000);
      assert.ok(old.length >= 2);

      clock.advance(DAY_MS);
      await authority.running.applyAuditRetention();
      assert.deepEqual(await store.listAudit(0, 1000), old, 'nothing is two days old yet');

      await authority.register('events', [], []);
      clock.advance(DAY_MS + 1);
      await authority.running.applyAuditRetention();
      const left = await store.listAudit(0, 1000);
      const checkpoint = left.at(-1);
      assert.equal(checkpoint?.type, 'audit.checkpoint');
      assert.equal(checkpoint.data.prunedThroughSeq, old.at(-1)?.seq);
      assert.equal(checkpoint.data.prunedThroughHash, old.at(-1)?.hash);
      assert.ok(
        left.every((record) => record.seq > (old.at(-1)?.seq ?? 0)),
        'the old records are gone',
      );
      assert.deepEqual(await verifyStoreAuditChain(store), { ok: true, count: left.length });
    } finally {
      await authority.close();
    }
  });

  it('keeps everything without retentionDays', async () => {
    const clock = new ManualClock(Date.now());
    const authority = await startTestAuthority({ clock });
    try {
      const { store } = authority.running.context;
      await authority.register('billing', [], []);
      const before = await store.listAudit(0, 1000);
      clock.advance(3650 * DAY_MS);
      await authority.running.applyAuditRetention();
      assert.deepEqual(await store.listAudit(0, 1000), before);
    } finally {
      await authority.close();
    }
  });
});
