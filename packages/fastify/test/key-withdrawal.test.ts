import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '@tessera/cli';
import { mintAccessToken, parsePolicy, systemClock } from '@tessera/core';
import { eventually } from '@tessera/core/testing';
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
`);

/**
 * Review finding 5: an emergency key withdrawal (`tessera keys rotate --revoke-previous`) is
 * pushed to verifiers on the revocation feed. Without the push a running plugin kept accepting
 * the key's tokens, cached or new, until its next JWKS fetch (up to the JWKS max-age, 5 min).
 */
describe('emergency key withdrawal reaches a running plugin over the revocation feed', () => {
  let authority: TestAuthority;
  let events: Awaited<ReturnType<TestAuthority['register']>>;
  let billing: FastifyInstance;

  before(async () => {
    authority = await startTestAuthority();
    const billingKey = (await authority.register('billing', [], [])).key;
    events = await authority.register('event-service', ['billing'], ['invoices:write']);
    billing = Fastify();
    await billing.register(tessera, {
      service: 'billing',
      policy,
      authority: { url: authority.url, credentials: { privateKey: billingKey.privateKey } },
      clock: systemClock,
    });
    billing.post('/invoices', () => ({ ok: true }));
    await billing.ready();
    await eventually(() => billing.tessera.revocations?.state === 'streaming', 3000);
  });
  after(async () => {
    await billing.close();
    await authority.close();
  });

  const call = (token: string) =>
    billing.inject({
      method: 'POST',
      url: '/invoices',
      payload: {},
      headers: { authorization: `Bearer ${token}` },
    });
  async function issued(): Promise<string> {
    const response = await authority.tokenRequest(events.key, events.clientId, {
      audience: 'billing',
      scope: 'invoices:write',
    });
    assert.equal(response.status, 200);
    return ((await response.json()) as { access_token: string }).access_token;
  }

  it('refuses the withdrawn key’s tokens, cached and new, within a bounded wait', async () => {
    const token = await issued();
    assert.equal((await call(token)).statusCode, 200, 'verified, and now cached');
    const withdrawnKey = authority.running.keys.signingKey();
    const jwksAge = billing.tessera.jwks!.ageMs();

    const output: string[] = [];
    const exit = await main(
      [
        'keys',
        'rotate',
        '--revoke-previous',
        '--authority',
        authority.url,
        '--admin-token-file',
        join(authority.dataDir, 'admin.token'),
      ],
      { out: (line) => output.push(line), err: (line) => output.push(line), env: {} },
    );
    assert.equal(exit, 0, output.join('\n'));
    assert.equal(
      (JSON.parse(output.join('')) as { revokedKid: string }).revokedKid,
      withdrawnKey.kid,
    );

    await eventually(async () => (await call(token)).statusCode === 401, 1000);
    assert.ok(billing.tessera.jwks!.ageMs() >= jwksAge, 'the JWKS was not refetched meanwhile');
    const forged = mintAccessToken(
      {
        issuer: authority.running.context.settings.issuer,
        subject: events.clientId,
        audience: 'spiffe://tessera.local/billing',
        scopes: ['invoices:write'],
      },
      { key: withdrawnKey, clock: systemClock },
    ).token;
    const refused = await call(forged);
    assert.equal(refused.statusCode, 401, 'a new token signed by the withdrawn key');
    assert.equal(refused.json<{ code: string }>().code, 'ERR_TOKEN_KID_UNKNOWN');
    assert.equal((await call(await issued())).statusCode, 200, 'the new key’s tokens verify');
  });
});
