import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from './manual-clock.ts';
import type { RevocationSet } from '../revocation/set.ts';

/** Fixed start time for contract runs: 2026-11-23T12:00:00Z. */
const START_S = 1_795_435_200;

/**
 * The behaviour every {@link RevocationSet} must have. Run it against each implementation:
 *
 * @example
 * ```ts
 * revocationSetContract('MemoryRevocationSet', (clock) => new MemoryRevocationSet({ clock }));
 * ```
 *
 * `factory` receives a clock the suite controls; implementations must read time only from it.
 */
export function revocationSetContract(
  name: string,
  factory: (clock: ManualClock) => RevocationSet | Promise<RevocationSet>,
): void {
  describe(`RevocationSet contract: ${name}`, () => {
    async function fresh(): Promise<{ set: RevocationSet; clock: ManualClock }> {
      const clock = new ManualClock(START_S * 1000);
      return { set: await factory(clock), clock };
    }

    it('knows nothing at first', async () => {
      const { set } = await fresh();
      assert.equal(set.isRevoked('jti-1', 'spiffe://tessera.local/a', START_S), false);
    });

    it('revokes one token by jti and no other', async () => {
      const { set } = await fresh();
      set.revokeToken('jti-1', START_S + 300);
      assert.equal(set.isRevoked('jti-1', 'spiffe://tessera.local/a', START_S), true);
      assert.equal(set.isRevoked('jti-2', 'spiffe://tessera.local/a', START_S), false);
    });

    it('revokes a subject for tokens issued at or before the cut-off only', async () => {
      const { set } = await fresh();
      set.revokeSubject('spiffe://tessera.local/a', START_S, START_S + 3600);
      assert.equal(set.isRevoked('x', 'spiffe://tessera.local/a', START_S - 10), true);
      assert.equal(set.isRevoked('x', 'spiffe://tessera.local/a', START_S), true);
      assert.equal(set.isRevoked('x', 'spiffe://tessera.local/a', START_S + 1), false);
      assert.equal(set.isRevoked('x', 'spiffe://tessera.local/b', START_S - 10), false);
    });

    it('never shrinks a subject revocation when an earlier cut-off arrives later', async () => {
      const { set } = await fresh();
      set.revokeSubject('spiffe://tessera.local/a', START_S + 100, START_S + 3700);
      set.revokeSubject('spiffe://tessera.local/a', START_S, START_S + 3600);
      assert.equal(set.isRevoked('x', 'spiffe://tessera.local/a', START_S + 50), true);
    });

    it('revokes one certificate by serial number and no other', async () => {
      const { set } = await fresh();
      set.revokeCertificate('0a1b2c', START_S + 3600);
      assert.equal(set.isCertificateRevoked('0a1b2c', 'spiffe://tessera.local/a', START_S), true);
      assert.equal(set.isCertificateRevoked('0a1b2d', 'spiffe://tessera.local/a', START_S), false);
      // Serials and jtis are separate namespaces: a jti equal to a serial revokes no certificate.
      set.revokeToken('ffee', START_S + 300);
      assert.equal(set.isCertificateRevoked('ffee', 'spiffe://tessera.local/a', START_S), false);
      assert.equal(set.isRevoked('0a1b2c', 'spiffe://tessera.local/a', START_S), false);
    });

    it('revokes the certificates of a subject valid from at or before the cut-off', async () => {
      const { set } = await fresh();
      set.revokeSubject('spiffe://tessera.local/a', START_S, START_S + 3600);
      assert.equal(set.isCertificateRevoked('01', 'spiffe://tessera.local/a', START_S - 60), true);
      assert.equal(set.isCertificateRevoked('01', 'spiffe://tessera.local/a', START_S), true);
      assert.equal(set.isCertificateRevoked('01', 'spiffe://tessera.local/a', START_S + 1), false);
      assert.equal(set.isCertificateRevoked('01', 'spiffe://tessera.local/b', START_S - 60), false);
    });

    it('keeps a certificate revocation for as long as the certificate is valid', async () => {
      const { set, clock } = await fresh();
      set.revokeCertificate('0a1b2c', START_S + 3600);
      clock.set((START_S + 3630) * 1000);
      assert.equal(set.isCertificateRevoked('0a1b2c', 'spiffe://tessera.local/a', START_S), true);
    });

    it('keeps a revocation for as long as the token it covers could still verify', async () => {
      const { set, clock } = await fresh();
      set.revokeToken('jti-1', START_S + 300);
      set.revokeSubject('spiffe://tessera.local/a', START_S, START_S + 300);
      // Up to expiry plus the largest verifier clock tolerance (30 s).
      clock.set((START_S + 330) * 1000);
      assert.equal(set.isRevoked('jti-1', 'spiffe://tessera.local/z', START_S), true);
      assert.equal(set.isRevoked('other', 'spiffe://tessera.local/a', START_S), true);
    });
  });
}
