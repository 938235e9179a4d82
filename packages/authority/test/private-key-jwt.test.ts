import assert from 'node:assert/strict';
import { createHmac, sign, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import {
  generateSigningKey,
  TesseraError,
  type SigningAlgorithm,
  type SigningKey,
} from '@tessera/core';
import { ManualClock } from '@tessera/core/testing';
import {
  CLIENT_AUTH_FAILURES,
  ClientAuthError,
  verifyClientAssertion,
  type ClientAssertionOptions,
  type ClientAuthFailure,
} from '../src/client-auth/private-key-jwt.ts';
import type { ServiceRecord } from '../src/store/types.ts';
import { MemoryStore } from './support/memory-store.ts';

const T0 = Date.UTC(2025, 0, 1);
const NOW_S = T0 / 1000;
const ISSUER = 'http://127.0.0.1:7700';
const TOKEN_ENDPOINT = `${ISSUER}/oauth2/token`;
const BILLING = 'spiffe://tessera.local/billing';
const EVENTS = 'spiffe://tessera.local/event-service';
const LEGACY = 'spiffe://tessera.local/legacy';

const billingKey = generateSigningKey('ES256');
const billingSpareKey = generateSigningKey('ES256');
const eventsKey = generateSigningKey('EdDSA');
const legacyKey = generateSigningKey('ES256');
const stranger = generateSigningKey('ES256');

function service(name: string, keys: readonly SigningKey[], enabled = true): ServiceRecord {
  return {
    name,
    spiffeId: `spiffe://tessera.local/${name}`,
    enabled,
    grants: [],
    jwks: { keys: keys.map((k) => k.publicJwk) },
    createdAtMs: T0,
    updatedAtMs: T0,
  };
}

function setup(overrides: Partial<ClientAssertionOptions> = {}) {
  const clock = new ManualClock(T0);
  const store = new MemoryStore(clock);
  store.addService(service('billing', [billingKey, billingSpareKey]));
  store.addService(service('event-service', [eventsKey]));
  store.addService(service('legacy', [legacyKey], false));
  const options: ClientAssertionOptions = {
    issuer: ISSUER,
    store,
    clock,
    ...overrides,
  };
  return { clock, store, options };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function rawSign(alg: SigningAlgorithm, privateKey: KeyObject, input: string): string {
  return sign(alg === 'ES256' ? 'sha256' : null, Buffer.from(input), {
    key: privateKey,
    dsaEncoding: 'ieee-p1363',
  }).toString('base64url');
}

let jtiCounter = 0;

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  jtiCounter += 1;
  return {
    iss: BILLING,
    sub: BILLING,
    aud: ISSUER,
    exp: NOW_S + 60,
    iat: NOW_S,
    nbf: NOW_S,
    jti: `jti-${jtiCounter}`,
    ...overrides,
  };
}

/** A client assertion signed by `key` (the billing key unless told), header `{alg, kid}` plus `header`. */
function assertion(
  claimOverrides: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
  key: SigningKey = billingKey,
): string {
  const input = `${b64({ alg: key.alg, kid: key.kid, ...header })}.${b64(claims(claimOverrides))}`;
  return `${input}.${rawSign(key.alg, key.privateKey, input)}`;
}

const segments = (token: string) => token.split('.');
const valid = assertion();
const [validHeader = '', validPayload = ''] = segments(valid);

interface Attack {
  readonly name: string;
  readonly assertion: () => string;
  readonly reason: ClientAuthFailure;
  readonly options?: Partial<ClientAssertionOptions>;
  /** Runs with the same store before the attack (e.g. the legitimate first use). */
  readonly before?: (assertion: string, options: ClientAssertionOptions) => Promise<unknown>;
}

/**
 * Every forged, replayed or malformed client assertion we know of, one row each, with the reason
 * it must be refused for. Add a row for every new attack or bug.
 */
const ATTACKS: readonly Attack[] = [
  {
    name: 'replay of an assertion already used',
    assertion: () => assertion(),
    before: (a, options) => verifyClientAssertion(a, options),
    reason: 'replayed',
  },
  {
    name: 'replay of the same jti in a different assertion (new signature, same claims)',
    assertion: () => assertion({ jti: 'reused' }),
    before: (_, options) => verifyClientAssertion(assertion({ jti: 'reused' }), options),
    reason: 'replayed',
  },
  {
    name: 'alg none with an empty signature',
    assertion: () => `${b64({ alg: 'none', kid: billingKey.kid })}.${validPayload}.`,
    reason: 'malformed',
  },
  {
    name: 'alg none with a signature',
    assertion: () => `${b64({ alg: 'none', kid: billingKey.kid })}.${validPayload}.c2ln`,
    reason: 'alg_not_allowed',
  },
  {
    name: 'HS256 keyed with the client public key (algorithm confusion)',
    assertion: () => {
      const input = `${b64({ alg: 'HS256', kid: billingKey.kid })}.${b64(claims())}`;
      const secret = JSON.stringify(billingKey.publicJwk);
      return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
    },
    reason: 'alg_not_allowed',
  },
  {
    name: 'RS256',
    assertion: () => `${b64({ alg: 'RS256', kid: billingKey.kid })}.${validPayload}.c2ln`,
    reason: 'alg_not_allowed',
  },
  {
    name: 'alg in lower case',
    assertion: () => `${b64({ alg: 'es256', kid: billingKey.kid })}.${validPayload}.c2ln`,
    reason: 'alg_not_allowed',
  },
  {
    name: 'header alg EdDSA with the kid of an ES256 key',
    assertion: () => assertion({}, { alg: 'EdDSA' }),
    reason: 'alg_not_allowed',
  },
  {
    name: 'signed by a stranger key under the client kid',
    assertion: () => assertion({}, { kid: billingKey.kid }, stranger),
    reason: 'bad_signature',
  },
  {
    name: 'signed by a stranger key under its own kid',
    assertion: () => assertion({}, {}, stranger),
    reason: 'kid_unknown',
  },
  {
    name: 'no kid',
    assertion: () => assertion({}, { kid: undefined }),
    reason: 'kid_unknown',
  },
  {
    name: 'another registered client impersonating billing with its own key and kid',
    assertion: () => assertion({}, {}, eventsKey),
    reason: 'kid_unknown',
  },
  {
    name: 'another registered client impersonating billing under billing kid',
    assertion: () => assertion({}, { kid: billingKey.kid, alg: 'ES256' }, legacyKey),
    reason: 'bad_signature',
  },
  {
    name: 'claims altered after signing',
    assertion: () => {
      const [h, , s] = segments(assertion());
      return `${h}.${b64(claims({ exp: NOW_S + 120 }))}.${s}`;
    },
    reason: 'bad_signature',
  },
  {
    name: 'DER-encoded ECDSA signature',
    assertion: () => {
      const input = `${b64({ alg: 'ES256', kid: billingKey.kid })}.${b64(claims())}`;
      const der = sign('sha256', Buffer.from(input), billingKey.privateKey).toString('base64url');
      return `${input}.${der}`;
    },
    reason: 'bad_signature',
  },
  {
    name: 'aud another server',
    assertion: () => assertion({ aud: 'https://evil.example' }),
    reason: 'wrong_audience',
  },
  {
    name: 'aud issuer with a trailing slash',
    assertion: () => assertion({ aud: `${ISSUER}/` }),
    reason: 'wrong_audience',
  },
  { name: 'aud missing', assertion: () => assertion({ aud: undefined }), reason: 'wrong_audience' },
  { name: 'aud empty array', assertion: () => assertion({ aud: [] }), reason: 'wrong_audience' },
  {
    name: 'aud array without us',
    assertion: () => assertion({ aud: ['https://evil.example', `${TOKEN_ENDPOINT}/x`] }),
    reason: 'wrong_audience',
  },
  {
    name: 'aud nested array',
    assertion: () => assertion({ aud: [[ISSUER]] }),
    reason: 'wrong_audience',
  },
  // rfc7523bis §3 (review finding 7): the issuer identifier as the sole audience, as a string.
  // An assertion the client made for another endpoint or server must not be usable here.
  {
    name: 'aud the token endpoint',
    assertion: () => assertion({ aud: TOKEN_ENDPOINT }),
    reason: 'wrong_audience',
  },
  {
    name: 'aud [issuer] (an array, even of only the issuer)',
    assertion: () => assertion({ aud: [ISSUER] }),
    reason: 'wrong_audience',
  },
  {
    name: 'aud [issuer, token endpoint] (openid-client 5)',
    assertion: () => assertion({ aud: [ISSUER, TOKEN_ENDPOINT], nbf: undefined }),
    reason: 'wrong_audience',
  },
  {
    name: 'aud an array containing the issuer among others',
    assertion: () => assertion({ aud: ['https://other.example', ISSUER] }),
    reason: 'wrong_audience',
  },
  {
    name: 'aud an array containing the token endpoint among others',
    assertion: () => assertion({ aud: ['https://other.example', TOKEN_ENDPOINT] }),
    reason: 'wrong_audience',
  },
  {
    name: 'aud the issuer in other case (simple string comparison, RFC 3986 §6.2.1)',
    assertion: () => assertion({ aud: ISSUER.toUpperCase() }),
    reason: 'wrong_audience',
  },
  {
    name: 'aud the issuer with a default port spelled out',
    assertion: () => assertion({ aud: 'http://127.0.0.1:7700:80' }),
    reason: 'wrong_audience',
  },
  {
    name: 'aud the revocation endpoint',
    assertion: () => assertion({ aud: `${ISSUER}/oauth2/revoke` }),
    reason: 'wrong_audience',
  },
  {
    name: 'aud an object',
    assertion: () => assertion({ aud: { issuer: ISSUER } }),
    reason: 'wrong_audience',
  },
  { name: 'exp missing', assertion: () => assertion({ exp: undefined }), reason: 'malformed' },
  {
    name: 'exp as a string',
    assertion: () => assertion({ exp: String(NOW_S + 60) }),
    reason: 'malformed',
  },
  {
    name: 'exp more than five minutes ahead',
    assertion: () => assertion({ exp: NOW_S + 306, iat: undefined }),
    reason: 'lifetime_too_long',
  },
  {
    name: 'exp - iat longer than five minutes',
    assertion: () => assertion({ iat: NOW_S - 400, nbf: undefined, exp: NOW_S + 60 }),
    reason: 'lifetime_too_long',
  },
  {
    name: 'expired',
    assertion: () => assertion({ exp: NOW_S - 5, iat: NOW_S - 60 }),
    reason: 'expired',
  },
  {
    name: 'nbf in the future',
    assertion: () => assertion({ nbf: NOW_S + 30 }),
    reason: 'not_yet_valid',
  },
  {
    name: 'iat in the future',
    assertion: () => assertion({ iat: NOW_S + 30, exp: NOW_S + 90 }),
    reason: 'not_yet_valid',
  },
  {
    name: 'iss differs from sub',
    assertion: () => assertion({ sub: EVENTS }),
    reason: 'client_id_mismatch',
  },
  {
    name: 'sub unregistered (iss a registered client)',
    assertion: () => assertion({ sub: 'spiffe://tessera.local/ghost' }),
    reason: 'client_id_mismatch',
  },
  {
    name: 'iss and sub unregistered',
    assertion: () =>
      assertion({ iss: 'spiffe://tessera.local/ghost', sub: 'spiffe://tessera.local/ghost' }),
    reason: 'unknown_client',
  },
  {
    name: 'iss a registered name in another trust domain',
    assertion: () =>
      assertion({ iss: 'spiffe://evil.example/billing', sub: 'spiffe://evil.example/billing' }),
    reason: 'unknown_client',
  },
  {
    name: 'iss with an upper-case scheme',
    assertion: () =>
      assertion({ iss: 'SPIFFE://tessera.local/billing', sub: 'SPIFFE://tessera.local/billing' }),
    reason: 'unknown_client',
  },
  {
    name: 'iss a longer path under a registered name',
    assertion: () =>
      assertion({
        iss: 'spiffe://tessera.local/billing/x',
        sub: 'spiffe://tessera.local/billing/x',
      }),
    reason: 'unknown_client',
  },
  {
    name: 'iss the bare service name',
    assertion: () => assertion({ iss: 'billing', sub: 'billing' }),
    reason: 'unknown_client',
  },
  { name: 'iss missing', assertion: () => assertion({ iss: undefined }), reason: 'malformed' },
  {
    name: 'disabled service with a correct signature',
    assertion: () => assertion({ iss: LEGACY, sub: LEGACY }, {}, legacyKey),
    reason: 'client_disabled',
  },
  {
    name: 'client_id parameter names another client',
    assertion: () => assertion(),
    options: { clientIdFromRequest: EVENTS },
    reason: 'client_id_mismatch',
  },
  {
    name: 'client_id parameter is the service name rather than the SPIFFE ID',
    assertion: () => assertion(),
    options: { clientIdFromRequest: 'billing' },
    reason: 'client_id_mismatch',
  },
  { name: 'jti missing', assertion: () => assertion({ jti: undefined }), reason: 'jti_missing' },
  { name: 'jti empty', assertion: () => assertion({ jti: '' }), reason: 'jti_missing' },
  { name: 'jti a number', assertion: () => assertion({ jti: 42 }), reason: 'malformed' },
  {
    name: 'jti too long',
    assertion: () => assertion({ jti: 'x'.repeat(257) }),
    reason: 'malformed',
  },
  {
    name: 'oversize (over 8 KB)',
    assertion: () => assertion({ padding: 'x'.repeat(8192) }),
    reason: 'too_large',
  },
  { name: 'empty string', assertion: () => '', reason: 'malformed' },
  { name: 'garbage', assertion: () => 'not a jwt at all', reason: 'malformed' },
  { name: 'two segments', assertion: () => `${validHeader}.${validPayload}`, reason: 'malformed' },
  {
    name: 'header not JSON',
    assertion: () => `${Buffer.from('{').toString('base64url')}.${validPayload}.c2ln`,
    reason: 'malformed',
  },
  {
    name: 'payload a JSON array',
    assertion: () => `${validHeader}.${b64([claims()])}.c2ln`,
    reason: 'malformed',
  },
  {
    name: 'padded base64url header',
    assertion: () => `${validHeader}==.${validPayload}.c2ln`,
    reason: 'malformed',
  },
  {
    name: 'embedded jwk header with the attacker key',
    assertion: () => assertion({}, { jwk: stranger.publicJwk }, stranger),
    reason: 'header_not_allowed',
  },
  {
    name: 'jku header',
    assertion: () => assertion({}, { jku: 'https://evil.example/jwks.json' }),
    reason: 'header_not_allowed',
  },
  {
    name: 'x5u header',
    assertion: () => assertion({}, { x5u: 'https://evil.example/c.pem' }),
    reason: 'header_not_allowed',
  },
  {
    name: 'x5c header',
    assertion: () => assertion({}, { x5c: ['MIIB'] }),
    reason: 'header_not_allowed',
  },
  {
    name: 'crit header',
    assertion: () => assertion({}, { crit: ['exp'] }),
    reason: 'header_not_allowed',
  },
  {
    name: 'b64 false (RFC 7797)',
    assertion: () => assertion({}, { b64: false, crit: ['b64'] }),
    reason: 'header_not_allowed',
  },
  {
    name: 'an unknown header parameter',
    assertion: () => assertion({}, { 'x-note': 'hello' }),
    reason: 'header_not_allowed',
  },
  {
    name: 'access token type at+jwt (token confusion)',
    assertion: () => assertion({}, { typ: 'at+jwt' }),
    reason: 'header_not_allowed',
  },
  {
    name: 'typ not a string',
    assertion: () => assertion({}, { typ: 1 }),
    reason: 'header_not_allowed',
  },
  {
    name: 'nested JWT (cty JWT)',
    assertion: () => assertion({}, { cty: 'JWT' }),
    reason: 'header_not_allowed',
  },
  {
    name: 'JWE compact serialization (five segments)',
    assertion: () => `${b64({ alg: 'dir', enc: 'A256GCM' })}..aXY.Y2lwaGVy.dGFn`,
    reason: 'malformed',
  },
  {
    name: 'JWS JSON serialization',
    assertion: () => {
      const [protectedHeader, payload, signature] = segments(assertion());
      return JSON.stringify({ payload, protected: protectedHeader, signature });
    },
    reason: 'malformed',
  },
  {
    name: 'JWS JSON serialization wrapped in a compact-looking string',
    assertion: () => `${b64({ payload: validPayload })}.${validPayload}.c2ln`,
    reason: 'header_not_allowed',
  },
];

/** Forms real clients send that must be accepted. */
const ACCEPTED: readonly {
  name: string;
  assertion: () => string;
  options?: Partial<ClientAssertionOptions>;
  clientId?: string;
}[] = [
  { name: 'aud the issuer', assertion: () => assertion() },
  {
    name: 'oauth4webapi shape: header {alg, kid}, exp = iat + 60, nbf',
    assertion: () => assertion({ jti: 'Zm9vYmFy', exp: NOW_S + 60, iat: NOW_S, nbf: NOW_S }),
  },
  { name: 'no iat and no nbf', assertion: () => assertion({ iat: undefined, nbf: undefined }) },
  { name: 'typ JWT', assertion: () => assertion({}, { typ: 'JWT' }) },
  { name: 'typ application/jwt', assertion: () => assertion({}, { typ: 'application/jwt' }) },
  {
    name: 'typ client-authentication+jwt (RFC 7523 update)',
    assertion: () => assertion({}, { typ: 'client-authentication+jwt' }),
  },
  { name: 'exp exactly five minutes ahead', assertion: () => assertion({ exp: NOW_S + 300 }) },
  {
    name: 'expired within the clock tolerance',
    assertion: () => assertion({ exp: NOW_S - 4, iat: NOW_S - 60 }),
  },
  {
    name: 'iat slightly in the future (clock skew)',
    assertion: () => assertion({ iat: NOW_S + 4, nbf: NOW_S + 4 }),
  },
  {
    name: 'signed with the second registered key',
    assertion: () => assertion({}, {}, billingSpareKey),
  },
  {
    name: 'EdDSA client',
    assertion: () => assertion({ iss: EVENTS, sub: EVENTS }, {}, eventsKey),
    clientId: EVENTS,
  },
  {
    name: 'matching client_id parameter',
    assertion: () => assertion(),
    options: { clientIdFromRequest: BILLING },
  },
];

function assertNotEchoed(error: unknown, token: string): void {
  const shown = [String(error), inspect(error), JSON.stringify(error)].join('\n');
  for (const part of token.split('.')) {
    if (part.length >= 16) assert.ok(!shown.includes(part), 'the assertion was echoed');
  }
}

describe('verifyClientAssertion: attacks', () => {
  for (const attack of ATTACKS) {
    it(`refuses ${attack.name}: ${attack.reason}`, async () => {
      const { options } = setup(attack.options);
      const token = attack.assertion();
      if (attack.before !== undefined) await attack.before(token, options);
      await assert.rejects(
        () => verifyClientAssertion(token, options),
        (error: unknown) => {
          assert.ok(
            error instanceof ClientAuthError,
            `expected ClientAuthError, got ${String(error)}`,
          );
          assert.equal(error.reason, attack.reason, error.message);
          assertNotEchoed(error, token);
          return true;
        },
      );
    });
  }

  it('has at least one row for every failure reason', () => {
    const covered = new Set(ATTACKS.map((a) => a.reason));
    assert.deepEqual(
      CLIENT_AUTH_FAILURES.filter((reason) => !covered.has(reason)),
      [],
    );
  });
});

describe('verifyClientAssertion: accepted forms', () => {
  for (const row of ACCEPTED) {
    it(`accepts ${row.name}`, async () => {
      const { options } = setup(row.options);
      const { service, jti, kid } = await verifyClientAssertion(row.assertion(), options);
      assert.equal(service.spiffeId, row.clientId ?? BILLING);
      assert.ok(jti.length > 0 && kid.length > 0);
    });
  }
});

describe('verifyClientAssertion: replay protection', () => {
  it('records nothing when the signature fails, so attackers cannot burn jtis', async () => {
    const { store, options } = setup();
    const forged = assertion({ jti: 'victim-jti' }, { kid: billingKey.kid }, stranger);
    await assert.rejects(() => verifyClientAssertion(forged, options), { reason: 'bad_signature' });
    assert.ok(!store.calls.includes('rememberAssertion'));
    assert.equal(store.assertions.size, 0);
    const genuine = assertion({ jti: 'victim-jti' });
    assert.equal((await verifyClientAssertion(genuine, options)).jti, 'victim-jti');
  });

  it('records nothing when claims fail after the signature verified', async () => {
    const { store, options } = setup();
    for (const overrides of [
      { aud: 'https://evil.example' },
      { exp: NOW_S - 60, iat: NOW_S - 90 },
    ]) {
      await assert.rejects(() =>
        verifyClientAssertion(assertion({ jti: 'j', ...overrides }), options),
      );
    }
    assert.equal(store.assertions.size, 0);
    await verifyClientAssertion(assertion({ jti: 'j' }), options);
  });

  it('remembers the jti per client until the assertion can no longer be accepted', async () => {
    const { store, options } = setup();
    await verifyClientAssertion(assertion({ jti: 'shared', exp: NOW_S + 60.5 }), options);
    assert.deepEqual([...store.assertions], [[`${BILLING}\nshared`, NOW_S + 66]]);
    const other = assertion({ iss: EVENTS, sub: EVENTS, jti: 'shared' }, {}, eventsKey);
    await verifyClientAssertion(other, options);
  });

  it('propagates a store failure instead of authenticating', async () => {
    const { store, options } = setup();
    store.rememberAssertion = () => Promise.reject(new Error('database is down'));
    await assert.rejects(() => verifyClientAssertion(assertion(), options), /database is down/);
  });
});

describe('verifyClientAssertion: options', () => {
  const INVALID: readonly [string, Partial<ClientAssertionOptions>][] = [
    ['empty issuer', { issuer: '' }],
    ['zero lifetime', { maxAssertionLifetimeSeconds: 0 }],
    ['lifetime over an hour', { maxAssertionLifetimeSeconds: 3601 }],
    ['negative tolerance', { clockToleranceSeconds: -1 }],
    ['tolerance over a minute', { clockToleranceSeconds: 61 }],
  ];
  for (const [name, overrides] of INVALID) {
    it(`refuses ${name}`, async () => {
      const { options } = setup(overrides);
      await assert.rejects(
        () => verifyClientAssertion(assertion(), options),
        (error: unknown) => error instanceof TesseraError && error.code === 'ERR_CONFIG_INVALID',
      );
    });
  }

  it('honours a shorter maximum lifetime', async () => {
    const { options } = setup({ maxAssertionLifetimeSeconds: 30 });
    await assert.rejects(() => verifyClientAssertion(assertion({ exp: NOW_S + 60 }), options), {
      reason: 'lifetime_too_long',
    });
  });
});
