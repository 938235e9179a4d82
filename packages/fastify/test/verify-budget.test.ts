import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '@tessera/core/testing';
import { buildApp, EVENTS, forged, token } from './support/app.ts';

const valid = token(EVENTS, ['invoices:write']);

describe('@tessera/fastify: failed-verification budget per source (forged-signature floods)', () => {
  it('after max failures, refuses that source unverified until the window ends', async () => {
    const clock = new ManualClock(5_000_000);
    const { app, audit, verifications } = await buildApp({
      clock,
      verifyFailureBudget: { max: 5, timeWindowMs: 60_000 },
    });
    const from = (remoteAddress: string, t: string) =>
      app.inject({
        method: 'GET',
        url: '/whoami',
        remoteAddress,
        headers: { authorization: `Bearer ${t}` },
      });
    for (let i = 0; i < 5; i++) {
      const response = await from('203.0.113.7', forged());
      assert.equal(response.json<{ code: string }>().code, 'ERR_TOKEN_SIGNATURE');
    }
    assert.equal(verifications(), 5);
    // A flood: none of these reaches the verifier, valid token included.
    for (const t of [forged(), forged(), valid]) {
      const response = await from('203.0.113.7', t);
      assert.equal(response.statusCode, 401);
      assert.deepEqual(response.json(), { code: 'ERR_VERIFY_BUDGET', message: 'unauthorized' });
      assert.match(String(response.headers['www-authenticate']), /error="invalid_token"/);
    }
    assert.equal(verifications(), 5, 'refused without verifying');
    assert.equal(audit.at(-1)?.reason, 'ERR_VERIFY_BUDGET');
    assert.equal((await from('203.0.113.8', valid)).statusCode, 200, 'other sources unaffected');
    assert.equal(app.tessera.failureBudget?.refused, 3);
    clock.advance(60_000);
    assert.equal((await from('203.0.113.7', valid)).statusCode, 200, 'the next window');
    await app.close();
  });

  it('counts only failures: valid tokens from a source never exhaust it', async () => {
    const { app } = await buildApp({ verifyFailureBudget: { max: 2, timeWindowMs: 60_000 } });
    for (let i = 0; i < 10; i++) {
      const response = await app.inject({
        method: 'GET',
        url: '/whoami',
        headers: { authorization: `Bearer ${valid}` },
      });
      assert.equal(response.statusCode, 200);
    }
    await app.close();
  });

  it('bounds memory: beyond maxSources, new failing sources share one overflow budget', async () => {
    const { app, verifications } = await buildApp({
      verifyFailureBudget: { max: 2, timeWindowMs: 60_000, maxSources: 3 },
    });
    const statuses: Record<string, number> = {};
    for (let source = 0; source < 20; source++) {
      for (let i = 0; i < 3; i++) {
        const response = await app.inject({
          method: 'GET',
          url: '/whoami',
          remoteAddress: `198.51.100.${source}`,
          headers: { authorization: `Bearer ${forged()}` },
        });
        const code = response.json<{ code: string }>().code;
        statuses[code] = (statuses[code] ?? 0) + 1;
      }
    }
    assert.equal(app.tessera.failureBudget?.size, 3);
    // Three tracked sources with two verifications each, and two more for all the others.
    assert.equal(verifications(), 3 * 2 + 2);
    assert.deepEqual(statuses, { ERR_TOKEN_SIGNATURE: 8, ERR_VERIFY_BUDGET: 52 });
    await app.close();
  });

  it('verifyFailureBudget: false turns it off', async () => {
    const { app, verifications } = await buildApp({ verifyFailureBudget: false });
    for (let i = 0; i < 150; i++) {
      const response = await app.inject({
        method: 'GET',
        url: '/whoami',
        headers: { authorization: `Bearer ${forged()}` },
      });
      assert.equal(response.json<{ code: string }>().code, 'ERR_TOKEN_SIGNATURE');
    }
    assert.equal(verifications(), 150);
    assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    await app.close();
  });
});
