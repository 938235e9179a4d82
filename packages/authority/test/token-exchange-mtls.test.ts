/**
 * Token exchange with `tls_client_auth` (RFC 8705 §2.1.2): the acting service proves itself with
 * its X.509-SVID over mutual TLS instead of a client assertion, exactly as for client credentials.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createTestCa,
  ManualClock,
  type TestCa,
  type TestCertificate,
} from '@tessera/core/testing';
import { startTestAuthority, type TestAuthority } from '../src/testing/test-authority.ts';
import { startStubIdp, type StubIdp } from './support/stub-idp.ts';
import { testSvidIssuer } from './support/test-svid-issuer.ts';

const TD = 'tessera.local';
const id = (name: string) => `spiffe://${TD}/${name}`;
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

let ca: TestCa;
let idp: StubIdp;
let authority: TestAuthority;

function exchange(fields: Record<string, string>, certificate?: TestCertificate) {
  return authority.request('/oauth2/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: GRANT,
      subject_token_type: ACCESS_TOKEN,
      audience: 'billing',
      ...fields,
    }).toString(),
    ...(certificate !== undefined ? { cert: certificate.certPem, key: certificate.keyPem } : {}),
  });
}

const aliceToken = () =>
  idp.sign({ sub: 'alice', tenant: 'acme', scope: 'invoices:read events:write' });

/** The reasons the authority logged since `mark`. */
function reasonsSince(mark: number): string[] {
  return authority.logLines
    .slice(mark)
    .map((line) => (JSON.parse(line) as { reason?: string }).reason)
    .filter((reason): reason is string => reason !== undefined);
}

before(async () => {
  ca = createTestCa(TD);
  const clock = new ManualClock(Date.now());
  idp = await startStubIdp('tessera-gateway');
  authority = await startTestAuthority({
    tls: true,
    clock,
    serverSvidIssuer: testSvidIssuer(ca, clock),
    config: {
      users: {
        issuers: [
          {
            issuer: idp.issuer,
            audience: idp.audience,
            tenantClaim: 'tenant',
            clients: ['gateway'],
          },
        ],
      },
      tokenExchange: { mayAct: [{ actor: 'gateway', audiences: ['billing'] }] },
    },
  });
  await authority.register('billing', [], []);
  for (const name of ['gateway', 'reporting']) {
    const response = await authority.admin('POST', '/v1/admin/services', {
      name,
      grants: [{ audience: 'billing', scopes: ['invoices:read'] }],
      token_endpoint_auth_method: 'tls_client_auth',
    });
    assert.equal(response.status, 201);
  }
});

after(async () => {
  await authority.close();
  await idp.close();
});

void describe('token exchange over mutual TLS (tls_client_auth)', () => {
  void it('issues a delegated token to the service its SVID names: alice, acting gateway', async () => {
    const response = await exchange(
      { client_id: id('gateway'), subject_token: await aliceToken(), scope: 'invoices:read' },
      ca.issueSvid('/gateway'),
    );
    const body = (await response.json()) as Record<string, unknown>;
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.equal(body.issued_token_type, ACCESS_TOKEN);
    const claims = JSON.parse(
      Buffer.from(String(body.access_token).split('.')[1] ?? '', 'base64url').toString('utf8'),
    ) as Record<string, unknown>;
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.tenant_id, 'acme');
    assert.equal(claims.aud, id('billing'));
    assert.equal(claims.client_id, id('gateway'));
    assert.deepEqual(claims.act, { sub: id('gateway') });
    assert.equal(claims.scope, 'invoices:read');
  });

  const refusals: {
    name: string;
    clientId: string;
    certificate: () => TestCertificate | undefined;
    status: number;
    error: string;
    reason: string;
  }[] = [
    {
      name: 'no client certificate, only a client_id',
      clientId: id('gateway'),
      certificate: () => undefined,
      status: 401,
      error: 'invalid_client',
      reason: 'certificate_missing',
    },
    {
      name: "another service's SVID claiming to be the gateway",
      clientId: id('gateway'),
      certificate: () => ca.issueSvid('/reporting'),
      status: 401,
      error: 'invalid_client',
      reason: 'client_id_mismatch',
    },
    {
      name: 'a service with an SVID and a grant, but no mayAct entry',
      clientId: id('reporting'),
      certificate: () => ca.issueSvid('/reporting'),
      status: 400,
      error: 'unauthorized_client',
      reason: 'may_not_act',
    },
  ];
  for (const refusal of refusals) {
    void it(`refuses ${refusal.name}: ${refusal.error}`, async () => {
      const mark = authority.logLines.length;
      const response = await exchange(
        { client_id: refusal.clientId, subject_token: await aliceToken() },
        refusal.certificate(),
      );
      assert.equal(response.status, refusal.status);
      assert.equal(((await response.json()) as { error: string }).error, refusal.error);
      assert.ok(
        reasonsSince(mark).includes(refusal.reason),
        `reasons logged: ${reasonsSince(mark).join(', ')}`,
      );
    });
  }
});
