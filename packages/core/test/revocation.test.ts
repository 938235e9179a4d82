import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ManualClock } from '../src/testing/manual-clock.ts';
import { TesseraError } from '../src/errors.ts';
import { MemoryRevocationSet } from '../src/revocation/memory.ts';
import { revocationSetContract } from '../src/testing/revocation-set-contract.ts';

revocationSetContract('MemoryRevocationSet', (clock) => new MemoryRevocationSet({ clock }));

it('MemoryRevocationSet forgets entries once what they cover has expired (plus grace)', () => {
  const start = 1_795_435_200;
  const clock = new ManualClock(start * 1000);
  const set = new MemoryRevocationSet({ clock, graceSeconds: 60 });
  set.revokeToken('a', start + 300);
  set.revokeSubject('spiffe://tessera.local/a', start, start + 600);
  assert.equal(set.size, 2);
  clock.set((start + 300 + 61) * 1000);
  assert.equal(set.isRevoked('zzz', 'spiffe://tessera.local/zzz', start), false);
  assert.equal(set.size, 1, 'the token entry is gone, the subject entry stays');
  clock.set((start + 600 + 61) * 1000);
  set.revokeToken('b', start + 1200);
  assert.equal(set.size, 1, 'only the new entry is left');
});

it('MemoryRevocationSet forgets a certificate revocation once the certificate expired (plus grace)', () => {
  const start = 1_795_435_200;
  const clock = new ManualClock(start * 1000);
  const set = new MemoryRevocationSet({ clock, graceSeconds: 60 });
  set.revokeCertificate('0a', start + 3600);
  clock.set((start + 3600 + 61) * 1000);
  assert.equal(set.isCertificateRevoked('0b', 'spiffe://tessera.local/b', start), false);
  assert.equal(set.size, 0);
});

it('MemoryRevocationSet refuses a negative grace period', () => {
  assert.throws(
    () => new MemoryRevocationSet({ clock: new ManualClock(0), graceSeconds: -1 }),
    (error: unknown) => error instanceof TesseraError && error.code === 'ERR_CONFIG_INVALID',
  );
});
