import assert from 'node:assert/strict';
import { constants, createHmac, generateKeyPairSync, KeyObject, sign } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { validateConfig } from '../src/config.ts';
import { SubjectTokenError, UserIssuers } from '../src/exchange/user-issuers.ts';
import { freePort } from '../src/testing/free-port.ts';
import { startStubIdp, type StubIdp } from './support/stub-idp.ts';

const BASE = {
  issuer: 'http://127.0.0.1:7700',
  trustDomain: 'tessera.local',
  listen: { host: '127.0.0.1', port: 7700 },
  store: { kind: 'sqlite', path: '/tmp/unused.db' },
  kekFile: '/tmp/kek',
  adminTokenFile: '/tmp/admin',
};

function issuersOf(
  users: Record<string, unknown>[],
  options: { jwksCooldownMs?: number } = {},
): UserIssuers {
  return new UserIssuers(
    // Who may present the tokens is checked by the token exchange, not here.
    validateConfig(
      { ...BASE, users: { issuers: users.map((user) => ({ clients: ['gateway'], ...user })) } },
      { dev: true },
    ).userIssuers,
    options,
  );
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Signs any header and claims with node:crypto: the tool for forging subject tokens. */
function forge(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  key: KeyObject,
  pss = false,
): string {
  const input = `${b64(header)}.${b64(claims)}`;
  const signature = sign('sha256', Buffer.from(input), {
    key,
    ...(pss
      ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
      : {}),
  });
  return `${input}.${signature.toString('base64url')}`;
}

function refusedWith(reason: string) {
  return (error: unknown) => error instanceof SubjectTokenError && error.reason === reason;
}

/** The external issuers' key sets against a real (loopback) discovery document and JWKS. */
describe('UserIssuers', () => {
  let idp: StubIdp;
  let issuers: UserIssuers;
  const now = () => Math.floor(Date.now() / 1000);

  before(async () => {
    idp = await startStubIdp('tessera');
    const config = validateConfig(
      {
        ...BASE,
        users: { issuers: [{ issuer: idp.issuer, audience: 'tessera', clients: ['gateway'] }] },
      },
      { dev: true },
    );
    // No cooldown: a refetch on an unknown kid happens at once (the default waits 30 s).
    issuers = new UserIssuers(config.userIssuers, { jwksCooldownMs: 0 });
  });
  after(async () => {
    await idp.close();
  });

  it('refetches the JWKS when a token names an unknown kid, and caches it otherwise', async () => {
    const first = await issuers.verify(await idp.sign({ sub: 'alice' }), now());
    assert.equal(first.subject, 'alice');
    await issuers.verify(await idp.sign({ sub: 'alice' }), now());
    assert.equal(idp.jwksRequests, 1);

    await idp.rotate();
    const rotated = await issuers.verify(await idp.sign({ sub: 'bob' }), now());
    assert.equal(rotated.subject, 'bob');
    assert.equal(idp.jwksRequests, 2);
  });

  it('refuses a kid the issuer does not publish, even after a refetch', async () => {
    await assert.rejects(
      issuers.verify(await idp.sign({ sub: 'alice' }, { kid: 'idp-unknown' }), now()),
      (error: unknown) => error instanceof SubjectTokenError && error.reason === 'key_unknown',
    );
  });
});

/**
 * An RS256 provider laid out like Keycloak (a signing key and an encryption key in one JWKS), its
 * tokens signed by jose or forged: every refusal keeps the reason of docs/token-exchange.md.
 */
describe('UserIssuers: an RS256 provider', () => {
  let idp: StubIdp;
  let issuers: UserIssuers;
  let rsaKey: KeyObject;
  const now = () => Math.floor(Date.now() / 1000);
  const claims = (overrides: Record<string, unknown> = {}) => ({
    iss: idp.issuer,
    sub: 'alice',
    aud: 'tessera',
    iat: now(),
    exp: now() + 600,
    tenant: 'acme',
    scope: 'events:write invoices:read',
    ...overrides,
  });
  const rs256 = (overrides: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
    forge({ alg: 'RS256', typ: 'JWT', kid: idp.kid, ...header }, claims(overrides), rsaKey);

  before(async () => {
    idp = await startStubIdp('tessera', { alg: 'RS256' });
    const encryption = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    idp.extraKeys = [
      { ...encryption.export({ format: 'jwk' }), kid: 'enc-1', use: 'enc', alg: 'RSA-OAEP' },
    ];
    rsaKey = KeyObject.from(idp.privateKey);
    // The default cooldown (30 s): an unknown kid refetches at most once in this suite.
    issuers = issuersOf([{ issuer: idp.issuer, audience: 'tessera', tenantClaim: 'tenant' }]);
  });
  after(async () => {
    await idp.close();
  });

  it('verifies a jose-signed RS256 token, and refuses nothing before its keys are needed', async () => {
    await assert.rejects(
      issuers.verify(`${b64({ alg: 'none' })}.${b64(claims())}.`, now()),
      refusedWith('algorithm_not_allowed'),
    );
    assert.equal(idp.jwksRequests, 0);
    const verified = await issuers.verify(await idp.sign(claims()), now());
    assert.deepEqual(verified, {
      issuer: idp.issuer,
      subject: 'alice',
      tenant: 'acme',
      scopes: ['events:write', 'invoices:read'],
      expiresAt: verified.expiresAt,
    });
    assert.equal(idp.jwksRequests, 1);
  });

  it('accepts nbf within the 5 s tolerance, and an x5t header', async () => {
    const verified = await issuers.verify(rs256({ nbf: now() + 3 }, { x5t: 'thumb' }), now());
    assert.equal(verified.subject, 'alice');
  });

  // prettier-ignore
  const CASES: readonly (readonly [name: string, token: () => string, reason: string])[] = [
    ['alg none with a signature', () => `${b64({ alg: 'none', kid: idp.kid })}.${b64(claims())}.${rs256().split('.')[2]}`, 'algorithm_not_allowed'],
    ['HS256 keyed with the RSA public JWK', () => { const input = `${b64({ alg: 'HS256', kid: idp.kid })}.${b64(claims())}`; return `${input}.${createHmac('sha256', JSON.stringify(KeyObject.from(idp.privateKey).export({ format: 'jwk' }))).update(input).digest('base64url')}`; }, 'algorithm_not_allowed'],
    ['ES256 naming the RSA key', () => `${b64({ alg: 'ES256', kid: idp.kid })}.${b64(claims())}.${Buffer.alloc(64, 1).toString('base64url')}`, 'algorithm_not_allowed'],
    ['PS256, not in the issuer\'s algorithms', () => forge({ alg: 'PS256', kid: idp.kid }, claims(), rsaKey, true), 'algorithm_not_allowed'],
    ['a tampered payload', () => { const [h, , s] = rs256().split('.'); return `${h}.${b64(claims({ sub: 'mallory' }))}.${s}`; }, 'signature_invalid'],
    ['another RSA key under the published kid', () => forge({ alg: 'RS256', kid: idp.kid }, claims(), generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey), 'signature_invalid'],
    ['a crit header', () => rs256({}, { crit: ['exp'] }), 'malformed'],
    ['a jku header', () => rs256({}, { jku: 'http://127.0.0.1:1/jwks' }), 'malformed'],
    ['not a JWT', () => 'a.b', 'malformed'],
    ['the kid of the encryption key', () => rs256({}, { kid: 'enc-1' }), 'key_unknown'],
    ['no kid', () => rs256({}, { kid: undefined }), 'key_unknown'],
    ['another audience', () => rs256({ aud: 'another-app' }), 'wrong_audience'],
    ['an expired token', () => rs256({ iat: now() - 900, exp: now() - 60 }), 'expired'],
    ['nbf past the tolerance', () => rs256({ nbf: now() + 60 }), 'not_yet_valid'],
    ['iat in the future', () => rs256({ iat: now() + 600, exp: now() + 900 }), 'not_yet_valid'],
    ['no exp', () => rs256({ exp: undefined }), 'claim_invalid'],
    ['exp as a string', () => rs256({ exp: String(now() + 600) }), 'claim_invalid'],
    ['no sub', () => rs256({ sub: undefined }), 'claim_invalid'],
    ['an empty sub', () => rs256({ sub: '' }), 'subject_invalid'],
    ['a sub that is not a string', () => rs256({ sub: 7 }), 'subject_invalid'],
    ['a user named like a workload', () => rs256({ sub: 'spiffe://tessera.local/billing' }), 'subject_is_workload'],
    ['a tenant that is not a string', () => rs256({ tenant: ['acme'] }), 'tenant_claim_invalid'],
    ['no tenant', () => rs256({ tenant: undefined }), 'tenant_claim_invalid'],
    ['another issuer', () => rs256({ iss: 'https://idp.example' }), 'unknown_issuer'],
    ['a token over maxTokenBytes', () => rs256({ pad: 'x'.repeat(9000) }), 'too_large'],
  ];
  for (const [name, token, reason] of CASES) {
    it(`refuses ${name}: ${reason}`, async () => {
      await assert.rejects(issuers.verify(token(), now()), refusedWith(reason));
    });
  }

  it('fetched the JWKS once: unknown kids within the cooldown do not refetch', () => {
    assert.equal(idp.jwksRequests, 1);
  });
});

describe('UserIssuers: discovery and JWKS failures', () => {
  let idp: StubIdp;
  const now = () => Math.floor(Date.now() / 1000);
  before(async () => {
    idp = await startStubIdp('tessera');
  });
  after(async () => {
    await idp.close();
  });

  it('refuses with jwks_unavailable while the JWKS fails, and recovers on the next token', async () => {
    const issuers = issuersOf([{ issuer: idp.issuer, audience: 'tessera' }], { jwksCooldownMs: 0 });
    idp.jwksStatus = 500;
    await assert.rejects(
      issuers.verify(await idp.sign({ sub: 'alice' }), now()),
      refusedWith('jwks_unavailable'),
    );
    idp.jwksStatus = 200;
    assert.equal((await issuers.verify(await idp.sign({ sub: 'alice' }), now())).subject, 'alice');
  });

  it('refuses a JWKS that carries private key material with jwks_unavailable', async () => {
    const issuers = issuersOf([{ issuer: idp.issuer, audience: 'tessera' }]);
    idp.extraKeys = [{ kty: 'oct', kid: 'secret', k: 'c2VjcmV0' }];
    try {
      await assert.rejects(
        issuers.verify(await idp.sign({ sub: 'alice' }), now()),
        refusedWith('jwks_unavailable'),
      );
    } finally {
      idp.extraKeys = [];
    }
  });

  it('refuses a discovery document naming another issuer, or not JSON; retries it later', async () => {
    const issuers = issuersOf([{ issuer: idp.issuer, audience: 'tessera' }]);
    for (const body of [
      JSON.stringify({ issuer: 'https://idp.example', jwks_uri: `${idp.issuer}/jwks` }),
      'not json',
      JSON.stringify({ issuer: idp.issuer, jwks_uri: 'http://idp.example/jwks' }),
    ]) {
      idp.discoveryBody = body;
      await assert.rejects(
        issuers.verify(await idp.sign({ sub: 'alice' }), now()),
        refusedWith('discovery_invalid'),
        body,
      );
    }
    idp.discoveryBody = undefined;
    assert.equal((await issuers.verify(await idp.sign({ sub: 'alice' }), now())).subject, 'alice');
  });

  it('refuses with discovery_failed when the issuer does not answer', async () => {
    const issuer = `http://127.0.0.1:${await freePort()}`;
    const issuers = issuersOf([{ issuer, audience: 'tessera' }]);
    await assert.rejects(
      issuers.verify(await idp.sign({ sub: 'alice' }, { issuer }), now()),
      refusedWith('discovery_failed'),
    );
  });
});
