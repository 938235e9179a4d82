import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { ManualClock } from './manual-clock.ts';
import type { ReplayCache } from '../http-signature/replay-cache.ts';

/** Fixed start time for contract runs: 2026-11-23T12:00:00Z. */
const START_MS = 1_795_435_200_000;

export interface ReplayCacheContractOptions {
  /**
   * Moves the cache's time forward by `ms`. Default: advances the `ManualClock` given to the
   * factory. Pass `false` for a cache whose expiry runs on a clock the suite cannot move (Redis
   * TTLs run on the server's clock); the expiry cases are then skipped, the others still run.
   */
  readonly advance?: ((clock: ManualClock, ms: number) => void | Promise<void>) | false;
}

/**
 * The behaviour every {@link ReplayCache} must have. Run it against each implementation:
 *
 * @example
 * ```ts
 * replayCacheContract('MemoryReplayCache', (clock) => new MemoryReplayCache({ clock }));
 * ```
 *
 * `factory` receives a clock the suite controls, set to a fixed start; the keys' expiry times
 * are relative to it. Each case gets a fresh clock and a fresh cache, and uses keys unique to
 * the case, so an implementation backed by a shared store needs no flush between cases.
 */
export function replayCacheContract(
  name: string,
  factory: (clock: ManualClock) => ReplayCache | Promise<ReplayCache>,
  options: ReplayCacheContractOptions = {},
): void {
  const advance =
    options.advance ??
    ((clock: ManualClock, ms: number) => {
      clock.advance(ms);
    });
  const expiry = advance === false ? { skip: 'the suite cannot move this cache’s clock' } : {};
  // Distinct per run, so a persistent store keeps no key from an earlier run of the suite.
  const run = randomUUID();

  void describe(`ReplayCache contract: ${name}`, () => {
    async function fresh(): Promise<{ cache: ReplayCache; clock: ManualClock }> {
      const clock = new ManualClock(START_MS);
      return { cache: await factory(clock), clock };
    }
    const key = (label: string): string => `contract:${run}:${label}`;

    void it('accepts a key the first time', async () => {
      const { cache } = await fresh();
      assert.equal(await cache.useOnce(key('first'), START_MS + 60_000), true);
    });

    void it('refuses the same key while it is live', async () => {
      const { cache } = await fresh();
      assert.equal(await cache.useOnce(key('twice'), START_MS + 60_000), true);
      assert.equal(await cache.useOnce(key('twice'), START_MS + 60_000), false);
      assert.equal(await cache.useOnce(key('twice'), START_MS + 120_000), false);
    });

    void it('treats keys as opaque, exact strings', async () => {
      const { cache } = await fresh();
      const base = key('opaque');
      const variants = [
        base,
        base.toUpperCase(),
        `${base} `,
        `${base}\n`,
        `${base}:x`,
        `${base}é`,
        `${base}${'x'.repeat(1000)}`,
      ];
      for (const variant of variants) {
        assert.equal(
          await cache.useOnce(variant, START_MS + 60_000),
          true,
          JSON.stringify(variant.slice(-3)),
        );
      }
      for (const variant of variants)
        assert.equal(await cache.useOnce(variant, START_MS + 60_000), false);
    });

    void it('lets exactly one of many concurrent first uses through', async () => {
      const { cache } = await fresh();
      const results = await Promise.all(
        Array.from({ length: 25 }, () => cache.useOnce(key('race'), START_MS + 60_000)),
      );
      assert.equal(results.filter((first) => first).length, 1);
    });

    void it('still refuses a key one millisecond before it expires', expiry, async () => {
      const { cache, clock } = await fresh();
      assert.equal(await cache.useOnce(key('edge'), START_MS + 10_000), true);
      if (advance !== false) await advance(clock, 9_999);
      assert.equal(await cache.useOnce(key('edge'), START_MS + 20_000), false);
    });

    void it('forgets a key at its expiry, and only that key', expiry, async () => {
      const { cache, clock } = await fresh();
      assert.equal(await cache.useOnce(key('short'), START_MS + 10_000), true);
      assert.equal(await cache.useOnce(key('long'), START_MS + 30_000), true);
      if (advance !== false) await advance(clock, 10_000);
      assert.equal(await cache.useOnce(key('short'), START_MS + 40_000), true);
      assert.equal(await cache.useOnce(key('long'), START_MS + 40_000), false);
    });
  });
}
