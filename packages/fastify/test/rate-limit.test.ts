import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '@tessera/core/testing';
import { buildApp, EVENTS, GATEWAY, token } from './support/app.ts';

const eventsToken = token(EVENTS, ['invoices:write']);
const gatewayToken = token(GATEWAY, []);

describe('@tessera/fastify: per-caller rate limit (in the onRequest hook)', () => {
  it('refuses the caller past max with 429, Retry-After and the generic body; the window resets', async () => {
    const clock = new ManualClock(1_000_000);
    const { app, audit } = await buildApp({ clock, rateLimit: { max: 3, timeWindowMs: 10_000 } });
    const call = (t: string) =>
      app.inject({ method: 'GET', url: '/whoami', headers: { authorization: `Bearer ${t}` } });
    for (let i = 0; i < 3; i++) assert.equal((await call(eventsToken)).statusCode, 200);
    clock.advance(2500);
    const limited = await call(eventsToken);
    assert.equal(limited.statusCode, 429);
    assert.deepEqual(limited.json(), { code: 'ERR_RATE_LIMITED', message: 'too many requests' });
    // 7.5 s left in the window (RFC 9110 §10.2.3: whole seconds, rounded up).
    assert.equal(limited.headers['retry-after'], '8');
    assert.equal(audit.at(-1)?.reason, 'ERR_RATE_LIMITED');
    assert.equal(audit.at(-1)?.caller, EVENTS, 'the audit event names the limited caller');
    assert.equal((await call(gatewayToken)).statusCode, 200, 'another caller is unaffected');
    clock.advance(7500);
    assert.equal((await call(eventsToken)).statusCode, 200, 'a new window');
    assert.equal(app.tessera.rateLimiter?.refused, 1);
    await app.close();
  });

  it('keys on the verified SPIFFE ID: spoofed identity headers and addresses change nothing', async () => {
    const { app } = await buildApp({ rateLimit: { max: 2, timeWindowMs: 60_000 } });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await app.inject({
        method: 'GET',
        url: '/whoami',
        remoteAddress: `10.0.0.${i}`,
        headers: { authorization: `Bearer ${eventsToken}`, 'x-service-id': `spoofed-${i}` },
      });
      statuses.push(response.statusCode);
    }
    assert.deepEqual(statuses, [200, 200, 429, 429]);
    await app.close();
  });

  it('does not count refused requests against the caller', async () => {
    const { app } = await buildApp({ rateLimit: { max: 1, timeWindowMs: 60_000 } });
    // /invoices needs invoices:write, which this gateway token lacks: 403, not a spent request.
    for (let i = 0; i < 3; i++) {
      const refused = await app.inject({
        method: 'POST',
        url: '/invoices',
        payload: {},
        headers: { authorization: `Bearer ${gatewayToken}` },
      });
      assert.equal(refused.statusCode, 403);
    }
    const allowed = await app.inject({
      method: 'GET',
      url: '/whoami',
      headers: { authorization: `Bearer ${gatewayToken}` },
    });
    assert.equal(allowed.statusCode, 200);
    await app.close();
  });

  it('limits public routes per source address', async () => {
    const { app } = await buildApp({ rateLimit: { max: 2, timeWindowMs: 60_000 } });
    const from = (remoteAddress: string) =>
      app.inject({ method: 'GET', url: '/healthz', remoteAddress });
    assert.equal((await from('10.1.1.1')).statusCode, 200);
    assert.equal((await from('10.1.1.1')).statusCode, 200);
    const limited = await from('10.1.1.1');
    assert.equal(limited.statusCode, 429);
    assert.ok(Number(limited.headers['retry-after']) >= 1);
    assert.equal((await from('10.1.1.2')).statusCode, 200);
    await app.close();
  });

  it('a flood of public-route sources cannot evict a caller’s bucket (separate maps)', async () => {
    const { app } = await buildApp({ rateLimit: { max: 2, timeWindowMs: 60_000, maxKeys: 4 } });
    const call = () =>
      app.inject({
        method: 'GET',
        url: '/whoami',
        headers: { authorization: `Bearer ${eventsToken}` },
      });
    assert.equal((await call()).statusCode, 200);
    assert.equal((await call()).statusCode, 200);
    assert.equal((await call()).statusCode, 429);
    for (let i = 0; i < 50; i++) {
      await app.inject({ method: 'GET', url: '/healthz', remoteAddress: `192.0.2.${i}` });
    }
    assert.equal((await call()).statusCode, 429, 'still limited after 50 other sources');
    assert.ok((app.tessera.rateLimiter?.size ?? 0) <= 4);
    await app.close();
  });

  it('holds at most maxKeys callers', async () => {
    const { app } = await buildApp({ rateLimit: { max: 5, timeWindowMs: 60_000, maxKeys: 1 } });
    for (const t of [eventsToken, gatewayToken, eventsToken]) {
      await app.inject({
        method: 'GET',
        url: '/whoami',
        headers: { authorization: `Bearer ${t}` },
      });
    }
    assert.equal(app.tessera.rateLimiter?.size, 1);
    await app.close();
  });

  it('rateLimit: false turns it off', async () => {
    const { app } = await buildApp({ rateLimit: false });
    assert.equal(app.tessera.rateLimiter, undefined);
    for (let i = 0; i < 1100; i++) {
      const response = await app.inject({
        method: 'GET',
        url: '/whoami',
        headers: { authorization: `Bearer ${eventsToken}` },
      });
      assert.equal(response.statusCode, 200);
    }
    await app.close();
  });

  const BAD: readonly [string, unknown][] = [
    ['max 0', { max: 0, timeWindowMs: 1000 }],
    ['a fractional window', { max: 1, timeWindowMs: 1.5 }],
    ['maxKeys 0', { max: 1, timeWindowMs: 1000, maxKeys: 0 }],
    ['a redis that is not a client', { max: 1, timeWindowMs: 1000, redis: {} }],
    [
      'an unknown redisUnavailable',
      {
        max: 1,
        timeWindowMs: 1000,
        redis: { eval: () => Promise.resolve(0) },
        redisUnavailable: 'maybe',
      },
    ],
  ];
  for (const [name, rateLimit] of BAD) {
    it(`refuses to register with ${name}`, async () => {
      await assert.rejects(
        buildApp({ rateLimit: rateLimit as false }),
        (error: unknown) => (error as { code?: string }).code === 'ERR_CONFIG_INVALID',
      );
    });
  }
});
