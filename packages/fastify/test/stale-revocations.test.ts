import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parsePolicy, systemClock } from '@tessera/core';
import { ManualClock } from '@tessera/core/testing';
import Fastify, { type FastifyInstance } from 'fastify';
import { startTestAuthority, type TestAuthority } from '@tessera/authority/testing';
import { tessera, type TesseraPluginOptions } from '../src/index.ts';

const policy = parsePolicy(`
version: 1
trustDomain: tessera.local
services:
  event-service: {}
  billing:
    routes:
      - { method: POST, path: /invoices, allow: [{ service: event-service, scopes: [invoices:write] }] }
`);

/** Past the revocation feed's 60-s stale limit, well within the token's 300-s lifetime. */
const SILENCE_MS = 61_000;

describe('@tessera/fastify: staleRevocations when the feed has gone quiet', () => {
  let authority: TestAuthority;
  let events: Awaited<ReturnType<TestAuthority['register']>>;
  let billingKey: Awaited<ReturnType<TestAuthority['register']>>['key'];
  before(async () => {
    authority = await startTestAuthority();
    billingKey = (await authority.register('billing', [], [])).key;
    events = await authority.register('event-service', ['billing'], ['invoices:write']);
  });
  after(async () => {
    await authority.close();
  });

  async function billing(
    mode: TesseraPluginOptions['staleRevocations'],
    clock: ManualClock,
  ): Promise<{ app: FastifyInstance; warnings: string[] }> {
    const warnings: string[] = [];
    const app = Fastify({
      logger: {
        level: 'warn',
        stream: {
          write: (line: string) => {
            warnings.push((JSON.parse(line) as { msg: string }).msg);
          },
        },
      },
    });
    await app.register(tessera, {
      service: 'billing',
      policy,
      authority: { url: authority.url, credentials: { privateKey: billingKey.privateKey } },
      clock,
      ...(mode !== undefined ? { staleRevocations: mode } : {}),
    });
    app.post('/invoices', () => ({ ok: true }));
    await app.ready();
    return { app, warnings };
  }

  async function call(app: FastifyInstance) {
    const response = await authority.tokenRequest(events.key, events.clientId, {
      audience: 'billing',
      scope: 'invoices:write',
    });
    const token = ((await response.json()) as { access_token: string }).access_token;
    return app.inject({
      method: 'POST',
      url: '/invoices',
      payload: {},
      headers: { authorization: `Bearer ${token}` },
    });
  }

  it("'serve-stale' keeps serving on the last known revocations and logs a warning", async () => {
    const clock = new ManualClock(systemClock.now());
    const { app, warnings } = await billing('serve-stale', clock);
    assert.equal((await call(app)).statusCode, 200);
    assert.deepEqual(warnings, [], 'fresh: no warning');
    clock.advance(SILENCE_MS);
    assert.equal(app.tessera.revocations?.isStale(), true);
    const response = await call(app);
    assert.equal(response.statusCode, 200, response.body);
    assert.ok(
      warnings.some((msg) =>
        /revocation state is stale; serving \(staleRevocations: serve-stale\)/.test(msg),
      ),
      warnings.join('\n'),
    );
    await app.close();
  });

  it("'fail-closed' (the default) refuses the same request", async () => {
    const clock = new ManualClock(systemClock.now());
    const { app } = await billing(undefined, clock);
    assert.equal((await call(app)).statusCode, 200);
    clock.advance(SILENCE_MS);
    const response = await call(app);
    assert.equal(response.statusCode, 401);
    assert.equal(response.json<{ code: string }>().code, 'ERR_REVOCATIONS_STALE');
    await app.close();
  });
});
