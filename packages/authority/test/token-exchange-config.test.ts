import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTesseraError } from '@tessera/core';
import { configDocument, validateConfig } from '../src/config.ts';

const BASE = Object.freeze({
  issuer: 'https://auth.example.com',
  trustDomain: 'example.org',
  listen: { host: '0.0.0.0', port: 8443 },
  tls: { certFile: '/etc/tessera/tls.crt', keyFile: '/etc/tessera/tls.key' },
  store: { kind: 'postgres', connectionStringFile: '/etc/tessera/pg.url' },
  kekFile: '/etc/tessera/kek',
  adminTokenFile: '/etc/tessera/admin.token',
});

const IDP = { issuer: 'https://idp.example.com', audience: 'tessera', clients: ['gateway'] };

describe('users.issuers and tokenExchange config', () => {
  it('applies the defaults', () => {
    const config = validateConfig({ ...BASE, users: { issuers: [IDP] } }, { dev: false });
    assert.deepEqual(config.userIssuers, [
      {
        ...IDP,
        algorithms: ['RS256', 'ES256', 'EdDSA'],
        maxTokenBytes: 8192,
        clients: ['spiffe://example.org/gateway'],
      },
    ]);
    assert.equal(config.tokenExchange.maxChainDepth, 3);
    assert.equal(config.tokenExchange.mayAct.size, 0);
  });

  it('keeps mayAct as SPIFFE IDs and survives configDocument', () => {
    const config = validateConfig(
      {
        ...BASE,
        users: { issuers: [{ ...IDP, tenantClaim: 'org', algorithms: ['PS256'] }] },
        tokenExchange: {
          maxChainDepth: 2,
          mayAct: [
            { actor: 'gateway', audiences: ['event-service', 'spiffe://example.org/billing'] },
          ],
        },
      },
      { dev: false },
    );
    assert.deepEqual(
      [...(config.tokenExchange.mayAct.get('spiffe://example.org/gateway') ?? [])],
      ['spiffe://example.org/event-service', 'spiffe://example.org/billing'],
    );
    const again = validateConfig(configDocument(config), { dev: false });
    assert.deepEqual(again.userIssuers, config.userIssuers);
    assert.deepEqual(again.tokenExchange, config.tokenExchange);
  });

  it("defaults clients to the audience when that is a service's SPIFFE ID", () => {
    const config = validateConfig(
      {
        ...BASE,
        users: {
          issuers: [{ issuer: IDP.issuer, audience: 'spiffe://example.org/api-gateway' }],
        },
      },
      { dev: false },
    );
    assert.deepEqual(config.userIssuers[0]?.clients, ['spiffe://example.org/api-gateway']);
  });

  const refused: { name: string; document: Record<string, unknown>; code: string }[] = [
    {
      name: 'a plain-HTTP issuer off loopback',
      document: { users: { issuers: [{ ...IDP, issuer: 'http://idp.example.com' }] } },
      code: 'ERR_CONFIG_INSECURE',
    },
    {
      name: 'a plain-HTTP jwksUri off loopback',
      document: { users: { issuers: [{ ...IDP, jwksUri: 'http://10.0.0.1/jwks' }] } },
      code: 'ERR_CONFIG_INSECURE',
    },
    ...['none', 'HS256', 'HS512', 'RSA1_5'].map((alg) => ({
      name: `algorithm ${alg}`,
      document: { users: { issuers: [{ ...IDP, algorithms: [alg] }] } },
      code: 'ERR_CONFIG_INVALID',
    })),
    {
      name: 'an empty algorithm list',
      document: { users: { issuers: [{ ...IDP, algorithms: [] }] } },
      code: 'ERR_CONFIG_INVALID',
    },
    {
      name: 'the authority itself as a user issuer',
      document: { users: { issuers: [{ ...IDP, issuer: BASE.issuer }] } },
      code: 'ERR_CONFIG_INVALID',
    },
    {
      name: 'an issuer listed twice',
      document: { users: { issuers: [IDP, IDP] } },
      code: 'ERR_CONFIG_INVALID',
    },
    {
      name: 'an unknown issuer field',
      document: { users: { issuers: [{ ...IDP, tenant: 'acme' }] } },
      code: 'ERR_CONFIG_INVALID',
    },
    {
      name: 'no clients while the audience is not a workload SPIFFE ID (nobody could exchange)',
      document: { users: { issuers: [{ issuer: IDP.issuer, audience: 'tessera' }] } },
      code: 'ERR_CONFIG_INVALID',
    },
    {
      name: 'a client of another trust domain',
      document: { users: { issuers: [{ ...IDP, clients: ['spiffe://evil.org/gateway'] }] } },
      code: 'ERR_CONFIG_INVALID',
    },
    {
      name: 'an empty client list',
      document: { users: { issuers: [{ ...IDP, clients: [] }] } },
      code: 'ERR_CONFIG_INVALID',
    },
    {
      name: 'a mayAct actor of another trust domain',
      document: { tokenExchange: { mayAct: [{ actor: 'spiffe://evil.org/x', audiences: [] }] } },
      code: 'ERR_CONFIG_INVALID',
    },
    {
      name: 'a mayAct audience that is no service name',
      document: { tokenExchange: { mayAct: [{ actor: 'gateway', audiences: ['a/b/../c'] }] } },
      code: 'ERR_CONFIG_INVALID',
    },
    {
      name: 'maxChainDepth 0',
      document: { tokenExchange: { maxChainDepth: 0 } },
      code: 'ERR_CONFIG_INVALID',
    },
  ];
  for (const c of refused) {
    it(`refuses ${c.name}`, () => {
      assert.throws(
        () => validateConfig({ ...BASE, ...c.document }, { dev: false }),
        (error: unknown) => isTesseraError(error) && error.code === c.code,
      );
    });
  }

  it('allows a plain-HTTP issuer on loopback', () => {
    const config = validateConfig(
      { ...BASE, users: { issuers: [{ ...IDP, issuer: 'http://127.0.0.1:7704' }] } },
      { dev: false },
    );
    assert.equal(config.userIssuers[0]?.issuer, 'http://127.0.0.1:7704');
  });
});
