import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { generateSigningKey, JWT_BEARER_ASSERTION_TYPE, type SigningKey } from '@tessera/core';
import { startTestAuthority, type TestAuthority } from '../src/testing/test-authority.ts';

const PATH = '/v1/service/keys';

let authority: TestAuthority;
let billing: { key: SigningKey; clientId: string };

/** Reasons the authority logged since `mark` (its log lines are JSON). */
function reasonsSince(mark: number): string[] {
  return authority.logLines
    .slice(mark)
    .map((line) => (JSON.parse(line) as { reason?: string }).reason)
    .filter((reason): reason is string => reason !== undefined);
}

function rotate(
  key: SigningKey,
  clientId: string,
  jwk: unknown,
  assertion = authority.assertion(key, clientId),
): Promise<Response> {
  return authority.form(PATH, {
    client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
    client_assertion: assertion,
    jwk: typeof jwk === 'string' ? jwk : JSON.stringify(jwk),
  });
}

async function kidsOf(name: string): Promise<string[]> {
  const response = await authority.admin('GET', `/v1/admin/services/${name}`);
  return ((await response.json()) as { kids: string[] }).kids;
}

function tokenStatus(key: SigningKey, clientId: string): Promise<number> {
  return authority
    .tokenRequest(key, clientId, { audience: 'billing' })
    .then((response) => response.status);
}

before(async () => {
  authority = await startTestAuthority();
  billing = await authority.register('billing', [], []);
});
after(() => authority.close());

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const fresh = generateSigningKey('ES256').publicJwk;

/** Keys the endpoint must refuse: 400 invalid_request, the reason in the log. */
const BAD_KEYS: readonly { name: string; jwk: unknown; reason: string }[] = [
  { name: 'no key', jwk: '', reason: 'jwk_missing' },
  { name: 'not JSON', jwk: '{"kty":', reason: 'jwk_not_json' },
  {
    name: 'a private JWK',
    jwk: ec.privateKey.export({ format: 'jwk' }),
    reason: 'ERR_JWK_PRIVATE',
  },
  {
    name: 'a symmetric (HS256) key',
    jwk: { kty: 'oct', k: 'c2VjcmV0c2VjcmV0c2VjcmV0', alg: 'HS256' },
    reason: 'ERR_JWK_PRIVATE',
  },
  { name: 'alg HS256 on an EC key', jwk: { ...fresh, alg: 'HS256' }, reason: 'ERR_JWK_INVALID' },
  { name: 'alg none on an EC key', jwk: { ...fresh, alg: 'none' }, reason: 'ERR_JWK_INVALID' },
  {
    name: 'a P-384 key',
    jwk: p384.publicKey.export({ format: 'jwk' }),
    reason: 'ERR_JWK_UNSUPPORTED',
  },
  {
    name: 'an RSA key',
    jwk: generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }),
    reason: 'ERR_JWK_UNSUPPORTED',
  },
  {
    name: 'a kid that is not its thumbprint',
    jwk: { ...fresh, kid: 'mine' },
    reason: 'kid_not_thumbprint',
  },
  { name: 'an oversized JWK', jwk: { ...fresh, pad: 'x'.repeat(4096) }, reason: 'jwk_too_large' },
];

void describe('POST /v1/service/keys refusals', () => {
  for (const bad of BAD_KEYS) {
    void it(`refuses ${bad.name}: 400 invalid_request, keys unchanged`, async () => {
      const before = await kidsOf('billing');
      const mark = authority.logLines.length;
      const response = await rotate(billing.key, billing.clientId, bad.jwk);
      assert.equal(response.status, 400);
      assert.equal(((await response.json()) as { error: string }).error, 'invalid_request');
      assert.deepEqual(reasonsSince(mark), [bad.reason]);
      assert.deepEqual(await kidsOf('billing'), before);
    });
  }

  void it('refuses a key already registered', async () => {
    const mark = authority.logLines.length;
    const response = await rotate(billing.key, billing.clientId, billing.key.publicJwk);
    assert.equal(response.status, 400);
    assert.deepEqual(reasonsSince(mark), ['key_already_registered']);
  });

  /** Client authentication failures: 401 invalid_client, nothing registered. */
  const UNAUTHENTICATED: readonly {
    name: string;
    form: () => Record<string, string>;
    reason: string;
  }[] = [
    {
      name: 'no client authentication',
      form: () => ({ jwk: JSON.stringify(generateSigningKey().publicJwk) }),
      reason: 'unsupported_client_auth',
    },
    {
      name: 'an assertion signed by an unregistered key',
      form: () => ({
        client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
        client_assertion: authority.assertion(generateSigningKey(), billing.clientId),
        jwk: JSON.stringify(generateSigningKey().publicJwk),
      }),
      reason: 'kid_unknown',
    },
    {
      name: "an assertion for this service signed with another service's key",
      form: () => ({
        client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
        client_assertion: authority.assertion(other.key, billing.clientId),
        jwk: JSON.stringify(generateSigningKey().publicJwk),
      }),
      reason: 'kid_unknown',
    },
    {
      name: 'a client_id of another service than the assertion',
      form: () => ({
        client_id: other.clientId,
        client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
        client_assertion: authority.assertion(billing.key, billing.clientId),
        jwk: JSON.stringify(generateSigningKey().publicJwk),
      }),
      reason: 'client_id_mismatch',
    },
  ];
  let other: { key: SigningKey; clientId: string };
  before(async () => {
    other = await authority.register('other-svc', ['billing'], []);
  });

  for (const refusal of UNAUTHENTICATED) {
    void it(`refuses ${refusal.name}: 401 invalid_client`, async () => {
      const before = await kidsOf('billing');
      const mark = authority.logLines.length;
      const response = await authority.form(PATH, refusal.form());
      assert.equal(response.status, 401);
      assert.equal(((await response.json()) as { error: string }).error, 'invalid_client');
      assert.deepEqual(reasonsSince(mark), [refusal.reason]);
      assert.deepEqual(await kidsOf('billing'), before);
    });
  }

  void it('refuses a replayed assertion', async () => {
    const caller = await authority.register('replay-svc', ['billing'], []);
    const assertion = authority.assertion(caller.key, caller.clientId);
    const first = await rotate(
      caller.key,
      caller.clientId,
      generateSigningKey().publicJwk,
      assertion,
    );
    assert.equal(first.status, 200);
    const mark = authority.logLines.length;
    const replayed = await rotate(
      caller.key,
      caller.clientId,
      generateSigningKey().publicJwk,
      assertion,
    );
    assert.equal(replayed.status, 401);
    assert.deepEqual(reasonsSince(mark), ['replayed']);
    assert.equal((await kidsOf('replay-svc')).length, 2);
  });

  void it('refuses a disabled service', async () => {
    const caller = await authority.register('off-svc', ['billing'], []);
    const disabled = await authority.admin('POST', '/v1/admin/services', {
      name: 'off-svc',
      enabled: false,
    });
    assert.equal(disabled.status, 200);
    const mark = authority.logLines.length;
    const response = await rotate(caller.key, caller.clientId, generateSigningKey().publicJwk);
    assert.equal(response.status, 401);
    assert.deepEqual(reasonsSince(mark), ['client_disabled']);
    assert.deepEqual(await kidsOf('off-svc'), [caller.key.kid]);
  });

  void it('refuses a body over the limit: 413', async () => {
    const response = await authority.form(PATH, {
      client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
      client_assertion: authority.assertion(billing.key, billing.clientId),
      jwk: JSON.stringify(generateSigningKey().publicJwk),
      pad: 'x'.repeat(40 * 1024),
    });
    assert.equal(response.status, 413);
  });
});

void describe('POST /v1/service/keys rotation', () => {
  void it('keeps the key that authenticated and the new one; the next rotation drops the one before', async () => {
    const caller = await authority.register('rotating', ['billing'], []);
    const first = caller.key;
    const second = generateSigningKey('ES256');
    const third = generateSigningKey('EdDSA');

    const response = await rotate(first, caller.clientId, second.publicJwk);
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(response.headers.get('cache-control'), 'no-store');
    assert.deepEqual(await response.json(), {
      client_id: caller.clientId,
      kid: second.kid,
      kids: [first.kid, second.kid],
    });
    // Both work until the next rotation: the client may not have switched yet.
    assert.equal(await tokenStatus(second, caller.clientId), 200);
    assert.equal(await tokenStatus(first, caller.clientId), 200);

    const next = await rotate(second, caller.clientId, third.publicJwk);
    assert.equal(next.status, 200);
    assert.deepEqual(await kidsOf('rotating'), [second.kid, third.kid]);
    assert.equal(await tokenStatus(third, caller.clientId), 200);
    // The just-replaced key still works; the one before it is refused.
    assert.equal(await tokenStatus(second, caller.clientId), 200);
    const mark = authority.logLines.length;
    assert.equal(await tokenStatus(first, caller.clientId), 401);
    assert.deepEqual(reasonsSince(mark), ['kid_unknown']);
    // An old key cannot rotate either.
    const stale = await rotate(first, caller.clientId, generateSigningKey().publicJwk);
    assert.equal(stale.status, 401);

    const audit = await authority.admin('GET', '/v1/admin/audit?after=0&limit=1000');
    const rotated = (
      (await audit.json()) as {
        records: { type: string; actor: string; data: Record<string, unknown> }[];
      }
    ).records.filter((r) => r.type === 'service.key_rotated' && r.actor === caller.clientId);
    assert.deepEqual(
      rotated.map((r) => r.data),
      [
        {
          name: 'rotating',
          authMethod: 'private_key_jwt',
          kid: second.kid,
          kids: [first.kid, second.kid],
          dropped: [],
        },
        {
          name: 'rotating',
          authMethod: 'private_key_jwt',
          kid: third.kid,
          kids: [second.kid, third.kid],
          dropped: [first.kid],
        },
      ],
    );
    const metrics = await (await authority.request('/metrics')).text();
    assert.match(
      metrics,
      /tessera_authority_client_keys_rotated_total\{auth_method="private_key_jwt"\} [1-9]/,
    );
  });

  void it('rotating with the older of two keys keeps that one and drops the newer', async () => {
    const caller = await authority.register('two-keys', ['billing'], []);
    const second = generateSigningKey();
    assert.equal((await rotate(caller.key, caller.clientId, second.publicJwk)).status, 200);
    const third = generateSigningKey();
    assert.equal((await rotate(caller.key, caller.clientId, third.publicJwk)).status, 200);
    assert.deepEqual(await kidsOf('two-keys'), [caller.key.kid, third.kid]);
    assert.equal(await tokenStatus(second, caller.clientId), 401);
  });
});
