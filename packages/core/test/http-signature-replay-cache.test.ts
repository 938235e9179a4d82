import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { describe, it } from 'node:test';

import { ManualClock } from '../src/testing/manual-clock.ts';
import {
  createSignatureBase,
  serializeSignatureParameters,
  type SignatureParameterName,
} from '../src/http-signature/base.ts';
import {
  MemoryReplayCache,
  signRequest,
  verifyRequestSignature,
  type ReplayCache,
} from '../src/http-signature/index.ts';
import { replayCacheContract } from '../src/testing/replay-cache-contract.ts';
import {
  assertRejectsWith,
  CLIENT_COMPONENTS,
  generateKeys,
  invoiceRequest,
  keyResolver,
  newClock,
} from './support/http-signature-fixture.ts';

replayCacheContract('MemoryReplayCache', (clock) => new MemoryReplayCache({ clock }));
replayCacheContract(
  'MemoryReplayCache (maxEntries 64)',
  (clock) => new MemoryReplayCache({ clock, maxEntries: 64 }),
);

void describe('MemoryReplayCache', () => {
  void it('fails closed when full: refuses new keys, keeps the live ones, recovers as they expire', async () => {
    const clock = new ManualClock(0);
    const cache = new MemoryReplayCache({ clock, maxEntries: 3 });
    assert.equal(await cache.useOnce('a', 1_000), true);
    assert.equal(await cache.useOnce('b', 2_000), true);
    assert.equal(await cache.useOnce('c', 3_000), true);
    await assertRejectsWith(() => cache.useOnce('d', 3_000), 'ERR_SIG_REPLAY');
    // Nothing was evicted to make room: every live key is still refused.
    for (const key of ['a', 'b', 'c']) assert.equal(await cache.useOnce(key, 3_000), false);
    clock.set(1_000);
    assert.equal(await cache.useOnce('d', 3_000), true);
    await assertRejectsWith(() => cache.useOnce('e', 3_000), 'ERR_SIG_REPLAY');
    assert.equal(cache.size, 3);
  });

  void it('does not hold keys that are already past their expiry', async () => {
    const cache = new MemoryReplayCache({ clock: new ManualClock(10_000), maxEntries: 1 });
    assert.equal(await cache.useOnce('old', 10_000), true);
    assert.equal(cache.size, 0);
    assert.equal(await cache.useOnce('new', 20_000), true);
  });

  void it('drops keys in expiry order whatever their insertion order (checked against a model)', async () => {
    // mulberry32, seeded: a deterministic mix of expiries and clock moves.
    let seed = 0x9e3779b9;
    const random = (): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
    const clock = new ManualClock(0);
    const cache = new MemoryReplayCache({ clock, maxEntries: 100_000 });
    const model = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const key = `k${Math.floor(random() * 3_000)}`;
      const expiresAt = clock.now() + 1 + Math.floor(random() * 5_000);
      const live = (model.get(key) ?? -1) > clock.now();
      assert.equal(await cache.useOnce(key, expiresAt), !live, `step ${i}`);
      if (!live) model.set(key, expiresAt);
      if (random() < 0.3) clock.advance(Math.floor(random() * 200));
    }
    const now = clock.now();
    assert.equal(cache.size, [...model.values()].filter((expiresAt) => expiresAt > now).length);
  });

  const badOptions: readonly { readonly name: string; readonly maxEntries: number }[] = [
    { name: 'zero', maxEntries: 0 },
    { name: 'negative', maxEntries: -1 },
    { name: 'fractional', maxEntries: 1.5 },
    { name: 'NaN', maxEntries: Number.NaN },
    { name: 'Infinity', maxEntries: Infinity },
  ];
  for (const row of badOptions) {
    void it(`maxEntries ${row.name} → ERR_CONFIG_INVALID`, async () => {
      await assertRejectsWith(
        () => new MemoryReplayCache({ clock: new ManualClock(0), maxEntries: row.maxEntries }),
        'ERR_CONFIG_INVALID',
      );
    });
  }

  void it('a non-finite expiry is refused, not stored forever', async () => {
    const cache = new MemoryReplayCache({ clock: new ManualClock(0) });
    await assertRejectsWith(() => cache.useOnce('k', Infinity), 'ERR_CONFIG_INVALID');
    await assertRejectsWith(() => cache.useOnce('k', Number.NaN), 'ERR_CONFIG_INVALID');
  });
});

void describe('the verifier fails closed when its replay cache cannot answer', () => {
  const key = generateKeys().ed25519;
  const caches: readonly { readonly name: string; readonly cache: ReplayCache }[] = [
    {
      name: 'a full cache',
      cache: new MemoryReplayCache({ clock: new ManualClock(0), maxEntries: 1 }),
    },
    {
      name: 'a cache that rejects',
      cache: {
        useOnce: () => Promise.reject(new Error('connection refused')),
      },
    },
    {
      name: 'a cache that throws synchronously',
      cache: {
        useOnce: () => {
          throw new Error('connection refused');
        },
      },
    },
    { name: 'a cache that always says "seen"', cache: { useOnce: () => Promise.resolve(false) } },
  ];
  for (const row of caches) {
    void it(`${row.name} → ERR_SIG_REPLAY`, async () => {
      const clock = newClock();
      if (row.cache instanceof MemoryReplayCache) {
        await row.cache.useOnce('filler', Number.MAX_SAFE_INTEGER);
      }
      const fields = signRequest(invoiceRequest(), {
        key,
        components: CLIENT_COMPONENTS,
        clock,
        nonce: 'n',
      });
      await assertRejectsWith(
        () =>
          verifyRequestSignature(invoiceRequest(fields), {
            keys: keyResolver(key),
            clock,
            replayCache: row.cache,
          }),
        'ERR_SIG_REPLAY',
      );
    });
  }

  void it('a nonce cannot be tracked on a signature with neither created nor expires', async () => {
    // Built by hand: signRequest always sets created.
    const clock = newClock();
    const replayCache = new MemoryReplayCache({ clock });
    const request = invoiceRequest();
    const parameters = {
      components: CLIENT_COMPONENTS,
      params: new Map<SignatureParameterName, number | string>([
        ['keyid', key.keyid],
        ['nonce', 'n'],
      ]),
    };
    const base = createSignatureBase(request, parameters, 'ERR_SIG_MALFORMED', 'ERR_SIG_INVALID');
    const signed = invoiceRequest({
      'signature-input': `sig1=${serializeSignatureParameters(parameters)}`,
      signature: `sig1=:${sign(null, base, key.key).toString('base64')}:`,
    });
    const options = { keys: keyResolver(key), clock, requireCreated: false };
    await verifyRequestSignature(signed, options);
    await assertRejectsWith(
      () => verifyRequestSignature(signed, { ...options, replayCache }),
      'ERR_SIG_MALFORMED',
    );
    assert.equal(replayCache.size, 0);
  });
});
