import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { freePort } from '@tessera/authority/testing';
import { ManualClock } from '@tessera/core/testing';
import { Redis } from 'ioredis';
import type { RateLimitOptions } from '../src/index.ts';
import { buildApp, EVENTS, token, type TestApp } from './support/app.ts';

/** The real Redis `.ci/run` starts (or finds) on loopback. */
const REDIS = { host: '127.0.0.1', port: 6379 };

const caller = token(EVENTS, ['invoices:write']);

/** Polls `check` every 10 ms, at most `ms` in all. */
async function until(check: () => Promise<boolean>, ms: number): Promise<void> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`not within ${ms} ms`);
}

async function fetchStatus(app: TestApp): Promise<number> {
  const address = app.app.server.address();
  if (typeof address !== 'object' || address === null)
    await app.app.listen({ host: '127.0.0.1', port: 0 });
  const listening = app.app.server.address();
  assert.ok(typeof listening === 'object' && listening !== null);
  const response = await fetch(`http://127.0.0.1:${listening.port}/whoami`, {
    headers: { authorization: `Bearer ${caller}` },
    signal: AbortSignal.timeout(5000),
  });
  await response.arrayBuffer();
  return response.status;
}

async function call(app: TestApp): Promise<number> {
  const response = await app.app.inject({
    method: 'GET',
    url: '/whoami',
    headers: { authorization: `Bearer ${caller}` },
  });
  return response.statusCode;
}

/** Apps a test opened, closed after it whatever it asserted (a listening app keeps the run alive). */
const opened: TestApp[] = [];
async function open(app: Promise<TestApp>): Promise<TestApp> {
  opened.push(await app);
  return opened[opened.length - 1]!;
}
afterEach(async () => {
  for (const app of opened.splice(0)) await app.app.close();
});

describe('@tessera/fastify: rate limit shared through the real Redis', () => {
  let redis: Redis;
  const prefixes: string[] = [];
  before(async () => {
    redis = new Redis(REDIS);
    assert.equal(await redis.ping(), 'PONG');
  });
  after(async () => {
    for (const prefix of prefixes) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    }
    redis.disconnect();
  });

  /** Two replicas of one service sharing one Redis, under a key prefix of this test's own. */
  async function replicas(
    options: Omit<RateLimitOptions, 'redis' | 'redisKeyPrefix'>,
    clock?: ManualClock,
  ): Promise<{ a: TestApp; b: TestApp; prefix: string }> {
    const prefix = `tessera-test:${randomUUID()}:`;
    prefixes.push(prefix);
    const rateLimit = { ...options, redis, redisKeyPrefix: prefix };
    const a = await open(buildApp({ rateLimit, ...(clock ? { clock } : {}) }));
    const b = await open(buildApp({ rateLimit, ...(clock ? { clock } : {}) }));
    return { a, b, prefix };
  }

  it('two replicas admit max in all, one request after the other', async () => {
    const max = 20;
    const syncEvery = 4;
    const { a, b, prefix } = await replicas({
      max,
      timeWindowMs: 600_000,
      redisSyncEvery: syncEvery,
    });
    let admitted = 0;
    // Over real sockets: every request passes the event loop's poll phase, where Redis answers
    // are read (back-to-back `inject` calls never reach it).
    for (let i = 0; i < 60; i++) if ((await fetchStatus(i % 2 === 0 ? a : b)) === 200) admitted++;
    // The bound: max + (replicas - 1) × syncEvery; answered in between, it is nearly exact.
    assert.ok(admitted <= max + syncEvery, `admitted ${admitted}`);
    assert.ok(admitted >= max - syncEvery, `admitted ${admitted}`);
    // Every admission reaches the window's key (the flush pushes the last ones).
    await until(async () => {
      const keys = await redis.keys(`${prefix}*`);
      return keys.length === 1 && Number(await redis.get(keys[0] ?? '')) === admitted;
    }, 2000);
    const [windowKey = ''] = await redis.keys(`${prefix}*`);
    assert.ok(windowKey.startsWith(`${prefix}${EVENTS}:`), windowKey);
    assert.ok((await redis.pttl(windowKey)) > 0, 'the window key expires');
  });

  it('keeps the documented over-admission bound under a concurrent burst to both replicas', async () => {
    const max = 20;
    const syncEvery = 4;
    const { a, b } = await replicas({
      max,
      timeWindowMs: 600_000,
      redisSyncEvery: syncEvery,
    });
    // Warm both replicas' buckets, so the burst meets allowances read from Redis.
    await call(a);
    await call(b);
    const burst = await Promise.all(
      Array.from({ length: 200 }, (_, i) => call(i % 2 === 0 ? a : b)),
    );
    const admitted = 2 + burst.filter((status) => status === 200).length;
    assert.ok(admitted <= max + (2 - 1) * syncEvery, `admitted ${admitted} of ${max}`);
    assert.ok(
      burst.every((status) => status === 200 || status === 429),
      'only 200 or 429',
    );
  });

  it('a new window gives every replica its allowance back', async () => {
    const clock = new ManualClock(1_800_000_000_000);
    const { a, b } = await replicas({ max: 4, timeWindowMs: 60_000, redisSyncEvery: 2 }, clock);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push(await call(i % 2 === 0 ? a : b));
    assert.ok(statuses.filter((s) => s === 200).length <= 4 + 2);
    assert.equal(statuses.at(-1), 429);
    clock.advance(60_000);
    assert.equal(await call(a), 200);
    assert.equal(await call(b), 200);
  });

  describe('while Redis cannot be reached (a closed port)', () => {
    let down: Redis;
    before(async () => {
      // Nothing listens there: ioredis keeps reconnecting and its status is never `ready`.
      down = new Redis({
        host: '127.0.0.1',
        port: await freePort(),
        retryStrategy: () => 1000,
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
      });
      down.on('error', () => undefined);
      await until(() => Promise.resolve(down.status === 'reconnecting'), 5000);
    });
    after(() => {
      down.disconnect();
    });

    it("by default limits per replica ('local-only'), logs a warning and says so in a gauge", async () => {
      const app = await open(
        buildApp({ rateLimit: { max: 3, timeWindowMs: 60_000, redis: down } }),
      );
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push(await call(app));
      assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
      const warnings = app.logs.filter((record) => record.level === 40);
      assert.equal(warnings.length, 1, 'one warning per outage, not per request');
      assert.match(String(warnings[0]?.msg), /rate-limit Redis unavailable; limiting per replica/);
      assert.equal(warnings[0]?.redisUnavailable, 'local-only');
      assert.equal(app.app.tessera.rateLimiter?.redisAvailable, false);
      const gauge = app.app.tessera.metrics?.getSingleMetric('tessera_rate_limit_redis_available');
      assert.equal((await gauge?.get())?.values[0]?.value, 0);
    });

    it("with redisUnavailable: 'fail-closed' refuses callers with 503", async () => {
      const app = await open(
        buildApp({
          rateLimit: { max: 3, timeWindowMs: 60_000, redis: down, redisUnavailable: 'fail-closed' },
        }),
      );
      const response = await app.app.inject({
        method: 'GET',
        url: '/whoami',
        headers: { authorization: `Bearer ${caller}` },
      });
      assert.equal(response.statusCode, 503);
      assert.deepEqual(response.json(), { code: 'ERR_UNAVAILABLE', message: 'unavailable' });
      assert.equal(app.audit.at(-1)?.reason, 'ERR_UNAVAILABLE');
    });
  });
});
