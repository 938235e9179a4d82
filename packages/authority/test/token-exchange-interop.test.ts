import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import { startTestAuthority, type TestAuthority } from '../src/testing/test-authority.ts';
import { startStubIdp, type StubIdp } from './support/stub-idp.ts';

/**
 * Token exchange driven by an independent client: oauth4webapi's generic token endpoint request,
 * unmodified, with `private_key_jwt`; the delegated token verified by jose against the published
 * JWKS.
 */

const GATEWAY = 'spiffe://tessera.local/gateway';
const BILLING = 'spiffe://tessera.local/billing';
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

// eslint-disable-next-line @typescript-eslint/no-deprecated -- flagged on purpose by the library; loopback test server only
const INSECURE = { [oauth.allowInsecureRequests]: true } as const;

describe('interoperability: token exchange by oauth4webapi, verified by jose', () => {
  let idp: StubIdp;
  let authority: TestAuthority;
  let as: oauth.AuthorizationServer;
  let clientAuth: oauth.ClientAuth;
  const client: oauth.Client = { client_id: GATEWAY };

  before(async () => {
    idp = await startStubIdp('tessera-gateway');
    authority = await startTestAuthority({
      config: {
        users: {
          issuers: [
            {
              issuer: idp.issuer,
              audience: idp.audience,
              tenantClaim: 'org',
              clients: ['gateway'],
            },
          ],
        },
        tokenExchange: { mayAct: [{ actor: 'gateway', audiences: ['billing'] }] },
      },
    });
    await authority.register('billing', [], []);
    const { privateKey, publicKey } = await webcrypto.subtle.generateKey(
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['sign', 'verify'],
    );
    const jwk = await webcrypto.subtle.exportKey('jwk', publicKey);
    const registered = await authority.admin('POST', '/v1/admin/services', {
      name: 'gateway',
      grants: [{ audience: 'billing', scopes: ['invoices:read'] }],
      jwks: { keys: [{ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, kid: 'gw-1' }] },
    });
    assert.equal(registered.status, 201);
    clientAuth = oauth.PrivateKeyJwt({ key: privateKey, kid: 'gw-1' });
    const issuer = new URL(authority.url);
    as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...INSECURE }),
    );
  });
  after(async () => {
    await authority.close();
    await idp.close();
  });

  it('exchanges a user token; jose verifies the delegated token from the JWKS', async () => {
    assert.ok(as.grant_types_supported?.includes(GRANT));
    const userToken = await idp.sign({ sub: 'alice', org: 'acme', scope: 'invoices:read' });
    const response = await oauth.genericTokenEndpointRequest(
      as,
      client,
      clientAuth,
      GRANT,
      { subject_token: userToken, subject_token_type: ACCESS_TOKEN, audience: 'billing' },
      INSECURE,
    );
    const result = await oauth.processGenericTokenEndpointResponse(as, client, response);
    assert.equal(result.token_type, 'bearer');
    assert.equal(result.issued_token_type, ACCESS_TOKEN);
    assert.equal(result.scope, 'invoices:read');

    const { payload, protectedHeader } = await jwtVerify(
      result.access_token,
      createRemoteJWKSet(new URL(as.jwks_uri ?? '')),
      {
        issuer: as.issuer,
        audience: BILLING,
        typ: 'at+jwt',
        algorithms: ['ES256', 'EdDSA'],
        requiredClaims: ['exp', 'iat', 'jti', 'sub', 'client_id', 'act'],
      },
    );
    assert.equal(protectedHeader.typ, 'at+jwt');
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.user_iss, idp.issuer);
    assert.equal(payload.tenant_id, 'acme');
    assert.deepEqual(payload.act, { sub: GATEWAY });
    assert.equal(payload.client_id, GATEWAY);
  });

  it('surfaces unauthorized_client through oauth4webapi', async () => {
    await authority.register('ledger', [], []);
    const userToken = await idp.sign({ sub: 'alice', org: 'acme' });
    const response = await oauth.genericTokenEndpointRequest(
      as,
      client,
      clientAuth,
      GRANT,
      { subject_token: userToken, subject_token_type: ACCESS_TOKEN, audience: 'ledger' },
      INSECURE,
    );
    await assert.rejects(
      oauth.processGenericTokenEndpointResponse(as, client, response),
      (error: unknown) =>
        error instanceof oauth.ResponseBodyError && error.error === 'unauthorized_client',
    );
  });
});
