import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parsePolicy, systemClock } from '@tessera/core';
import { eventually, ManualClock } from '@tessera/core/testing';
import Fastify, { type FastifyInstance } from 'fastify';
import { startTestAuthority, type TestAuthority } from '@tessera/authority/testing';
import { tessera } from '../src/index.ts';

const policy = parsePolicy(`
version: 1
trustDomain: tessera.local
services:
  event-service: {}
  billing:
    routes:
      - { method: POST, path: /invoices, allow: [{ service: event-service, scopes: [invoices:write] }] }
      - { method: GET, path: /healthz, public: true }
`);

describe('@tessera/fastify against a real authority', () => {
  let authority: TestAuthority;
  let events: Awaited<ReturnType<TestAuthority['register']>>;
  let billing: FastifyInstance;
  const clock = new ManualClock(systemClock.now());

  async function token(): Promise<string> {
    const response = await authority.tokenRequest(events.key, events.clientId, {
      audience: 'billing',
      scope: 'invoices:write',
    });
    return ((await response.json()) as { access_token: string }).access_token;
  }
  const call = (t: string) =>
    billing.inject({
      method: 'POST',
      url: '/invoices',
      payload: {},
      headers: { authorization: `Bearer ${t}` },
    });

  before(async () => {
    authority = await startTestAuthority();
    const billingKey = (await authority.register('billing', [], [])).key;
    events = await authority.register('event-service', ['billing'], ['invoices:write']);
    // Starting the authority can take longer than the verifier's clock tolerance on a busy
    // machine: the plugin's time starts now, not when this file was loaded.
    clock.set(systemClock.now());
    billing = Fastify();
    await billing.register(tessera, {
      service: 'billing',
      policy,
      authority: { url: authority.url, credentials: { privateKey: billingKey.privateKey } },
      clock,
    });
    billing.post('/invoices', () => ({ ok: true }));
    billing.get('/healthz', () => ({ ok: true }));
    await billing.ready();
  });
  after(async () => {
    await billing.close();
    await authority.close();
  });

  /** One gauge's value from the plugin's registry, as Prometheus would scrape it. */
  async function gauge(name: string): Promise<number | undefined> {
    const metric = billing.tessera.metrics?.getSingleMetric(name);
    return (await metric?.get())?.values[0]?.value;
  }

  it('verifies tokens with the JWKS it fetched', async () => {
    assert.equal((await call(await token())).statusCode, 200);
    assert.equal(billing.tessera.degraded(), false);
    assert.equal(await gauge('tessera_degraded'), 0);
    assert.equal(await gauge('tessera_jwks_stale'), 0);
    assert.ok(((await gauge('tessera_jwks_age_seconds')) ?? Infinity) < 60);
  });

  it('learns of a revocation over SSE within a second', async () => {
    const t = await token();
    assert.equal((await call(t)).statusCode, 200);
    const jti = (
      JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as { jti: string }
    ).jti;
    assert.equal((await authority.admin('POST', '/v1/admin/revocations', { jti })).status, 201);
    const took = await eventually(async () => (await call(t)).statusCode === 401, 1000);
    assert.ok(took < 1000);
    assert.equal(billing.tessera.revocations?.state, 'streaming');
    assert.equal(await gauge('tessera_revocations_streaming'), 1);
  });

  it('picks up a rotated signing key by refetching on an unknown kid', async () => {
    assert.equal(
      (await authority.admin('POST', '/v1/admin/keys/rotate', { revokePrevious: true })).status,
      200,
    );
    // Twice in a row: the next key was already in the JWKS, and the one after it is new.
    assert.equal((await authority.admin('POST', '/v1/admin/keys/rotate', {})).status, 200);
    clock.advance(31_000); // past the refetch cooldown
    assert.equal((await call(await token())).statusCode, 200);
  });

  it('drops tokens of a withdrawn key at the next JWKS fetch, cached ones included', async () => {
    const t = await token();
    assert.equal((await call(t)).statusCode, 200, 'verified and cached');
    assert.equal(
      (await authority.admin('POST', '/v1/admin/keys/rotate', { revokePrevious: true })).status,
      200,
    );
    assert.equal(await billing.tessera.jwks!.refresh(), true);
    const response = await call(t);
    assert.equal(response.statusCode, 401);
    assert.equal(response.json<{ code: string }>().code, 'ERR_TOKEN_KID_UNKNOWN');
  });

  it('fails closed when the revocation feed goes stale, and says so', async () => {
    const t = await token();
    clock.advance(5 * 60_000); // no news for five minutes (on this service's clock)
    assert.equal(billing.tessera.degraded(), true);
    assert.equal(await gauge('tessera_degraded'), 1, 'and says so in its metrics');
    assert.equal(await gauge('tessera_revocations_stale'), 1);
    assert.ok(((await gauge('tessera_revocations_age_seconds')) ?? 0) >= 300);
    assert.match(
      (await billing.tessera.metrics?.metrics()) ?? '',
      /^tessera_degraded 1$/m,
      'in the Prometheus text format',
    );
    const response = await call(t);
    assert.equal(response.statusCode, 401);
    assert.equal(response.json<{ code: string }>().code, 'ERR_REVOCATIONS_STALE');
    assert.equal(
      (await billing.inject({ method: 'GET', url: '/healthz' })).statusCode,
      200,
      'public routes stay up',
    );
  });

  it('refetches the JWKS on its own once the cached copy is past its max-age', async () => {
    clock.advance(10 * 60_000);
    const before = billing.tessera.jwks!.ageMs();
    assert.ok(before >= 10 * 60_000);
    await eventually(() => Promise.resolve(billing.tessera.jwks!.ageMs() < before), 3000);
  });
});
