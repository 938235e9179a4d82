import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { JWT_BEARER_ASSERTION_TYPE, type SigningKey } from '@tessera/core';
import { decodeJwt, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { startTestAuthority, type TestAuthority } from '../src/testing/test-authority.ts';
import { startStubIdp, type StubIdp } from './support/stub-idp.ts';

const TD = 'spiffe://tessera.local';
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
const IDP_AUDIENCE = 'tessera-gateway';

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

interface Client {
  key: SigningKey;
  clientId: string;
}

describe('token exchange (RFC 8693)', () => {
  let idp: StubIdp;
  let authority: TestAuthority;
  let gateway: Client;
  let eventService: Client;
  let billing: Client;
  let intruder: Client;
  let bystander: Client;

  const exchange = (client: Client, fields: Record<string, string>) =>
    authority.form('/oauth2/token', {
      grant_type: GRANT,
      client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
      client_assertion: authority.assertion(client.key, client.clientId),
      subject_token_type: ACCESS_TOKEN,
      ...fields,
    });

  const aliceToken = (claims: JWTPayload = {}) =>
    idp.sign({ sub: 'alice', tenant: 'acme', scope: 'events:write invoices:read', ...claims });

  /** Expects the OAuth error and the reason code in the authority's log. */
  async function refused(response: Response, error: string, reason: string): Promise<void> {
    const body = (await response.json()) as Record<string, unknown>;
    assert.equal(response.status, error === 'invalid_client' ? 401 : 400);
    assert.equal(body.error, error);
    assert.ok(
      authority.logLines.some((line) => line.includes(`"reason":"${reason}"`)),
      `log has reason ${reason}`,
    );
  }

  async function issued(response: Response): Promise<{ token: string; claims: JWTPayload }> {
    const body = (await response.json()) as Record<string, unknown>;
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.equal(body.issued_token_type, ACCESS_TOKEN);
    assert.equal(body.token_type, 'Bearer');
    const token = body.access_token as string;
    return { token, claims: decodeJwt(token) };
  }

  before(async () => {
    idp = await startStubIdp(IDP_AUDIENCE);
    authority = await startTestAuthority({
      config: {
        users: {
          issuers: [
            {
              issuer: idp.issuer,
              audience: IDP_AUDIENCE,
              tenantClaim: 'tenant',
              // Its tokens are issued to the gateway: only the gateway may present them.
              clients: ['gateway'],
            },
          ],
        },
        tokenExchange: {
          maxChainDepth: 2,
          mayAct: [
            { actor: 'gateway', audiences: ['event-service'] },
            { actor: 'event-service', audiences: ['billing'] },
            { actor: 'billing', audiences: ['ledger'] },
            { actor: 'intruder', audiences: ['billing'] },
          ],
        },
      },
    });
    await authority.register('ledger', [], []);
    billing = await authority.register('billing', ['ledger'], ['ledger:write']);
    eventService = await authority.register('event-service', ['billing'], ['invoices:read']);
    gateway = await authority.register(
      'gateway',
      ['event-service', 'billing'],
      ['events:write', 'invoices:read', 'admin'],
    );
    intruder = await authority.register('intruder', ['billing'], ['invoices:read']);
    bystander = await authority.register('bystander', ['event-service'], ['events:write']);
  });
  after(async () => {
    await authority.close();
    await idp.close();
  });

  it('lists the grant and the subject token types in its metadata', async () => {
    const response = await authority.request('/.well-known/oauth-authorization-server');
    const metadata = (await response.json()) as Record<string, unknown>;
    assert.ok((metadata.grant_types_supported as string[]).includes(GRANT));
    assert.deepEqual(metadata.token_exchange_subject_token_types_supported, [
      ACCESS_TOKEN,
      'urn:ietf:params:oauth:token-type:jwt',
      ID_TOKEN,
    ]);
  });

  it('carries alice and the actors along gateway → event-service → billing', async () => {
    const first = await issued(
      await exchange(gateway, { subject_token: await aliceToken(), audience: 'event-service' }),
    );
    assert.equal(first.claims.sub, 'alice');
    assert.equal(first.claims.user_iss, idp.issuer);
    assert.equal(first.claims.tenant_id, 'acme');
    assert.equal(first.claims.aud, `${TD}/event-service`);
    assert.deepEqual(first.claims.act, { sub: `${TD}/gateway` });
    assert.equal(first.claims.client_id, `${TD}/gateway`);
    assert.equal(first.claims.scope, 'events:write invoices:read');
    assert.ok((first.claims.exp ?? 0) - (first.claims.iat ?? 0) <= 300);

    const second = await issued(
      await exchange(eventService, {
        subject_token: first.token,
        audience: `${TD}/billing`,
        scope: 'invoices:read',
      }),
    );
    assert.equal(second.claims.sub, 'alice');
    assert.equal(second.claims.user_iss, idp.issuer);
    assert.equal(second.claims.tenant_id, 'acme');
    assert.equal(second.claims.aud, `${TD}/billing`);
    assert.deepEqual(second.claims.act, {
      sub: `${TD}/event-service`,
      act: { sub: `${TD}/gateway` },
    });
    assert.equal(second.claims.scope, 'invoices:read');
    assert.ok((second.claims.exp ?? 0) <= (first.claims.exp ?? 0));
  });

  it("never issues past the subject token's remaining lifetime", async () => {
    const now = Math.floor(Date.now() / 1000);
    const { claims } = await issued(
      await exchange(gateway, {
        subject_token: await aliceToken({ exp: now + 40 }),
        audience: 'event-service',
      }),
    );
    assert.ok((claims.exp ?? Infinity) <= now + 40);
  });

  describe('refuses subject tokens from the IdP', () => {
    const now = () => Math.floor(Date.now() / 1000);
    const cases: {
      name: string;
      token: () => Promise<string>;
      reason: string;
      type?: string;
    }[] = [
      {
        name: 'an unknown issuer',
        token: async () =>
          idp.sign({ sub: 'alice', tenant: 'acme' }, { issuer: 'https://idp.example' }),
        reason: 'unknown_issuer',
      },
      {
        name: 'an expired token',
        token: () => aliceToken({ iat: now() - 600, exp: now() - 60 }),
        reason: 'expired',
      },
      {
        name: 'a token not valid yet',
        token: () => aliceToken({ nbf: now() + 600 }),
        reason: 'not_yet_valid',
      },
      {
        name: 'a token for another audience',
        token: () => aliceToken({ aud: 'another-app' }),
        reason: 'wrong_audience',
      },
      {
        name: 'an unsigned token with alg none',
        token: () =>
          Promise.resolve(
            `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: idp.issuer, sub: 'alice', aud: IDP_AUDIENCE, tenant: 'acme', exp: now() + 600 })}.`,
          ),
        reason: 'algorithm_not_allowed',
      },
      {
        name: 'an ES256 token with its signature removed',
        token: async () => (await aliceToken()).replace(/\.[^.]+$/, '.'),
        reason: 'signature_invalid',
      },
      {
        name: 'an HMAC-signed token (the public key as the secret)',
        token: async () =>
          new SignJWT({ sub: 'alice', tenant: 'acme', aud: IDP_AUDIENCE })
            .setProtectedHeader({ alg: 'HS256', kid: 'idp-1' })
            .setIssuer(idp.issuer)
            .setExpirationTime('5m')
            .sign(new TextEncoder().encode(JSON.stringify({ kid: 'idp-1' }).repeat(4))),
        reason: 'algorithm_not_allowed',
      },
      {
        name: 'a token signed by a key the issuer does not publish',
        token: async () =>
          idp.sign(
            { sub: 'alice', tenant: 'acme' },
            { key: (await generateKeyPair('ES256')).privateKey },
          ),
        reason: 'signature_invalid',
      },
      {
        name: 'a token without the tenant claim',
        token: () => aliceToken({ tenant: undefined }),
        reason: 'tenant_claim_invalid',
      },
      {
        name: 'a user named like a workload',
        token: () => aliceToken({ sub: `${TD}/billing` }),
        reason: 'subject_is_workload',
      },
    ];
    for (const c of cases) {
      it(`with invalid_grant for ${c.name}`, async () => {
        await refused(
          await exchange(gateway, { subject_token: await c.token(), audience: 'event-service' }),
          'invalid_grant',
          c.reason,
        );
      });
    }
  });

  it('refuses a delegated token exchanged by a service that is not its audience', async () => {
    const first = await issued(
      await exchange(gateway, { subject_token: await aliceToken(), audience: 'event-service' }),
    );
    await refused(
      await exchange(intruder, { subject_token: first.token, audience: 'billing' }),
      'invalid_grant',
      'not_subject_audience',
    );
  });

  // The issuer's tokens are for the gateway; services the policy lets act towards billing must
  // still not turn a user token they got hold of (a log line, a forwarded header) into a
  // delegated one.
  for (const presenter of ['event-service', 'intruder'] as const) {
    it(`refuses a user token exchanged by ${presenter}, which it was not issued to`, async () => {
      const client = presenter === 'intruder' ? intruder : eventService;
      await refused(
        await exchange(client, { subject_token: await aliceToken(), audience: 'billing' }),
        'invalid_grant',
        'not_subject_audience',
      );
    });
  }

  it('refuses a chain deeper than maxChainDepth', async () => {
    const first = await issued(
      await exchange(gateway, { subject_token: await aliceToken(), audience: 'event-service' }),
    );
    const second = await issued(
      await exchange(eventService, { subject_token: first.token, audience: 'billing' }),
    );
    await refused(
      await exchange(billing, { subject_token: second.token, audience: 'ledger' }),
      'invalid_grant',
      'chain_too_deep',
    );
  });

  it("refuses a service's own token as subject: it names no user", async () => {
    const own = (await (
      await authority.tokenRequest(gateway.key, gateway.clientId, { audience: 'event-service' })
    ).json()) as { access_token: string };
    await refused(
      await exchange(eventService, { subject_token: own.access_token, audience: 'billing' }),
      'invalid_grant',
      'subject_not_delegated',
    );
  });

  const scopeCases = [
    { name: 'a scope the user does not hold', scope: 'admin' },
    { name: 'a scope the actor is not granted', scope: 'events:write profile' },
  ];
  for (const c of scopeCases) {
    it(`refuses scope escalation: ${c.name}`, async () => {
      await refused(
        await exchange(gateway, {
          subject_token: await aliceToken({ scope: 'events:write invoices:read profile' }),
          audience: 'event-service',
          scope: c.scope,
        }),
        'invalid_scope',
        'scope_escalation',
      );
    });
  }

  it('refuses scope escalation along the chain', async () => {
    const first = await issued(
      await exchange(gateway, {
        subject_token: await aliceToken(),
        audience: 'event-service',
        scope: 'events:write',
      }),
    );
    await refused(
      await exchange(eventService, {
        subject_token: first.token,
        audience: 'billing',
        scope: 'invoices:read',
      }),
      'invalid_scope',
      'scope_escalation',
    );
  });

  for (const parameter of ['tenant_id', 'tenant']) {
    it(`refuses a request that tries to set the tenant (${parameter})`, async () => {
      await refused(
        await exchange(gateway, {
          subject_token: await aliceToken(),
          audience: 'event-service',
          [parameter]: 'globex',
        }),
        'invalid_request',
        'tenant_in_request',
      );
    });
  }

  it('keeps the tenant of the first token along the chain', async () => {
    const first = await issued(
      await exchange(gateway, {
        subject_token: await aliceToken({ tenant: 'globex' }),
        audience: 'event-service',
      }),
    );
    const second = await issued(
      await exchange(eventService, { subject_token: first.token, audience: 'billing' }),
    );
    assert.equal(second.claims.tenant_id, 'globex');
  });

  const unauthorizedCases = [
    { name: 'a service with no mayAct entry', client: () => bystander, audience: 'event-service' },
    {
      name: 'an audience outside its mayAct (though granted)',
      client: () => gateway,
      audience: 'billing',
    },
  ];
  for (const c of unauthorizedCases) {
    it(`answers unauthorized_client for ${c.name}`, async () => {
      await refused(
        await exchange(c.client(), { subject_token: await aliceToken(), audience: c.audience }),
        'unauthorized_client',
        'may_not_act',
      );
    });
  }

  it('answers invalid_target for an unknown audience', async () => {
    await refused(
      await exchange(gateway, { subject_token: await aliceToken(), audience: 'nowhere' }),
      'invalid_target',
      'audience_unknown',
    );
  });

  const requestCases = [
    {
      name: 'an actor_token',
      fields: { actor_token: 'x', actor_token_type: ACCESS_TOKEN },
      reason: 'actor_token_unsupported',
    },
    {
      name: 'an unknown subject_token_type',
      fields: { subject_token_type: 'urn:x' },
      reason: 'subject_token_type_unsupported',
    },
    { name: 'no subject_token', fields: { subject_token: '' }, reason: 'subject_token_missing' },
  ];
  for (const c of requestCases) {
    it(`answers invalid_request for ${c.name}`, async () => {
      await refused(
        await exchange(gateway, {
          subject_token: await aliceToken(),
          audience: 'event-service',
          ...c.fields,
        }),
        'invalid_request',
        c.reason,
      );
    });
  }

  it('refuses a revoked delegated token', async () => {
    const first = await issued(
      await exchange(gateway, { subject_token: await aliceToken(), audience: 'event-service' }),
    );
    const revoked = await authority.admin('POST', '/v1/admin/revocations', {
      jti: first.claims.jti,
      exp: first.claims.exp,
    });
    assert.ok(revoked.status < 300, `revocation: ${revoked.status}`);
    await refused(
      await exchange(eventService, { subject_token: first.token, audience: 'billing' }),
      'invalid_grant',
      'subject_inactive',
    );
  });

  it('refuses a client that fails authentication, whatever the subject token', async () => {
    const response = await authority.form('/oauth2/token', {
      grant_type: GRANT,
      client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
      client_assertion: authority.assertion(gateway.key, `${TD}/event-service`),
      subject_token: await aliceToken(),
      subject_token_type: ACCESS_TOKEN,
      audience: 'billing',
    });
    assert.equal(response.status, 401);
  });

  it('found the IdP keys through discovery and fetched them once for every test', () => {
    assert.equal(idp.jwksRequests, 1);
  });
});
