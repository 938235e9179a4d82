import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isTesseraError, parseX509Svid } from '@tessera/core';
import { ManualClock } from '@tessera/core/testing';
import { CertificateAuthority } from '../src/ca/certificate-authority.ts';
import { generateKek, parseKek } from '../src/keys/kek.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';
import type { Store } from '../src/store/types.ts';

const TD = 'tessera.local';
const HOUR_MS = 3_600_000;
/** Short schedule: SVIDs at most 1 h, CAs live 6 h, rotate every 4 h, published 1 h ahead. */
const OPTIONS = {
  trustDomain: TD,
  maxSvidLifetimeSeconds: 3600,
  defaultSvidLifetimeSeconds: 3600,
  caLifetimeSeconds: 6 * 3600,
  rotateEverySeconds: 4 * 3600,
  prepublishSeconds: 3600,
} as const;

function leafKey() {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
}

const issuerOf = (chainPem: string) => new X509Certificate(chainPem).issuer;

describe('CertificateAuthority: two instances sharing one store (replicas)', () => {
  let dir: string;
  let storeA: Store;
  let storeB: Store;
  const clock = new ManualClock(Date.parse('2026-12-07T12:00:00Z'));
  const kekBytes = generateKek();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-ca-'));
    const path = join(dir, 'shared.db');
    storeA = await openSqliteStore({ path, clock });
    storeB = await openSqliteStore({ path, clock });
  });
  after(async () => {
    await storeA.close();
    await storeB.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('agree on the CA, follow a rotation made by the other, and switch at the same moment', async () => {
    const a = new CertificateAuthority({ store: storeA, kek: parseKek(kekBytes), clock }, OPTIONS);
    const b = new CertificateAuthority({ store: storeB, kek: parseKek(kekBytes), clock }, OPTIONS);
    const created = await a.init();
    assert.equal(created.created.length, 1);
    const joined = await b.init();
    assert.deepEqual(joined.created, [], 'the second instance creates no CA of its own');
    assert.equal(a.bundlePem(), b.bundlePem());
    const first = await a.issueSvid({ spiffeId: `spiffe://${TD}/billing`, publicKey: leafKey() });
    const second = await b.issueSvid({ spiffeId: `spiffe://${TD}/api`, publicKey: leafKey() });
    assert.equal(issuerOf(first.chainPem), issuerOf(second.chainPem));

    // A rotates by hand; B learns of the next CA at its next tick and publishes it too.
    const { next } = await a.rotate();
    await b.tick();
    assert.equal(b.bundleCertificates().length, 2);
    assert.equal(a.bundlePem(), b.bundlePem());
    assert.equal(next.activatesAt * 1000, clock.now() + HOUR_MS);

    // Before activation both still sign with the old CA; from its activation time both sign
    // with the new one, without a tick in between.
    clock.advance(HOUR_MS - 1000);
    const late = await b.issueSvid({ spiffeId: `spiffe://${TD}/api`, publicKey: leafKey() });
    assert.equal(issuerOf(late.chainPem), issuerOf(first.chainPem));
    clock.advance(1000);
    const fromA = await a.issueSvid({ spiffeId: `spiffe://${TD}/billing`, publicKey: leafKey() });
    const fromB = await b.issueSvid({ spiffeId: `spiffe://${TD}/api`, publicKey: leafKey() });
    assert.notEqual(issuerOf(fromA.chainPem), issuerOf(first.chainPem));
    assert.equal(issuerOf(fromA.chainPem), issuerOf(fromB.chainPem));

    // The old CA stays published until the last SVID it signed (`late`, issued by B) expires.
    await a.tick();
    await b.tick();
    const retired = a.show().find((ca) => ca.role === 'retired');
    assert.equal(retired?.publishUntil, late.expiresAt);
    assert.equal(a.bundleCertificates().length, 2);
    clock.set(late.expiresAt * 1000 + 1000);
    await a.tick();
    await b.tick();
    assert.equal(a.bundleCertificates().length, 1);
    assert.equal(a.bundlePem(), b.bundlePem());
  });

  it('never issues beyond the signing CA’s notAfter', async () => {
    const ca = new CertificateAuthority({ store: storeA, kek: parseKek(kekBytes), clock }, OPTIONS);
    await ca.init();
    const active = ca.show().find((c) => c.role === 'active');
    assert.ok(active !== undefined);
    // Ten minutes before the active CA expires (no tick: the schedule would have rotated).
    clock.set((active.notAfter - 600) * 1000);
    const svid = await ca.issueSvid({
      spiffeId: `spiffe://${TD}/billing`,
      publicKey: leafKey(),
      lifetimeSeconds: 3600,
    });
    const info = parseX509Svid(new Uint8Array(new X509Certificate(svid.certificatePem).raw));
    assert.ok(info.notAfter <= active.notAfter, `${info.notAfter} > ${active.notAfter}`);
  });

  it('refuses to load CA keys under another key-encryption key', async () => {
    const other = new CertificateAuthority(
      { store: storeB, kek: parseKek(generateKek()), clock },
      OPTIONS,
    );
    await assert.rejects(
      other.init(),
      (error: unknown) => isTesseraError(error) && error.code === 'ERR_CONFIG_INVALID',
    );
  });

  it('refuses a schedule whose parts do not fit together', () => {
    for (const bad of [
      { prepublishSeconds: 60 },
      { rotateEverySeconds: 6 * 3600 },
      { caLifetimeSeconds: 2 * 3600 },
      { defaultSvidLifetimeSeconds: 7200 },
    ]) {
      assert.throws(
        () =>
          new CertificateAuthority(
            { store: storeA, kek: parseKek(kekBytes), clock },
            { ...OPTIONS, ...bad },
          ),
        (error: unknown) => isTesseraError(error) && error.code === 'ERR_CONFIG_INVALID',
        JSON.stringify(bad),
      );
    }
  });
});
