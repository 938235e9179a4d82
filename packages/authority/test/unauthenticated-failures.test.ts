import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  generateSigningKey,
  JWT_BEARER_ASSERTION_TYPE,
  mintClientAssertion,
  type SigningKey,
} from '@tessera/core';
import { ManualClock } from '@tessera/core/testing';
import { verifyStoreAuditChain } from '../src/audit/chain.ts';
import { RefusalAggregator } from '../src/audit/refusal-aggregator.ts';
import { ClientAuthFailureLimiter, limiterKey } from '../src/client-auth/failure-limiter.ts';
import type { AuditEntry, AuditRecord } from '../src/store/types.ts';
import { startTestAuthority, type TestAuthority } from '../src/testing/test-authority.ts';

const MAX_FAILURES = 5;
const WINDOW_SECONDS = 60;

/** Requests that fail client authentication at each endpoint, as data. */
const FAILING: readonly {
  endpoint: string;
  path: string;
  reason: string;
  body: (forged: string) => Record<string, string> | { token: string; jwks: unknown };
}[] = [
  {
    endpoint: 'token',
    path: '/oauth2/token',
    reason: 'unknown_client',
    body: (forged) => ({
      grant_type: 'client_credentials',
      client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
      client_assertion: forged,
      audience: 'target',
    }),
  },
  {
    endpoint: 'revoke',
    path: '/oauth2/revoke',
    reason: 'unsupported_client_auth',
    body: () => ({ token: 'x' }),
  },
  {
    endpoint: 'introspect',
    path: '/oauth2/introspect',
    reason: 'malformed',
    body: () => ({ client_assertion_type: JWT_BEARER_ASSERTION_TYPE, token: 'x' }),
  },
  {
    endpoint: 'attest_join',
    path: '/v1/attest/join',
    reason: 'join_token_invalid',
    body: () => ({
      token: 'not-a-join-token',
      jwks: { keys: [generateSigningKey().publicJwk] },
    }),
  },
];

async function allAudit(authority: TestAuthority): Promise<AuditRecord[]> {
  return authority.running.context.store.listAudit(0, 10_000);
}

describe('failed client authentication: aggregated audit rows, metrics, per-source limit', () => {
  let authority: TestAuthority;
  const clock = new ManualClock(Date.now());
  let client: { key: SigningKey; clientId: string };

  before(async () => {
    authority = await startTestAuthority({
      clock,
      config: {
        clientAuthFailures: { maxPerWindow: MAX_FAILURES, windowSeconds: WINDOW_SECONDS },
        // Flushed by the tests themselves, never by the timer during a run.
        audit: { aggregationIntervalSeconds: 3600, aggregationMaxKeys: 3 },
      },
    });
    await authority.register('target', [], []);
    client = await authority.register('caller', ['target'], []);
  });
  after(() => authority.close());

  const forged = () =>
    mintClientAssertion(
      { clientId: 'spiffe://tessera.local/nobody', audience: authority.url },
      { key: generateSigningKey(), clock },
    );
  const valid = () =>
    mintClientAssertion(
      { clientId: client.clientId, audience: authority.url },
      { key: client.key, clock },
    );

  function send(path: string, body: unknown, remoteAddress: string) {
    const json = path === '/v1/attest/join';
    return authority.running.app.inject({
      method: 'POST',
      url: path,
      remoteAddress,
      headers: {
        'content-type': json ? 'application/json' : 'application/x-www-form-urlencoded',
      },
      payload: json
        ? JSON.stringify(body)
        : new URLSearchParams(body as Record<string, string>).toString(),
    });
  }

  function tokenRequest(assertion: string, remoteAddress: string) {
    return send(
      '/oauth2/token',
      {
        grant_type: 'client_credentials',
        client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
        client_assertion: assertion,
        audience: 'target',
      },
      remoteAddress,
    );
  }

  for (const [i, row] of FAILING.entries()) {
    it(`${row.endpoint}: failures append no row each; one row per source and reason per interval`, async () => {
      await authority.running.context.unauthenticated.flush();
      const source = `198.51.100.${i + 1}`;
      const before = (await allAudit(authority)).length;
      const firstAt = clock.now();
      for (let n = 0; n < 3; n += 1) {
        const response = await send(row.path, row.body(forged()), source);
        assert.equal(response.statusCode, 401, response.body);
        clock.advance(1000);
      }
      assert.equal((await allAudit(authority)).length, before, 'a failure appended a row');

      assert.equal(await authority.running.context.unauthenticated.flush(), 1);
      const added = (await allAudit(authority)).slice(before);
      assert.equal(added.length, 1);
      assert.deepEqual(
        { type: added[0]?.type, actor: added[0]?.actor, data: added[0]?.data },
        {
          type: 'client_auth.failed',
          actor: 'unauthenticated',
          data: {
            source,
            reason: row.reason,
            count: 3,
            firstAtMs: firstAt,
            lastAtMs: firstAt + 2000,
            endpoints: { [row.endpoint]: 3 },
          },
        },
      );
      assert.equal((await verifyStoreAuditChain(authority.running.context.store)).ok, true);
    });
  }

  it('counts failures in metrics by endpoint and reason code only, never the source', async () => {
    await send('/oauth2/token', FAILING[0]?.body(forged()), '203.0.113.77');
    const metrics = await (await fetch(`${authority.url}/metrics`)).text();
    assert.match(
      metrics,
      /tessera_authority_failures_total\{endpoint="token",reason="unknown_client"\} \d+/,
    );
    assert.match(
      metrics,
      /tessera_authority_failures_total\{endpoint="attest_join",reason="join_token_invalid"\} \d+/,
    );
    assert.doesNotMatch(metrics, /203\.0\.113\.77/);
    for (const line of metrics
      .split('\n')
      .filter((l) => l.startsWith('tessera_authority_failures_total{'))) {
      assert.match(
        line,
        /^tessera_authority_failures_total\{endpoint="[a-z_/:]+",reason="[a-z_]+"\} \d+$/,
      );
    }
  });

  it('past the budget, a source gets 429 with Retry-After, before its assertion is even verified', async () => {
    const source = '192.0.2.10';
    for (let n = 0; n < MAX_FAILURES; n += 1) {
      assert.equal((await tokenRequest(forged(), source)).statusCode, 401);
    }
    // A valid assertion from the limited source: refused without being verified.
    const assertion = valid();
    const limited = await tokenRequest(assertion, source);
    assert.equal(limited.statusCode, 429);
    assert.equal(limited.headers['retry-after'], String(WINDOW_SECONDS));
    assert.equal(limited.headers['cache-control'], 'no-store');
    assert.deepEqual(limited.json(), {
      error: 'temporarily_unavailable',
      error_description: 'too many failed client authentications; retry later',
    });
    for (const row of FAILING) {
      const response = await send(row.path, row.body(forged()), source);
      assert.equal(response.statusCode, 429, row.endpoint);
      assert.ok(Number(response.headers['retry-after']) > 0);
    }
    const metrics = await (await fetch(`${authority.url}/metrics`)).text();
    assert.match(
      metrics,
      /tessera_authority_failures_total\{endpoint="token",reason="rate_limited"\} \d+/,
    );

    // Another source is not affected.
    assert.equal((await tokenRequest(valid(), '192.0.2.11')).statusCode, 200);

    clock.advance(WINDOW_SECONDS * 1000);
    // Had the limited request been verified, its jti would now be a replay.
    const later = await tokenRequest(assertion, source);
    assert.equal(later.statusCode, 200, later.body);
  });

  it('counts an IPv6 /64 as one source', async () => {
    for (let n = 0; n < MAX_FAILURES; n += 1) {
      const response = await tokenRequest(forged(), `2001:db8:1:2::${(n + 1).toString(16)}`);
      assert.equal(response.statusCode, 401);
    }
    assert.equal((await tokenRequest(valid(), '2001:db8:1:2:ffff::1')).statusCode, 429);
    assert.equal((await tokenRequest(valid(), '2001:db8:1:3::1')).statusCode, 200);
    clock.advance(WINDOW_SECONDS * 1000);
  });

  it('past aggregationMaxKeys in one interval, further sources share one "other sources" row', async () => {
    await authority.running.context.unauthenticated.flush();
    const before = (await allAudit(authority)).length;
    for (let n = 0; n < 6; n += 1) {
      await tokenRequest(forged(), `10.9.0.${n}`);
    }
    await send('/oauth2/revoke', { token: 'x' }, '10.9.0.99');
    assert.equal(await authority.running.context.unauthenticated.flush(), 4);
    const rows = (await allAudit(authority)).slice(before).map((r) => r.data);
    assert.deepEqual(
      rows.slice(0, 3).map((d) => d.source),
      ['10.9.0.0', '10.9.0.1', '10.9.0.2'],
    );
    const overflow = rows[3];
    assert.ok(overflow !== undefined);
    assert.equal(overflow.source, 'other-sources');
    assert.equal(overflow.count, 4);
    assert.deepEqual(overflow.reasons, { unknown_client: 3, unsupported_client_auth: 1 });
    assert.deepEqual(overflow.endpoints, { token: 3, revoke: 1 });
    clock.advance(WINDOW_SECONDS * 1000);
  });

  it('still appends one row per authenticated event', async () => {
    const before = (await allAudit(authority)).length;
    for (let n = 0; n < 2; n += 1) {
      assert.equal((await tokenRequest(valid(), '192.0.2.50')).statusCode, 200);
    }
    const added = (await allAudit(authority)).slice(before);
    assert.deepEqual(
      added.map((r) => r.type),
      ['token.issued', 'token.issued'],
    );
  });
});

describe('RefusalAggregator and ClientAuthFailureLimiter (bounded memory)', () => {
  it('holds at most maxKeys pairs and one overflow row, however many sources there are', async () => {
    const clock = new ManualClock(1_000);
    const written: AuditEntry[] = [];
    const aggregator = new RefusalAggregator(
      { maxKeys: 10 },
      { clock, append: (entry) => Promise.resolve(written.push(entry)) },
    );
    for (let n = 0; n < 5000; n += 1)
      aggregator.record(`10.0.${n >> 8}.${n & 255}`, 'token', 'malformed');
    assert.equal(await aggregator.flush(), 11);
    assert.equal(written.at(-1)?.data.count, 4990);
    assert.equal(await aggregator.flush(), 0, 'a flush starts a new interval');
  });

  it('tracks at most maxSources sources', () => {
    const clock = new ManualClock(1_000);
    const limiter = new ClientAuthFailureLimiter(
      { maxFailures: 1, windowMs: 60_000, maxSources: 100 },
      clock,
    );
    for (let n = 0; n < 5000; n += 1) limiter.recordFailure(`10.1.${n >> 8}.${n & 255}`);
    assert.equal(limiter.size, 100);
    assert.ok(limiter.retryAfterMs('10.1.19.135') > 0, 'the newest source is still limited');
  });

  const KEYS: readonly [string, string][] = [
    ['192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['2001:0db8:0000:0000:ffff::1', '2001:db8:0:0::/64'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
  ];
  for (const [address, key] of KEYS) {
    it(`limits ${address} under ${key}`, () => {
      assert.equal(limiterKey(address), key);
    });
  }
});
