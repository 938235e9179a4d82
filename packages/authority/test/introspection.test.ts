import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { JWT_BEARER_ASSERTION_TYPE, type SigningKey } from '@tessera/core';
import { startTestAuthority, type TestAuthority } from '../src/testing/test-authority.ts';

const BILLING = 'spiffe://tessera.local/billing';
const EVENTS = 'spiffe://tessera.local/event-service';

interface Answer {
  readonly status: number;
  readonly cacheControl: string | null;
  readonly contentType: string | null;
  readonly body: string;
}

/**
 * Finding 6 of the security review: any authenticated client could introspect any token and
 * learn its subject, audience and scopes. RFC 7662 §4 lets the server decide who may ask; here
 * only the token's audience (the resource server it was issued for) or an admin gets
 * `active: true`. Everyone else gets exactly what an unknown token gets.
 */
describe('introspection answers only the token audience or an admin', () => {
  let authority: TestAuthority;
  const callers = new Map<string, { key: SigningKey; clientId: string }>();
  let token: string;

  before(async () => {
    authority = await startTestAuthority();
    callers.set('billing', await authority.register('billing', [], []));
    callers.set(
      'event-service',
      await authority.register('event-service', ['billing'], ['invoices:write']),
    );
    callers.set('stranger', await authority.register('stranger', ['billing'], ['invoices:write']));
    const events = callers.get('event-service')!;
    const response = await authority.tokenRequest(events.key, events.clientId, {
      audience: 'billing',
      scope: 'invoices:write',
    });
    assert.equal(response.status, 200);
    token = ((await response.json()) as { access_token: string }).access_token;
  });
  after(async () => {
    await authority.close();
  });

  /** Introspects as a registered service by name, or as `admin` with the admin bearer token. */
  async function introspect(
    caller: string,
    introspected: string,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    const fields: Record<string, string> = { token: introspected };
    const authorization: Record<string, string> = {};
    if (caller === 'admin') {
      authorization.authorization = `Bearer ${authority.adminToken}`;
    } else {
      const { key, clientId } = callers.get(caller)!;
      fields.client_assertion_type = JWT_BEARER_ASSERTION_TYPE;
      fields.client_assertion = authority.assertion(key, clientId);
    }
    const response = await fetch(`${authority.url}/oauth2/introspect`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...authorization,
        ...headers,
      },
      body: new URLSearchParams(fields).toString(),
    });
    return {
      status: response.status,
      cacheControl: response.headers.get('cache-control'),
      contentType: response.headers.get('content-type'),
      body: await response.text(),
    };
  }

  const ALLOWED: readonly { caller: string; why: string }[] = [
    { caller: 'billing', why: 'the audience' },
    { caller: 'admin', why: 'an admin (admin bearer token)' },
  ];
  for (const { caller, why } of ALLOWED) {
    it(`${why} learns the token is active`, async () => {
      const answer = await introspect(caller, token);
      assert.equal(answer.status, 200);
      const body = JSON.parse(answer.body) as Record<string, unknown>;
      assert.equal(body.active, true);
      assert.equal(body.sub, EVENTS);
      assert.equal(body.aud, BILLING);
      assert.equal(body.scope, 'invoices:write');
    });
  }

  const REFUSED: readonly { caller: string; why: string }[] = [
    { caller: 'event-service', why: 'the client the token was issued to (not its audience)' },
    { caller: 'stranger', why: 'a third service' },
  ];
  for (const { caller, why } of REFUSED) {
    it(`${why} gets exactly what an unknown token gets`, async () => {
      const answer = await introspect(caller, token);
      const unknown = await introspect(caller, 'not-a-token');
      assert.deepEqual(JSON.parse(answer.body), { active: false });
      assert.deepEqual(answer, unknown);
    });
  }

  it('an unknown token is inactive for the audience too', async () => {
    assert.deepEqual(JSON.parse((await introspect('billing', 'not-a-token')).body), {
      active: false,
    });
  });

  const BAD_CREDENTIALS: readonly {
    name: string;
    caller: string;
    headers: Record<string, string>;
    status: number;
    error: string;
  }[] = [
    {
      name: 'a wrong admin token',
      caller: 'none',
      headers: { authorization: 'Bearer not-the-admin-token' },
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'an admin token that is not a bearer token',
      caller: 'none',
      headers: { authorization: 'Basic YWRtaW46YWRtaW4=' },
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'an admin token next to a client assertion (two authentication methods)',
      caller: 'stranger',
      headers: {},
      status: 400,
      error: 'invalid_request',
    },
  ];
  for (const { name, caller, headers, status, error } of BAD_CREDENTIALS) {
    it(`refuses ${name}`, async () => {
      const extra =
        caller === 'stranger' ? { authorization: `Bearer ${authority.adminToken}` } : headers;
      const answer =
        caller === 'none'
          ? await (async () => {
              const response = await fetch(`${authority.url}/oauth2/introspect`, {
                method: 'POST',
                headers: { 'content-type': 'application/x-www-form-urlencoded', ...extra },
                body: new URLSearchParams({ token }).toString(),
              });
              return { status: response.status, body: await response.text() };
            })()
          : await introspect(caller, token, extra);
      assert.equal(answer.status, status);
      const body = JSON.parse(answer.body) as Record<string, unknown>;
      assert.equal(body.error, error);
      assert.equal(body.active, undefined);
    });
  }
});
