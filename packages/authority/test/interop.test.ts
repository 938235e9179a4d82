import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { generateSigningKey } from '@tessera/core';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import { startTestAuthority, type TestAuthority } from '../src/testing/test-authority.ts';

/**
 * Interoperability with independent implementations: oauth4webapi (an RFC 8414 / RFC 7523 /
 * RFC 7009 / RFC 7662 client that knows nothing about Tessera) discovers the authority and
 * authenticates with `private_key_jwt`; jose verifies the RFC 9068 access tokens from the
 * published JWKS.
 */

const CLIENT = 'spiffe://tessera.local/interop-client';
const BILLING = 'spiffe://tessera.local/billing';
const CLIENT_KID = 'interop-client-es256-1';
const BILLING_KID = 'billing-es256-1';

/** The dev authority is plain HTTP on loopback; oauth4webapi refuses http:// unless told. */
// eslint-disable-next-line @typescript-eslint/no-deprecated -- flagged on purpose by the library; loopback test server only
const INSECURE = { [oauth.allowInsecureRequests]: true } as const;

interface CapturedRequest {
  readonly url: string;
  readonly body: URLSearchParams;
}

/** A fetch that records what oauth4webapi sends, so the test can look at the assertion it built. */
function recordingFetch(into: CapturedRequest[]): typeof fetch {
  return async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const body = init?.body;
    into.push({
      url,
      body: new URLSearchParams(body instanceof URLSearchParams ? body : ''),
    });
    return fetch(input, init);
  };
}

describe('interoperability: oauth4webapi client, jose verifier', () => {
  let authority: TestAuthority;
  let as: oauth.AuthorizationServer;
  let clientAuth: oauth.ClientAuth;
  const client: oauth.Client = { client_id: CLIENT };
  /** Billing introspects: only a token's audience (or an admin) learns that it is active. */
  let billingAuth: oauth.ClientAuth;
  const billingClient: oauth.Client = { client_id: BILLING };

  /** Registers a service whose key is made with WebCrypto, not with Tessera's helpers. */
  async function registerWithWebCrypto(
    name: string,
    kid: string,
    grants: { audiences?: string[]; scopes?: string[] },
  ): Promise<oauth.ClientAuth> {
    const { privateKey, publicKey } = await webcrypto.subtle.generateKey(
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['sign', 'verify'],
    );
    const publicJwk = await webcrypto.subtle.exportKey('jwk', publicKey);
    const registered = await authority.admin('POST', '/v1/admin/services', {
      name,
      ...grants,
      jwks: {
        keys: [{ kty: publicJwk.kty, crv: publicJwk.crv, x: publicJwk.x, y: publicJwk.y, kid }],
      },
    });
    assert.equal(registered.status, 201);
    return oauth.PrivateKeyJwt({ key: privateKey, kid });
  }

  before(async () => {
    authority = await startTestAuthority();
    billingAuth = await registerWithWebCrypto('billing', BILLING_KID, {});
    clientAuth = await registerWithWebCrypto('interop-client', CLIENT_KID, {
      audiences: ['billing'],
      scopes: ['invoices:read', 'invoices:write'],
    });
    const issuer = new URL(authority.url);
    as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...INSECURE }),
    );
  });
  after(async () => {
    await authority.close();
  });

  async function clientCredentials(
    parameters: Record<string, string>,
    auth: oauth.ClientAuth = clientAuth,
    options: oauth.TokenEndpointRequestOptions = {},
  ): Promise<oauth.TokenEndpointResponse> {
    const response = await oauth.clientCredentialsGrantRequest(as, client, auth, parameters, {
      ...INSECURE,
      ...options,
    });
    return oauth.processClientCredentialsResponse(as, client, response);
  }

  it('discovers the metadata from the issuer URL (RFC 8414)', () => {
    assert.equal(as.issuer, authority.url);
    assert.equal(as.token_endpoint, `${authority.url}/oauth2/token`);
    assert.equal(as.jwks_uri, `${authority.url}/.well-known/jwks.json`);
    assert.equal(as.revocation_endpoint, `${authority.url}/oauth2/revoke`);
    assert.equal(as.introspection_endpoint, `${authority.url}/oauth2/introspect`);
    assert.deepEqual(as.token_endpoint_auth_methods_supported, ['private_key_jwt']);
  });

  it('does not reach the authority over http:// unless the client opts in', async () => {
    await assert.rejects(
      oauth.discoveryRequest(new URL(authority.url), { algorithm: 'oauth2' }),
      (error: unknown) =>
        error instanceof oauth.OperationProcessingError &&
        error.code === oauth.HTTP_REQUEST_FORBIDDEN,
    );
  });

  it('obtains a token with private_key_jwt that jose verifies from the remote JWKS', async () => {
    const sent: CapturedRequest[] = [];
    const result = await clientCredentials(
      { audience: 'billing', scope: 'invoices:read' },
      clientAuth,
      { [oauth.customFetch]: recordingFetch(sent) },
    );
    assert.equal(result.token_type, 'bearer');
    assert.equal(result.expires_in, 300);
    assert.equal(result.scope, 'invoices:read');

    // The assertion oauth4webapi built carries the kid the service registered.
    const assertion = sent[0]?.body.get('client_assertion') ?? '';
    assert.deepEqual(decodeProtectedHeader(assertion), { alg: 'ES256', kid: CLIENT_KID });
    assert.equal(sent[0]?.url, as.token_endpoint);
    assert.equal(sent[0]?.body.get('client_id'), CLIENT);

    const jwks = createRemoteJWKSet(new URL(as.jwks_uri ?? ''));
    const { payload, protectedHeader } = await jwtVerify(result.access_token, jwks, {
      issuer: as.issuer,
      audience: BILLING,
      typ: 'at+jwt',
      algorithms: ['ES256', 'EdDSA'],
      requiredClaims: ['exp', 'iat', 'jti', 'sub', 'client_id'],
    });
    assert.equal(protectedHeader.typ, 'at+jwt');
    assert.equal(payload.sub, CLIENT);
    assert.equal(payload.client_id, CLIENT);
    assert.equal(payload.scope, 'invoices:read');
    assert.equal(payload.aud, BILLING);
  });

  it('accepts the audience as a SPIFFE ID and several scopes', async () => {
    const result = await clientCredentials({
      audience: BILLING,
      scope: 'invoices:write invoices:read',
    });
    const { payload } = await jwtVerify(
      result.access_token,
      createRemoteJWKSet(new URL(as.jwks_uri ?? '')),
      { issuer: as.issuer, audience: BILLING, typ: 'at+jwt' },
    );
    assert.equal(payload.scope, 'invoices:write invoices:read');
  });

  it('introspects (RFC 7662) and revokes (RFC 7009) through oauth4webapi', async () => {
    const { access_token: token } = await clientCredentials({
      audience: 'billing',
      scope: 'invoices:write',
    });
    const introspect = async () =>
      oauth.processIntrospectionResponse(
        as,
        client,
        await oauth.introspectionRequest(as, billingClient, billingAuth, token, INSECURE),
      );

    const active = await introspect();
    assert.equal(active.active, true);
    assert.equal(active.sub, CLIENT);
    assert.equal(active.client_id, CLIENT);
    assert.equal(active.aud, BILLING);
    assert.equal(active.scope, 'invoices:write');
    assert.equal(active.iss, authority.url);

    // Rejects unless the endpoint answered 200 (RFC 7009 §2.2).
    await oauth.processRevocationResponse(
      await oauth.revocationRequest(as, client, clientAuth, token, INSECURE),
    );
    assert.deepEqual(await introspect(), { active: false });
  });

  it('surfaces invalid_scope for a scope the registry does not grant', async () => {
    await assert.rejects(
      clientCredentials({ audience: 'billing', scope: 'invoices:read admin' }),
      (error: unknown) =>
        error instanceof oauth.ResponseBodyError &&
        error.error === 'invalid_scope' &&
        error.status === 400,
    );
  });

  it('surfaces invalid_target for an audience the registry does not grant', async () => {
    await assert.rejects(
      clientCredentials({ audience: 'interop-client' }),
      (error: unknown) =>
        error instanceof oauth.ResponseBodyError &&
        error.error === 'invalid_target' &&
        error.status === 400,
    );
  });

  it('parses the 401 invalid_client challenge (RFC 6749 §5.2) for an unregistered key', async () => {
    const { privateKey } = await webcrypto.subtle.generateKey(
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['sign'],
    );
    await assert.rejects(
      clientCredentials(
        { audience: 'billing' },
        oauth.PrivateKeyJwt({ key: privateKey, kid: CLIENT_KID }),
      ),
      (error: unknown) =>
        error instanceof oauth.WWWAuthenticateChallengeError &&
        error.status === 401 &&
        error.cause.some(
          (challenge) =>
            challenge.scheme === 'bearer' && challenge.parameters.error === 'invalid_client',
        ),
    );
  });

  it('authenticates with a core Ed25519 key once the header says EdDSA', async () => {
    // oauth4webapi labels Ed25519 keys with RFC 9864's fully-specified "Ed25519"; the authority
    // accepts the polymorphic "EdDSA" it advertises in its metadata, so the client relabels it
    // with the library's documented hook.
    assert.deepEqual(as.token_endpoint_auth_signing_alg_values_supported, ['ES256', 'EdDSA']);
    const key = generateSigningKey('EdDSA');
    const registered = await authority.admin('POST', '/v1/admin/services', {
      name: 'interop-ed25519',
      audiences: ['billing'],
      jwks: { keys: [key.publicJwk] },
    });
    assert.equal(registered.status, 201);
    const cryptoKey = await webcrypto.subtle.importKey(
      'jwk',
      key.privateKey.export({ format: 'jwk' }),
      { name: 'Ed25519' },
      false,
      ['sign'],
    );
    const edClient: oauth.Client = { client_id: 'spiffe://tessera.local/interop-ed25519' };
    const auth = oauth.PrivateKeyJwt(
      { key: cryptoKey, kid: key.kid },
      {
        [oauth.modifyAssertion]: (header) => {
          header.alg = 'EdDSA';
        },
      },
    );
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      edClient,
      auth,
      { audience: 'billing' },
      INSECURE,
    );
    const result = await oauth.processClientCredentialsResponse(as, edClient, response);
    const { payload } = await jwtVerify(
      result.access_token,
      createRemoteJWKSet(new URL(as.jwks_uri ?? '')),
      { issuer: as.issuer, audience: BILLING, typ: 'at+jwt' },
    );
    assert.equal(payload.sub, edClient.client_id);
  });
});
