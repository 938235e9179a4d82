import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ManualClock } from '@tessera/core/testing';
import { RevocationSync } from '../src/index.ts';

const NOW_S = 1_795_435_200;
const BILLING = 'spiffe://tessera.local/billing';

/** One poll of `GET /v1/revocations` answered from `records`, with no network. */
async function syncedWith(records: readonly Record<string, unknown>[]): Promise<RevocationSync> {
  const sync = new RevocationSync({
    authorityUrl: 'https://127.0.0.1:1',
    clock: new ManualClock(NOW_S * 1000),
    authorization: () => 'Bearer test',
    fetch: () =>
      Promise.resolve(
        Response.json({
          cursor: records.length,
          revocations: records.map((record, i) => ({ id: i + 1, ...record })),
        }),
      ),
  });
  await sync.poll();
  return sync;
}

it('an svid record revokes that certificate serial, and only certificates', async () => {
  const sync = await syncedWith([{ kind: 'svid', value: '0a1b2c', expires_at: NOW_S + 3600 }]);
  assert.equal(sync.revocations.isCertificateRevoked('0a1b2c', BILLING, NOW_S - 60), true);
  assert.equal(sync.revocations.isCertificateRevoked('0a1b2d', BILLING, NOW_S - 60), false);
  assert.equal(sync.revocations.isRevoked('0a1b2c', BILLING, NOW_S - 60), false);
});

it('a subject record (a disabled service) revokes its certificates issued before the cut-off', async () => {
  const sync = await syncedWith([
    { kind: 'subject', value: BILLING, issued_at_or_before: NOW_S, expires_at: NOW_S + 3600 },
  ]);
  assert.equal(sync.revocations.isCertificateRevoked('01', BILLING, NOW_S - 60), true);
  assert.equal(sync.revocations.isCertificateRevoked('01', BILLING, NOW_S + 60), false);
});
