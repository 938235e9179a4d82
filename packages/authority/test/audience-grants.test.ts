import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateSigningKey, type SigningKey } from '@tessera/core';
import { startTestAuthority, type TestAuthority } from '../src/testing/test-authority.ts';

const TD = 'spiffe://tessera.local';

/**
 * Review finding 8: the registry granted scopes per service, so event-service, allowed
 * `audit:write` for the audit service and `invoices:write` for billing, could ask for a billing
 * token carrying `audit:write`. Grants are now per audience.
 */
describe('scopes are granted per audience', () => {
  let authority: TestAuthority;
  let key: SigningKey;
  const clientId = `${TD}/event-service`;

  before(async () => {
    authority = await startTestAuthority();
    for (const name of ['billing', 'audit', 'tickets']) await authority.register(name, [], []);
    key = generateSigningKey();
    const registered = await authority.admin('POST', '/v1/admin/services', {
      name: 'event-service',
      grants: [
        { audience: 'billing', scopes: ['invoices:write', 'invoices:read'] },
        { audience: `${TD}/audit`, scopes: ['audit:write'] },
        { audience: 'tickets', scopes: [] },
      ],
      jwks: { keys: [key.publicJwk] },
    });
    assert.equal(registered.status, 201);
    const body = (await registered.json()) as Record<string, unknown>;
    assert.deepEqual(body.audiences, [`${TD}/billing`, `${TD}/audit`, `${TD}/tickets`]);
    assert.deepEqual(body.grants, [
      { audience: `${TD}/billing`, scopes: ['invoices:write', 'invoices:read'] },
      { audience: `${TD}/audit`, scopes: ['audit:write'] },
      { audience: `${TD}/tickets`, scopes: [] },
    ]);
  });
  after(async () => {
    await authority.close();
  });

  const REQUESTS: readonly [audience: string, scope: string, error: string | undefined][] = [
    ['billing', 'invoices:write', undefined],
    ['billing', 'invoices:write invoices:read', undefined],
    [`${TD}/audit`, 'audit:write', undefined],
    ['tickets', '', undefined],
    ['billing', 'audit:write', 'invalid_scope'],
    ['billing', 'invoices:write audit:write', 'invalid_scope'],
    ['audit', 'invoices:write', 'invalid_scope'],
    ['tickets', 'invoices:read', 'invalid_scope'],
    ['tickets', 'audit:write', 'invalid_scope'],
    ['event-service', '', 'invalid_target'],
  ];
  for (const [audience, scope, error] of REQUESTS) {
    it(`${error === undefined ? 'issues' : `refuses (${error})`} ${audience} with "${scope}"`, async () => {
      const response = await authority.tokenRequest(key, clientId, {
        audience,
        ...(scope === '' ? {} : { scope }),
      });
      const body = (await response.json()) as { error?: string; scope?: string };
      if (error === undefined) {
        assert.equal(response.status, 200);
        assert.equal(body.scope, scope === '' ? undefined : scope);
      } else {
        assert.equal(response.status, 400);
        assert.equal(body.error, error);
      }
    });
  }

  it('keeps the flat form: every listed scope for every listed audience', async () => {
    const legacyKey = generateSigningKey();
    const registered = await authority.admin('POST', '/v1/admin/services', {
      name: 'legacy',
      audiences: ['billing', 'audit'],
      scopes: ['invoices:read', 'audit:read'],
      jwks: { keys: [legacyKey.publicJwk] },
    });
    assert.equal(registered.status, 201);
    assert.deepEqual(((await registered.json()) as { grants: unknown }).grants, [
      { audience: `${TD}/billing`, scopes: ['invoices:read', 'audit:read'] },
      { audience: `${TD}/audit`, scopes: ['invoices:read', 'audit:read'] },
    ]);
    const response = await authority.tokenRequest(legacyKey, `${TD}/legacy`, {
      audience: 'billing',
      scope: 'audit:read',
    });
    assert.equal(response.status, 200);
  });

  const BAD_BODIES: readonly [why: string, body: Record<string, unknown>][] = [
    [
      'grants and the flat form together',
      { grants: [{ audience: 'billing', scopes: [] }], audiences: ['audit'] },
    ],
    ['grants and flat scopes together', { grants: [], scopes: ['a'] }],
    ['scopes without an audience', { scopes: ['invoices:read'] }],
    [
      'an audience granted twice (name and SPIFFE ID)',
      {
        grants: [
          { audience: 'billing', scopes: ['a'] },
          { audience: `${TD}/billing`, scopes: ['b'] },
        ],
      },
    ],
    [
      'an audience of another trust domain',
      { grants: [{ audience: 'spiffe://x.example/a', scopes: [] }] },
    ],
    ['a grant without scopes', { grants: [{ audience: 'billing' }] }],
    ['an invalid scope in a grant', { grants: [{ audience: 'billing', scopes: ['a b'] }] }],
    ['a grant that is not an object', { grants: ['billing'] }],
  ];
  for (const [index, [why, body]] of BAD_BODIES.entries()) {
    it(`refuses a registration with ${why} (400)`, async () => {
      const name = `refused-${index}`;
      const response = await authority.admin('POST', '/v1/admin/services', { name, ...body });
      assert.equal(response.status, 400);
      assert.equal((await authority.admin('GET', `/v1/admin/services/${name}`)).status, 404);
    });
  }
});
