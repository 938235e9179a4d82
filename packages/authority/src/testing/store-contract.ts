import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { generateSigningKey, type Clock } from '@tessera/core';
import { ManualClock } from '@tessera/core/testing';
import { auditHash, GENESIS_HASH, verifyStoreAuditChain } from '../audit/chain.ts';
import type {
  AuditRecord,
  CaRecord,
  IssuedSvidRecord,
  JoinTokenRecord,
  ServiceRecord,
  SigningKeyRecord,
  Store,
} from '../store/types.ts';

/** Fixed start time for contract runs: 2026-11-23T12:00:00Z. */
const START_MS = 1_795_435_200_000;
const START_S = START_MS / 1000;
const DAY_MS = 86_400_000;
const DAY_S = 86_400;

/**
 * The behaviour every {@link Store} must have. Run it against each implementation:
 *
 * @example
 * ```ts
 * storeContract('SQLite (in-memory)', (clock) => openSqliteStore({ path: ':memory:', clock }));
 * ```
 *
 * Each case opens a store with `open` and closes it at the end. The store must take its time
 * from the clock `open` receives: the suite moves it to expire remembered assertions. `open` may return a fresh,
 * empty database every time or the same database again (a file, a PostgreSQL database), but
 * that database must be dedicated to the suite: cases use names unique to the run, yet the
 * audit-log cases check the whole chain and the purge case deletes whatever has expired.
 * Times are fixed values around 2026-11-23; except in the purge case, every row expires
 * within two days of that.
 */
export function storeContract(name: string, open: (clock: Clock) => Promise<Store>): void {
  // Distinct per run, so a database kept from an earlier run holds no name this one uses.
  const run = randomUUID().slice(0, 8);
  const unique = (label: string): string => `${label}-${run}`;

  async function withStore<T>(use: (store: Store, clock: ManualClock) => Promise<T>): Promise<T> {
    const clock = new ManualClock(START_MS);
    const store = await open(clock);
    try {
      return await use(store, clock);
    } finally {
      await store.close();
    }
  }

  /** `rememberAssertion` as seen at `nowSeconds`. */
  function remember(
    store: Store,
    clock: ManualClock,
    key: string,
    expiresAt: number,
    nowSeconds: number,
  ): Promise<boolean> {
    clock.set(nowSeconds * 1000);
    return store.rememberAssertion(key, expiresAt);
  }

  async function lastAudit(store: Store): Promise<AuditRecord | undefined> {
    let last: AuditRecord | undefined;
    for (;;) {
      const page = await store.listAudit(last?.seq ?? 0, 1000);
      if (page.length === 0) return last;
      last = page.at(-1);
    }
  }

  function service(label: string, overrides: Partial<ServiceRecord> = {}): ServiceRecord {
    const serviceName = unique(label);
    return {
      name: serviceName,
      spiffeId: `spiffe://tessera.local/${serviceName}`,
      enabled: true,
      grants: [
        { audience: 'spiffe://tessera.local/billing', scopes: ['invoices:write', '票務'] },
        {
          audience: 'spiffe://tessera.local/event-service',
          scopes: ['events:read', 'événements:écrire', '🎫:issue'],
        },
        { audience: 'spiffe://tessera.local/audit', scopes: [] },
      ],
      jwks: {
        keys: [generateSigningKey('ES256').publicJwk, generateSigningKey('EdDSA').publicJwk],
      },
      hosts: ['127.0.0.1', '::1', 'billing.internal'],
      createdAtMs: START_MS,
      updatedAtMs: START_MS,
      ...overrides,
    };
  }

  function signingKey(label: string, overrides: Partial<SigningKeyRecord> = {}): SigningKeyRecord {
    const key = generateSigningKey('ES256');
    const kid = unique(label);
    return {
      kid,
      alg: 'ES256',
      state: 'next',
      publicJwk: { ...key.publicJwk, kid },
      encryptedPrivateKey: `v1.${randomUUID()}.ciphertext`,
      createdAtMs: START_MS,
      activatesAtMs: START_MS + 3_600_000,
      retiredAtMs: null,
      publishUntilMs: null,
      ...overrides,
    };
  }

  function joinToken(label: string, overrides: Partial<JoinTokenRecord> = {}): JoinTokenRecord {
    return {
      id: unique(label),
      tokenHash: unique(`${label}-hash`),
      serviceName: unique('billing'),
      createdAtMs: START_MS,
      expiresAtMs: START_MS + 600_000,
      usedAtMs: null,
      ...overrides,
    };
  }

  function caRecord(label: string, overrides: Partial<CaRecord> = {}): CaRecord {
    return {
      id: unique(label),
      state: 'next',
      certificatePem: '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n',
      parentsPem: '',
      encryptedPrivateKey: `v1.${randomUUID()}.ciphertext`,
      notBeforeMs: START_MS - 60_000,
      notAfterMs: START_MS + 30 * DAY_MS,
      createdAtMs: START_MS,
      activatesAtMs: START_MS + DAY_MS,
      retiredAtMs: null,
      publishUntilMs: null,
      ...overrides,
    };
  }

  function svid(label: string, overrides: Partial<IssuedSvidRecord> = {}): IssuedSvidRecord {
    return {
      serialNumber: Buffer.from(unique(label)).toString('hex'),
      caId: unique('ca-of-svids'),
      serviceName: 'billing',
      spiffeId: 'spiffe://tessera.local/billing',
      issuedAtMs: START_MS,
      notAfterMs: START_MS + 3_600_000,
      revokedAtMs: null,
      ...overrides,
    };
  }

  void describe(`Store contract: ${name}`, () => {
    void describe('certificate authorities', () => {
      void it('stores CA records, lists them oldest first and updates their state', async () => {
        await withStore(async (store) => {
          const older = caRecord('ca-a', { state: 'active', activatesAtMs: START_MS });
          const newer = caRecord('ca-b', { createdAtMs: START_MS + 1, parentsPem: 'root pem' });
          await store.insertCa(newer);
          await store.insertCa(older);
          const mine = (await store.listCas()).filter(
            (r) => r.id === older.id || r.id === newer.id,
          );
          assert.deepEqual(mine, [older, newer]);
          await store.updateCa(older.id, {
            state: 'retired',
            retiredAtMs: START_MS + 5,
            publishUntilMs: START_MS + 3_600_000,
          });
          await store.updateCa(newer.id, { state: 'active', activatesAtMs: START_MS + 5 });
          const after = (await store.listCas()).filter(
            (r) => r.id === older.id || r.id === newer.id,
          );
          assert.deepEqual(after, [
            {
              ...older,
              state: 'retired',
              retiredAtMs: START_MS + 5,
              publishUntilMs: START_MS + 3_600_000,
            },
            { ...newer, state: 'active', activatesAtMs: START_MS + 5 },
          ]);
          await assert.rejects(store.insertCa(older));
        });
      });

      void it('refuses a state outside next, active, retired', async () => {
        await withStore(async (store) => {
          await assert.rejects(
            store.insertCa(caRecord('ca-bad', { state: 'revoked' as CaRecord['state'] })),
          );
        });
      });
    });

    void describe('issued SVIDs', () => {
      void it('records SVIDs, revokes one once, and lists revoked ones per CA until they expire', async () => {
        await withStore(async (store) => {
          const caId = unique('ca-revoke');
          const kept = svid('svid-kept', { caId });
          const revoked = svid('svid-revoked', { caId, notAfterMs: START_MS + 7_200_000 });
          const otherCa = svid('svid-other-ca', { caId: unique('ca-other') });
          for (const record of [kept, revoked, otherCa]) await store.recordSvid(record);
          await assert.rejects(store.recordSvid(kept));
          assert.deepEqual(await store.getSvid(kept.serialNumber), kept);
          assert.deepEqual(await store.revokeSvid(revoked.serialNumber, START_MS + 10), {
            ...revoked,
            revokedAtMs: START_MS + 10,
          });
          // The first revocation time stays.
          assert.equal(
            (await store.revokeSvid(revoked.serialNumber, START_MS + 20))?.revokedAtMs,
            START_MS + 10,
          );
          await store.revokeSvid(otherCa.serialNumber, START_MS + 10);
          assert.deepEqual(
            (await store.listRevokedSvids(caId, START_MS + 100)).map((r) => r.serialNumber),
            [revoked.serialNumber],
          );
          assert.deepEqual(await store.listRevokedSvids(caId, revoked.notAfterMs), []);
          assert.equal(await store.revokeSvid(unique('no-such-serial'), START_MS), undefined);
          // An expired certificate needs no revocation.
          assert.equal(await store.revokeSvid(kept.serialNumber, kept.notAfterMs), undefined);
        });
      });

      void it('revokes every current SVID of one SPIFFE ID issued until a moment', async () => {
        await withStore(async (store) => {
          const caId = unique('ca-service-revoke');
          const spiffeId = `spiffe://tessera.local/${unique('disabled')}`;
          const older = svid('svid-s1', { caId, spiffeId, issuedAtMs: START_MS });
          const newer = svid('svid-s2', { caId, spiffeId, issuedAtMs: START_MS + 50 });
          const expired = svid('svid-s3', { caId, spiffeId, notAfterMs: START_MS + 5 });
          const other = svid('svid-s4', { caId });
          for (const record of [older, newer, expired, other]) await store.recordSvid(record);
          assert.equal(await store.revokeSvidsOf(spiffeId, START_MS + 10), 1);
          assert.deepEqual(
            (await store.listRevokedSvids(caId, START_MS + 10)).map((r) => r.serialNumber),
            [older.serialNumber],
          );
          assert.equal((await store.getSvid(newer.serialNumber))?.revokedAtMs, null);
          assert.equal((await store.getSvid(other.serialNumber))?.revokedAtMs, null);
          assert.equal(await store.revokeSvidsOf(spiffeId, START_MS + 100), 1);
          assert.equal(await store.revokeSvidsOf(spiffeId, START_MS + 200), 0);
        });
      });

      void it("tells the latest expiry of a CA's SVIDs, null when none is kept", async () => {
        await withStore(async (store) => {
          const caId = unique('ca-latest');
          assert.equal(await store.latestSvidExpiry(caId), null);
          await store.recordSvid(svid('svid-l1', { caId, notAfterMs: START_MS + 5_000 }));
          await store.recordSvid(svid('svid-l2', { caId, notAfterMs: START_MS + 9_000 }));
          await store.recordSvid(svid('svid-l3', { caId, notAfterMs: START_MS + 7_000 }));
          assert.equal(await store.latestSvidExpiry(caId), START_MS + 9_000);
        });
      });
    });

    void describe('bundle sequence', () => {
      void it('moves forward when the digest changes and stays put when it does not', async () => {
        await withStore(async (store) => {
          const first = await store.bundleSequence(unique('digest-1'));
          assert.ok(first >= 1);
          assert.equal(await store.bundleSequence(unique('digest-1')), first);
          const second = await store.bundleSequence(unique('digest-2'));
          assert.equal(second, first + 1);
          const results = await Promise.all(
            Array.from({ length: 5 }, () => store.bundleSequence(unique('digest-3'))),
          );
          assert.ok(
            results.every((n) => n === second + 1),
            String(results),
          );
        });
      });
    });

    void it('answers ping while open and fails it once closed', async () => {
      const store = await open(new ManualClock(START_MS));
      await store.ping();
      await store.close();
      await assert.rejects(store.ping());
      await store.close();
    });

    void describe('services', () => {
      void it('stores a service and reads it back unchanged, JSON and unicode included', async () => {
        await withStore(async (store) => {
          const record = service('svc-roundtrip');
          await store.upsertService(record);
          assert.deepEqual(await store.getService(record.name), record);
          assert.equal(await store.getService(unique('svc-unknown')), undefined);
        });
      });

      void it('replaces a service matched on its name', async () => {
        await withStore(async (store) => {
          const first = service('svc-replace');
          await store.upsertService(first);
          const second = service('svc-replace', {
            enabled: false,
            grants: [{ audience: 'spiffe://tessera.local/billing', scopes: ['only:this'] }],
            jwks: { keys: [] },
            updatedAtMs: START_MS + 5_000,
          });
          await store.upsertService(second);
          assert.deepEqual(await store.getService(first.name), second);
          const listed = (await store.listServices()).filter((s) => s.name === first.name);
          assert.deepEqual(listed, [second]);
        });
      });

      void it('keeps each audience with its own scopes, in order, and no grants at all', async () => {
        await withStore(async (store) => {
          const record = service('svc-grants');
          await store.upsertService(record);
          const read = await store.getService(record.name);
          assert.deepEqual(read?.grants, record.grants);
          // A scope granted for one audience is not granted for another (review finding 8).
          const billing = read.grants.find((g) => g.audience.endsWith('/billing'));
          assert.deepEqual(billing?.scopes, ['invoices:write', '票務']);
          const none = service('svc-no-grants', { grants: [] });
          await store.upsertService(none);
          assert.deepEqual((await store.getService(none.name))?.grants, []);
        });
      });

      void it('keeps the client authentication method and bound-token requirement, and clears them', async () => {
        await withStore(async (store) => {
          const record = service('svc-mtls', {
            tokenEndpointAuthMethod: 'tls_client_auth',
            boundTokens: true,
          });
          await store.upsertService(record);
          assert.deepEqual(await store.getService(record.name), record);
          const plain = service('svc-mtls', { name: record.name, spiffeId: record.spiffeId });
          await store.upsertService(plain);
          const read = await store.getService(record.name);
          assert.equal(read?.tokenEndpointAuthMethod, undefined);
          assert.equal(read?.boundTokens, undefined);
        });
      });

      void it('lists services in name order', async () => {
        await withStore(async (store) => {
          const records = ['svc-list-c', 'svc-list-a', 'svc-list-b'].map((label) => service(label));
          for (const record of records) await store.upsertService(record);
          const names = new Set(records.map((record) => record.name));
          const listed = (await store.listServices()).filter((s) => names.has(s.name));
          assert.deepEqual(
            listed.map((s) => s.name),
            [...names].sort(),
          );
        });
      });

      void it('disables and re-enables a service, and reports an unknown one', async () => {
        await withStore(async (store) => {
          const record = service('svc-toggle');
          await store.upsertService(record);
          assert.equal(await store.setServiceEnabled(record.name, false, START_MS + 1_000), true);
          assert.deepEqual(await store.getService(record.name), {
            ...record,
            enabled: false,
            updatedAtMs: START_MS + 1_000,
          });
          assert.equal(await store.setServiceEnabled(record.name, true, START_MS + 2_000), true);
          assert.deepEqual(await store.getService(record.name), {
            ...record,
            enabled: true,
            updatedAtMs: START_MS + 2_000,
          });
          assert.equal(
            await store.setServiceEnabled(unique('svc-missing'), false, START_MS),
            false,
          );
          assert.equal(await store.getService(unique('svc-missing')), undefined);
        });
      });

      void it('replaces a service key set only while it is the one read (compare-and-set)', async () => {
        await withStore(async (store) => {
          const record = service('svc-rotate');
          await store.upsertService(record);
          const read = await store.getService(record.name);
          assert.ok(read !== undefined);
          const newKey = generateSigningKey('ES256').publicJwk;
          const kept = read.jwks.keys[1];
          assert.ok(kept !== undefined);
          const next = { keys: [kept, newKey] };
          assert.equal(
            await store.replaceServiceJwks(record.name, read.jwks, next, START_MS + 1_000),
            true,
          );
          assert.deepEqual(await store.getService(record.name), {
            ...record,
            jwks: next,
            updatedAtMs: START_MS + 1_000,
          });
          // A second change from the same (now stale) read loses: nothing is overwritten.
          const other = { keys: [generateSigningKey('EdDSA').publicJwk] };
          assert.equal(
            await store.replaceServiceJwks(record.name, read.jwks, other, START_MS + 2_000),
            false,
          );
          assert.deepEqual((await store.getService(record.name))?.jwks, next);
          assert.equal(
            await store.replaceServiceJwks(unique('svc-missing'), read.jwks, other, START_MS),
            false,
          );
        });
      });
    });

    void describe('signing keys', () => {
      const mine = async (store: Store, prefix: string): Promise<SigningKeyRecord[]> =>
        (await store.listSigningKeys()).filter((key) => key.kid.startsWith(prefix));

      void it('stores keys and lists them oldest first', async () => {
        await withStore(async (store) => {
          const newer = signingKey('key-list-a', { createdAtMs: START_MS + 10 });
          const older = signingKey('key-list-b', {
            state: 'active',
            retiredAtMs: START_MS + 99,
            publishUntilMs: START_MS + 199,
          });
          await store.insertSigningKey(newer);
          await store.insertSigningKey(older);
          assert.deepEqual(await mine(store, 'key-list-'), [older, newer]);
        });
      });

      void it('refuses a second key with the same kid', async () => {
        await withStore(async (store) => {
          const key = signingKey('key-dup');
          await store.insertSigningKey(key);
          await assert.rejects(store.insertSigningKey({ ...key, state: 'active' }));
          assert.deepEqual(await mine(store, 'key-dup'), [key]);
        });
      });

      void it('updates only the fields a patch names, including back to null', async () => {
        await withStore(async (store) => {
          const key = signingKey('key-patch');
          await store.insertSigningKey(key);

          await store.updateSigningKey(key.kid, { state: 'active', activatesAtMs: START_MS + 7 });
          let expected: SigningKeyRecord = { ...key, state: 'active', activatesAtMs: START_MS + 7 };
          assert.deepEqual(await mine(store, 'key-patch'), [expected]);

          await store.updateSigningKey(key.kid, {
            state: 'retired',
            retiredAtMs: START_MS + 8,
            publishUntilMs: START_MS + 9,
          });
          expected = {
            ...expected,
            state: 'retired',
            retiredAtMs: START_MS + 8,
            publishUntilMs: START_MS + 9,
          };
          assert.deepEqual(await mine(store, 'key-patch'), [expected]);

          await store.updateSigningKey(key.kid, { retiredAtMs: null, publishUntilMs: null });
          expected = { ...expected, retiredAtMs: null, publishUntilMs: null };
          assert.deepEqual(await mine(store, 'key-patch'), [expected]);

          await store.updateSigningKey(key.kid, {});
          assert.deepEqual(await mine(store, 'key-patch'), [expected]);

          await store.updateSigningKey(unique('key-patch-unknown'), { state: 'revoked' });
          assert.deepEqual(await mine(store, 'key-patch'), [expected]);
        });
      });
    });

    void describe('client assertions (replay protection)', () => {
      void it('accepts the first use and refuses every replay while it is live', async () => {
        await withStore(async (store, clock) => {
          const key = unique('client|jti-1');
          assert.equal(await remember(store, clock, key, START_S + 60, START_S), true);
          assert.equal(await remember(store, clock, key, START_S + 60, START_S), false);
          assert.equal(await remember(store, clock, key, START_S + 600, START_S + 59), false);
        });
      });

      void it('treats an expired record as absent and records the new use', async () => {
        await withStore(async (store, clock) => {
          const key = unique('client|jti-expiring');
          assert.equal(await remember(store, clock, key, START_S + 60, START_S), true);
          assert.equal(await remember(store, clock, key, START_S + 120, START_S + 60), true);
          // The new record lives until its own expiry.
          assert.equal(await remember(store, clock, key, START_S + 180, START_S + 119), false);
          assert.equal(await remember(store, clock, key, START_S + 180, START_S + 120), true);
        });
      });

      void it('treats keys as opaque, exact strings', async () => {
        await withStore(async (store, clock) => {
          const base = unique('client|jti-opaque');
          const variants = [
            base,
            base.toUpperCase(),
            `${base} `,
            `${base}\n`,
            `${base}é`,
            `${base}e\u0301`,
            `${base}🎫`,
            `${base}${'x'.repeat(1000)}`,
          ];
          for (const variant of variants) {
            assert.equal(await remember(store, clock, variant, START_S + 60, START_S), true);
          }
          for (const variant of variants) {
            assert.equal(await remember(store, clock, variant, START_S + 60, START_S), false);
          }
        });
      });

      void it('lets exactly one of 50 concurrent first uses through', async () => {
        await withStore(async (store, clock) => {
          const key = unique('client|jti-race');
          const results = await Promise.all(
            Array.from({ length: 50 }, () => remember(store, clock, key, START_S + 60, START_S)),
          );
          assert.equal(results.filter(Boolean).length, 1);
        });
      });

      void it('lets exactly one of 50 concurrent reuses of an expired key through', async () => {
        await withStore(async (store, clock) => {
          const key = unique('client|jti-race-expired');
          assert.equal(await remember(store, clock, key, START_S + 60, START_S), true);
          const results = await Promise.all(
            Array.from({ length: 50 }, () =>
              remember(store, clock, key, START_S + 200, START_S + 100),
            ),
          );
          assert.equal(results.filter(Boolean).length, 1);
        });
      });
    });

    void describe('revocations', () => {
      void it('assigns increasing ids and lists entries after a cursor, in id order', async () => {
        await withStore(async (store) => {
          const jti = await store.addRevocation({
            kind: 'jti',
            value: unique('jti-revoked'),
            issuedAtOrBefore: null,
            expiresAt: START_S + 300,
            createdAtMs: START_MS,
          });
          const subject = await store.addRevocation({
            kind: 'subject',
            value: `spiffe://tessera.local/${unique('revoked-svc')}`,
            issuedAtOrBefore: START_S,
            expiresAt: START_S + 3600,
            createdAtMs: START_MS + 1,
          });
          assert.ok(Number.isSafeInteger(jti.id) && jti.id > 0);
          assert.ok(subject.id > jti.id);
          assert.deepEqual(subject, {
            id: subject.id,
            kind: 'subject',
            value: `spiffe://tessera.local/${unique('revoked-svc')}`,
            issuedAtOrBefore: START_S,
            expiresAt: START_S + 3600,
            createdAtMs: START_MS + 1,
          });
          assert.deepEqual(await store.listRevocations(jti.id - 1, START_S), [jti, subject]);
          assert.deepEqual(await store.listRevocations(jti.id, START_S), [subject]);
          assert.deepEqual(await store.listRevocations(subject.id, START_S), []);
        });
      });

      void it('keeps a withdrawn signing key (kind kid) like any other entry', async () => {
        await withStore(async (store) => {
          const kid = unique('withdrawn-kid');
          const stored = await store.addRevocation({
            kind: 'kid',
            value: kid,
            issuedAtOrBefore: null,
            expiresAt: START_S + 3600,
            createdAtMs: START_MS,
          });
          assert.deepEqual(stored, {
            id: stored.id,
            kind: 'kid',
            value: kid,
            issuedAtOrBefore: null,
            expiresAt: START_S + 3600,
            createdAtMs: START_MS,
          });
          assert.deepEqual(await store.listRevocations(stored.id - 1, START_S), [stored]);
        });
      });

      void it('keeps a revoked X.509-SVID serial (kind svid) like any other entry', async () => {
        await withStore(async (store) => {
          const serial = Buffer.from(unique('svid-serial')).toString('hex');
          const stored = await store.addRevocation({
            kind: 'svid',
            value: serial,
            issuedAtOrBefore: null,
            expiresAt: START_S + 3600,
            createdAtMs: START_MS,
          });
          assert.equal(stored.kind, 'svid');
          assert.deepEqual(await store.listRevocations(stored.id - 1, START_S), [stored]);
          await assert.rejects(
            store.addRevocation({
              kind: 'other' as 'svid',
              value: serial,
              issuedAtOrBefore: null,
              expiresAt: START_S + 3600,
              createdAtMs: START_MS,
            }),
          );
        });
      });

      void it('leaves out entries that have expired at the given time', async () => {
        await withStore(async (store) => {
          const short = await store.addRevocation({
            kind: 'jti',
            value: unique('jti-short'),
            issuedAtOrBefore: null,
            expiresAt: START_S + 60,
            createdAtMs: START_MS,
          });
          const long = await store.addRevocation({
            kind: 'jti',
            value: unique('jti-long'),
            issuedAtOrBefore: null,
            expiresAt: START_S + 120,
            createdAtMs: START_MS,
          });
          const since = short.id - 1;
          assert.deepEqual(await store.listRevocations(since, START_S + 59), [short, long]);
          assert.deepEqual(await store.listRevocations(since, START_S + 60), [long]);
          assert.deepEqual(await store.listRevocations(since, START_S + 120), []);
        });
      });

      void it('never hands out an id again, even after the newest entry is purged', async () => {
        await withStore(async (store) => {
          const first = await store.addRevocation({
            kind: 'jti',
            value: unique('jti-purged'),
            issuedAtOrBefore: null,
            expiresAt: START_S + DAY_S,
            createdAtMs: START_MS,
          });
          await store.purgeExpired(START_MS + DAY_MS);
          const second = await store.addRevocation({
            kind: 'jti',
            value: unique('jti-after-purge'),
            issuedAtOrBefore: null,
            expiresAt: START_S + 2 * DAY_S,
            createdAtMs: START_MS,
          });
          assert.ok(second.id > first.id, `${second.id} > ${first.id}`);
          assert.deepEqual(await store.listRevocations(first.id - 1, START_S), [second]);
        });
      });
    });

    void describe('join tokens', () => {
      void it('consumes a token once and marks when it was used', async () => {
        await withStore(async (store) => {
          const token = joinToken('join-once');
          await store.insertJoinToken(token);
          assert.deepEqual(await store.consumeJoinToken(token.tokenHash, START_MS + 5), {
            ...token,
            usedAtMs: START_MS + 5,
          });
          assert.equal(await store.consumeJoinToken(token.tokenHash, START_MS + 6), undefined);
          assert.equal(
            await store.consumeJoinToken(unique('join-unknown-hash'), START_MS),
            undefined,
          );
        });
      });

      void it('refuses a token at and after its expiry', async () => {
        await withStore(async (store) => {
          const expired = joinToken('join-expired');
          const edge = joinToken('join-edge');
          await store.insertJoinToken(expired);
          await store.insertJoinToken(edge);
          assert.equal(
            await store.consumeJoinToken(expired.tokenHash, expired.expiresAtMs),
            undefined,
          );
          assert.deepEqual(await store.consumeJoinToken(edge.tokenHash, edge.expiresAtMs - 1), {
            ...edge,
            usedAtMs: edge.expiresAtMs - 1,
          });
        });
      });

      void it('refuses a second token with the same hash', async () => {
        await withStore(async (store) => {
          const token = joinToken('join-dup');
          await store.insertJoinToken(token);
          await assert.rejects(store.insertJoinToken({ ...token, id: unique('join-dup-2') }));
        });
      });

      void it('hands a token to exactly one of 20 concurrent consumers', async () => {
        await withStore(async (store) => {
          const token = joinToken('join-race');
          await store.insertJoinToken(token);
          const results = await Promise.all(
            Array.from({ length: 20 }, (_, i) =>
              store.consumeJoinToken(token.tokenHash, START_MS + 10 + i),
            ),
          );
          const winners = results.filter((result) => result !== undefined);
          assert.equal(winners.length, 1);
          assert.deepEqual(winners[0], { ...token, usedAtMs: winners[0]?.usedAtMs });
        });
      });
    });

    void describe('audit log', () => {
      void it('appends hash-chained records and lists them in pages', async () => {
        await withStore(async (store) => {
          const before = await lastAudit(store);
          const start = before?.seq ?? 0;
          const first = await store.appendAudit({
            atMs: START_MS,
            type: 'service.registered',
            actor: 'admin',
            data: { service: unique('svc'), scopes: ['a', 'b'] },
          });
          assert.equal(first.seq, start + 1);
          assert.equal(first.prevHash, before?.hash ?? GENESIS_HASH);
          assert.equal(first.hash, auditHash(first.prevHash, first));
          assert.match(first.hash, /^[0-9a-f]{64}$/);

          const second = await store.appendAudit({
            atMs: START_MS + 1,
            type: 'token.issued',
            actor: `spiffe://tessera.local/${unique('svc')}`,
            data: {},
          });
          assert.equal(second.seq, start + 2);
          assert.equal(second.prevHash, first.hash);

          assert.deepEqual(await store.listAudit(start, 10), [first, second]);
          assert.deepEqual(await store.listAudit(start, 1), [first]);
          assert.deepEqual(await store.listAudit(first.seq, 10), [second]);
          assert.deepEqual(await store.listAudit(second.seq, 10), []);
          assert.deepEqual(await store.auditHead(), second);
          assert.deepEqual(await verifyStoreAuditChain(store), { ok: true, count: second.seq });
        });
      });

      void it('stores data as JSON: nesting and unicode kept, key order and undefined not', async () => {
        await withStore(async (store) => {
          const data = {
            zeta: 'last',
            alpha: { nested: [1, -2.5, 1e21, true, false, null, 'x'], empty: {} },
            text: 'événement 票 🎫 "quoted" \\ \n \u0000 \u2028',
            dropped: undefined,
          };
          const record = await store.appendAudit({
            atMs: START_MS,
            type: 'revocation.added',
            actor: 'system',
            data,
          });
          const kept: Record<string, unknown> = { ...data };
          delete kept.dropped;
          assert.deepEqual(record.data, kept);
          assert.deepEqual(await store.listAudit(record.seq - 1, 1), [record]);
          assert.equal(record.hash, auditHash(record.prevHash, record));
        });
      });

      void it('keeps one unbroken chain under 50 concurrent appends', async () => {
        await withStore(async (store) => {
          const start = (await lastAudit(store))?.seq ?? 0;
          const records = await Promise.all(
            Array.from({ length: 50 }, (_, i) =>
              store.appendAudit({
                atMs: START_MS + i,
                type: 'token.issued',
                actor: 'system',
                data: { i },
              }),
            ),
          );
          assert.deepEqual(
            records.map((record) => record.seq).sort((a, b) => a - b),
            Array.from({ length: 50 }, (_, i) => start + i + 1),
          );
          assert.deepEqual(
            await store.listAudit(start, 50),
            [...records].sort((a, b) => a.seq - b.seq),
          );
          assert.deepEqual(await verifyStoreAuditChain(store, { pageSize: 7 }), {
            ok: true,
            count: start + 50,
          });
        });
      });
    });

    void describe('audit retention (pruneAudit)', () => {
      /** Appends records at the given times, after everything already in the log. */
      async function appendAt(store: Store, times: readonly number[]): Promise<AuditRecord[]> {
        const records: AuditRecord[] = [];
        for (const atMs of times) {
          records.push(
            await store.appendAudit({
              atMs,
              type: 'token.issued',
              actor: 'system',
              data: { atMs },
            }),
          );
        }
        return records;
      }

      /** A time after every record in the log, so this case decides what is old. */
      async function freshBase(store: Store): Promise<number> {
        return Math.max(START_MS + 200 * DAY_MS, (await lastAudit(store))?.atMs ?? 0) + DAY_MS;
      }

      void it('prunes the oldest records behind a checkpoint from which the chain still verifies', async () => {
        await withStore(async (store) => {
          const base = await freshBase(store);
          const [, , third, fourth, fifth] = await appendAt(
            store,
            [1, 2, 3, 4, 5].map((i) => base + i),
          );
          assert.ok(third !== undefined && fourth !== undefined && fifth !== undefined);

          const checkpoint = await store.pruneAudit(base + 4, base + 10);
          assert.ok(checkpoint !== undefined);
          assert.equal(checkpoint.type, 'audit.checkpoint');
          assert.equal(checkpoint.actor, 'system');
          assert.equal(checkpoint.atMs, base + 10);
          assert.equal(checkpoint.seq, fifth.seq + 1);
          assert.equal(checkpoint.prevHash, fifth.hash);
          assert.equal(checkpoint.data.prunedThroughSeq, third.seq);
          assert.equal(checkpoint.data.prunedThroughHash, third.hash);
          assert.deepEqual(await store.listAudit(0, 10), [fourth, fifth, checkpoint]);
          assert.deepEqual(await verifyStoreAuditChain(store, { pageSize: 2 }), {
            ok: true,
            count: 3,
          });

          assert.equal(await store.pruneAudit(base + 4, base + 11), undefined, 'nothing is older');
          assert.deepEqual(await store.listAudit(0, 10), [fourth, fifth, checkpoint]);

          // Everything old, the first checkpoint included: the new checkpoint stands alone.
          const [sixth] = await appendAt(store, [base + 6]);
          const second = await store.pruneAudit(base + 100, base + 12);
          assert.ok(second !== undefined && sixth !== undefined);
          assert.equal(second.data.prunedThroughSeq, sixth.seq);
          assert.deepEqual(await store.listAudit(0, 10), [second]);
          assert.deepEqual(await verifyStoreAuditChain(store), { ok: true, count: 1 });
          // The log goes on from the checkpoint.
          const [next] = await appendAt(store, [base + 13]);
          assert.equal(next?.prevHash, second.hash);
          assert.deepEqual(await verifyStoreAuditChain(store), { ok: true, count: 2 });
        });
      });

      void it('prunes only a leading run: a record stamped late stops it; maxRecords caps it', async () => {
        await withStore(async (store) => {
          const base = await freshBase(store);
          await store.pruneAudit(base, base);
          const [first, late, third] = await appendAt(store, [base + 1, base + 500, base + 2]);
          assert.ok(first !== undefined && late !== undefined && third !== undefined);
          const checkpoint = await store.pruneAudit(base + 100, base + 600);
          assert.ok(checkpoint !== undefined);
          assert.equal(checkpoint.data.prunedThroughSeq, first.seq);
          assert.deepEqual((await store.listAudit(0, 3)).slice(0, 2), [late, third]);

          const more = await appendAt(
            store,
            [1, 2, 3].map((i) => base + 700 + i),
          );
          const capped = await store.pruneAudit(base + 10_000, base + 800, 2);
          assert.equal(capped?.data.prunedThroughSeq, third.seq, 'late and third: two records');
          const left = await store.listAudit(0, 10);
          assert.equal(left[0]?.seq, checkpoint.seq);
          assert.equal(left.length, 1 + more.length + 1);
          assert.equal((await verifyStoreAuditChain(store)).ok, true);
          await assert.rejects(store.pruneAudit(base, base, 0));
        });
      });

      void it('keeps one chain when pruning runs during 30 concurrent appends', async () => {
        await withStore(async (store) => {
          const base = await freshBase(store);
          await appendAt(store, [base + 1, base + 2]);
          const appends = Array.from({ length: 30 }, (_, i) =>
            store.appendAudit({ atMs: base + 1000 + i, type: 't', actor: 'system', data: { i } }),
          );
          const [checkpoint] = await Promise.all([
            store.pruneAudit(base + 500, base + 999),
            ...appends,
          ]);
          assert.ok(checkpoint !== undefined);
          assert.deepEqual(await verifyStoreAuditChain(store, { pageSize: 7 }), {
            ok: true,
            count: (await store.listAudit(0, 1000)).length,
          });
        });
      });
    });

    void it('purges exactly what has expired, and nothing that has not', async () => {
      await withStore(async (store, clock) => {
        // Far beyond every other case's rows, so the counts below are this case's alone.
        const base = START_MS + 100 * DAY_MS;
        const cutoff = base + 20 * DAY_MS;
        const soon = (base + 10 * DAY_MS) / 1000;
        const later = (base + 30 * DAY_MS) / 1000;
        await store.purgeExpired(base);

        const gone = unique('purge|assertion-gone');
        const kept = unique('purge|assertion-kept');
        assert.equal(await remember(store, clock, gone, soon, base / 1000), true);
        assert.equal(await remember(store, clock, kept, later, base / 1000), true);
        const revocation = (value: string, expiresAt: number) =>
          store.addRevocation({
            kind: 'jti',
            value: unique(value),
            issuedAtOrBefore: null,
            expiresAt,
            createdAtMs: base,
          });
        const goneRevocation = await revocation('purge-revocation-gone', soon);
        const keptRevocation = await revocation('purge-revocation-kept', later);
        const goneToken = joinToken('purge-token-gone', { expiresAtMs: soon * 1000 });
        const usedToken = joinToken('purge-token-used', {
          expiresAtMs: soon * 1000,
          usedAtMs: base,
        });
        const keptToken = joinToken('purge-token-kept', { expiresAtMs: later * 1000 });
        for (const token of [goneToken, usedToken, keptToken]) await store.insertJoinToken(token);
        const goneSvid = svid('purge-svid-gone', { notAfterMs: soon * 1000 });
        const keptSvid = svid('purge-svid-kept', { notAfterMs: later * 1000 });
        await store.recordSvid(goneSvid);
        await store.recordSvid(keptSvid);

        assert.equal(await store.purgeExpired(cutoff), 5);
        assert.equal(await store.purgeExpired(cutoff), 0);

        // Looked at from before the expiry, the purged rows are gone and the others are not.
        const then = base / 1000;
        assert.equal(await remember(store, clock, gone, soon, then), true);
        assert.equal(await remember(store, clock, kept, later, then), false);
        assert.deepEqual(await store.listRevocations(goneRevocation.id - 1, then), [
          keptRevocation,
        ]);
        assert.equal(await store.consumeJoinToken(goneToken.tokenHash, base), undefined);
        assert.notEqual(await store.consumeJoinToken(keptToken.tokenHash, base), undefined);
        assert.equal(await store.getSvid(goneSvid.serialNumber), undefined);
        assert.deepEqual(await store.getSvid(keptSvid.serialNumber), keptSvid);
      });
    });
  });
}
