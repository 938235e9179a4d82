import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { TesseraError, type TesseraErrorCode } from '../src/errors.ts';
import { VerifiedTokenCache } from '../src/token/cache.ts';
import { mintAccessToken } from '../src/token/mint.ts';
import { createVerifier, MAX_ACTOR_CHAIN, type VerifierOptions } from '../src/token/verify.ts';
import { MemoryRevocationSet } from '../src/revocation/memory.ts';
import {
  b64,
  BILLING,
  ed25519,
  es256,
  EVENTS,
  forge,
  forgeHs256,
  GATEWAY,
  ISSUER,
  keys,
  newClock,
  NOW_S,
  serviceClaims,
  stranger,
  TRUST_DOMAIN,
} from './support/token-fixture.ts';

function verifier(overrides: Partial<VerifierOptions> = {}) {
  return createVerifier({
    issuer: ISSUER,
    audience: BILLING,
    keys,
    clock: newClock(),
    ...overrides,
  });
}

function assertRefused(fn: () => unknown, code: TesseraErrorCode): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof TesseraError, `expected TesseraError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  });
}

const valid = forge(serviceClaims());
const [validHeader, validPayload, validSignature] = valid.split('.') as [string, string, string];
const omit = (name: string) =>
  Object.fromEntries(Object.entries(serviceClaims()).filter(([claim]) => claim !== name));

/** `act` chains that must be refused with `ERR_TOKEN_ACT`, whatever else the token says. */
const nested = (depth: number): unknown =>
  depth === 0 ? undefined : { sub: EVENTS, act: nested(depth - 1) };
const ACT_ATTACKS: readonly (readonly [string, unknown])[] = [
  ['act without sub', {}],
  ['act.sub not a SPIFFE ID', { sub: 'event-service' }],
  ['act that is a string', EVENTS],
  ['act that is an array', [{ sub: EVENTS }]],
  ['act that is null', null],
  ['act.sub a number', { sub: 7 }],
  ['act.sub a trust domain, not a workload', { sub: 'spiffe://tessera.local' }],
  ['act.sub from another trust domain', { sub: 'spiffe://evil.example/event-service' }],
  ['act.sub with a query', { sub: 'spiffe://tessera.local/event-service?x=1' }],
  ['act.sub with a dot segment', { sub: 'spiffe://tessera.local/a/../event-service' }],
  ['act.sub upper-case trust domain', { sub: 'spiffe://Tessera.local/event-service' }],
  ['nested act without sub', { sub: EVENTS, act: {} }],
  ['nested act with a malformed SPIFFE ID', { sub: EVENTS, act: { sub: 'spiffe://x/%zz' } }],
  ['nested act a string', { sub: EVENTS, act: GATEWAY }],
  ['nested act null', { sub: EVENTS, act: null }],
  ['deeply nested malformed actor', { sub: EVENTS, act: { sub: GATEWAY, act: { sub: 'nope' } } }],
  ['a chain one actor longer than MAX_ACTOR_CHAIN', nested(MAX_ACTOR_CHAIN + 1)],
];

/**
 * Every forged or malformed token we know of, one row each, with the code it must produce.
 * Add a row for every new attack or bug.
 */
const ATTACKS: readonly { name: string; token: () => string; code: TesseraErrorCode }[] = [
  { name: 'empty string', token: () => '', code: 'ERR_TOKEN_MALFORMED' },
  {
    name: 'two segments',
    token: () => `${validHeader}.${validPayload}`,
    code: 'ERR_TOKEN_MALFORMED',
  },
  { name: 'four segments', token: () => `${valid}.${validSignature}`, code: 'ERR_TOKEN_MALFORMED' },
  {
    name: 'empty signature (alg none style)',
    token: () => `${validHeader}.${validPayload}.`,
    code: 'ERR_TOKEN_MALFORMED',
  },
  {
    name: 'alg none',
    token: () =>
      `${b64({ alg: 'none', typ: 'at+jwt', kid: es256.kid })}.${validPayload}.${validSignature}`,
    code: 'ERR_TOKEN_ALG',
  },
  {
    name: 'alg None (case variant)',
    token: () =>
      `${b64({ alg: 'None', typ: 'at+jwt', kid: es256.kid })}.${validPayload}.${validSignature}`,
    code: 'ERR_TOKEN_ALG',
  },
  {
    name: 'HS256 keyed with the public key (alg confusion)',
    token: () =>
      forgeHs256(serviceClaims(), es256.key.export({ format: 'pem', type: 'spki' }), es256.kid),
    code: 'ERR_TOKEN_ALG',
  },
  {
    name: 'RS256 header',
    token: () =>
      `${b64({ alg: 'RS256', typ: 'at+jwt', kid: es256.kid })}.${validPayload}.${validSignature}`,
    code: 'ERR_TOKEN_ALG',
  },
  {
    name: 'ES384 header',
    token: () =>
      `${b64({ alg: 'ES384', typ: 'at+jwt', kid: es256.kid })}.${validPayload}.${validSignature}`,
    code: 'ERR_TOKEN_ALG',
  },
  {
    name: 'EdDSA header on an ES256 key',
    token: () => forge(serviceClaims(), es256, { alg: 'EdDSA' }),
    code: 'ERR_TOKEN_ALG',
  },
  {
    name: 'ES256 header on an Ed25519 key',
    token: () => forge(serviceClaims(), ed25519, { alg: 'ES256' }),
    code: 'ERR_TOKEN_ALG',
  },
  {
    name: 'Ed25519 (RFC 9864) header on an ES256 key',
    token: () => forge(serviceClaims(), es256, { alg: 'Ed25519' }),
    code: 'ERR_TOKEN_ALG',
  },
  {
    name: 'jku header',
    token: () => forge(serviceClaims(), es256, { jku: 'http://127.0.0.1:9/jwks' }),
    code: 'ERR_TOKEN_HEADER',
  },
  {
    name: 'x5u header',
    token: () => forge(serviceClaims(), es256, { x5u: 'http://127.0.0.1:9/cert' }),
    code: 'ERR_TOKEN_HEADER',
  },
  {
    name: 'embedded jwk',
    token: () => forge(serviceClaims(), stranger, { jwk: stranger.publicJwk, kid: es256.kid }),
    code: 'ERR_TOKEN_HEADER',
  },
  {
    name: 'x5c header',
    token: () => forge(serviceClaims(), es256, { x5c: ['MIIB'] }),
    code: 'ERR_TOKEN_HEADER',
  },
  {
    name: 'crit header',
    token: () => forge(serviceClaims(), es256, { crit: ['exp'] }),
    code: 'ERR_TOKEN_HEADER',
  },
  {
    name: 'b64 false (RFC 7797)',
    token: () => forge(serviceClaims(), es256, { b64: false }),
    code: 'ERR_TOKEN_HEADER',
  },
  {
    name: 'zip header',
    token: () => forge(serviceClaims(), es256, { zip: 'DEF' }),
    code: 'ERR_TOKEN_HEADER',
  },
  {
    name: 'unknown header parameter',
    token: () => forge(serviceClaims(), es256, { cty: 'JWT' }),
    code: 'ERR_TOKEN_HEADER',
  },
  {
    name: 'typ missing',
    token: () => forge(serviceClaims(), es256, { typ: undefined }),
    code: 'ERR_TOKEN_TYP',
  },
  {
    name: 'typ JWT (an ID token or user token)',
    token: () => forge(serviceClaims(), es256, { typ: 'JWT' }),
    code: 'ERR_TOKEN_TYP',
  },
  {
    name: 'typ not a string',
    token: () => forge(serviceClaims(), es256, { typ: 1 }),
    code: 'ERR_TOKEN_TYP',
  },
  {
    name: 'kid missing',
    token: () => forge(serviceClaims(), es256, { kid: undefined }),
    code: 'ERR_TOKEN_KID_MISSING',
  },
  {
    name: 'kid empty',
    token: () => forge(serviceClaims(), es256, { kid: '' }),
    code: 'ERR_TOKEN_KID_MISSING',
  },
  {
    name: 'kid not a string',
    token: () => forge(serviceClaims(), es256, { kid: 7 }),
    code: 'ERR_TOKEN_KID_MISSING',
  },
  {
    name: 'kid unknown (stranger key)',
    token: () => forge(serviceClaims(), stranger),
    code: 'ERR_TOKEN_KID_UNKNOWN',
  },
  {
    name: 'stranger key claiming a trusted kid',
    token: () => forge(serviceClaims(), stranger, { kid: es256.kid }),
    code: 'ERR_TOKEN_SIGNATURE',
  },
  {
    name: 'payload swapped after signing',
    token: () => `${validHeader}.${b64(serviceClaims({ scope: 'admin' }))}.${validSignature}`,
    code: 'ERR_TOKEN_SIGNATURE',
  },
  {
    name: 'DER-encoded ECDSA signature',
    token: () => {
      const der = sign('sha256', Buffer.from(`${validHeader}.${validPayload}`), es256.privateKey);
      return `${validHeader}.${validPayload}.${der.toString('base64url')}`;
    },
    code: 'ERR_TOKEN_SIGNATURE',
  },
  {
    name: 'signature truncated by one byte',
    token: () =>
      `${validHeader}.${validPayload}.${Buffer.from(validSignature, 'base64url').subarray(0, 63).toString('base64url')}`,
    code: 'ERR_TOKEN_SIGNATURE',
  },
  { name: 'signature with padding', token: () => `${valid}==`, code: 'ERR_TOKEN_SIGNATURE' },
  {
    name: 'signature in base64 (not url) alphabet',
    token: () =>
      `${validHeader}.${validPayload}.${Buffer.from(validSignature, 'base64url').toString('base64')}`,
    code: 'ERR_TOKEN_SIGNATURE',
  },
  {
    name: 'non-canonical last signature character',
    token: () => {
      // 64 bytes → 86 characters; the last one carries 2 unused bits. Setting them must not pass.
      const last = validSignature.at(-1)!;
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const twin = alphabet[alphabet.indexOf(last) | 1]!;
      return `${validHeader}.${validPayload}.${validSignature.slice(0, -1)}${twin}`;
    },
    code: 'ERR_TOKEN_SIGNATURE',
  },
  {
    name: 'all-zero signature',
    token: () => `${validHeader}.${validPayload}.${Buffer.alloc(64).toString('base64url')}`,
    code: 'ERR_TOKEN_SIGNATURE',
  },
  {
    name: 'header not JSON',
    token: () => `${b64('not json')}.${validPayload}.${validSignature}`,
    code: 'ERR_TOKEN_MALFORMED',
  },
  {
    name: 'header is an array',
    token: () => `${b64(['ES256'])}.${validPayload}.${validSignature}`,
    code: 'ERR_TOKEN_MALFORMED',
  },
  {
    name: 'header with non-base64url characters',
    token: () => `${validHeader}!.${validPayload}.${validSignature}`,
    code: 'ERR_TOKEN_MALFORMED',
  },
  {
    name: 'payload with non-ASCII characters',
    token: () => `${validHeader}.${validPayload.slice(0, -1)}Ł.${validSignature}`,
    code: 'ERR_TOKEN_MALFORMED',
  },
  {
    name: 'token over 8 KB',
    token: () => forge(serviceClaims({ pad: 'x'.repeat(8200) })),
    code: 'ERR_TOKEN_TOO_LARGE',
  },
  {
    name: 'payload not JSON (signed)',
    token: () => {
      const input = `${validHeader}.${b64('nope')}`;
      return `${input}.${sign('sha256', Buffer.from(input), { key: es256.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    },
    code: 'ERR_TOKEN_MALFORMED',
  },
  {
    name: 'audience of another service',
    token: () => forge(serviceClaims({ aud: GATEWAY })),
    code: 'ERR_TOKEN_AUDIENCE',
  },
  {
    name: 'audience list with this service and another',
    token: () => forge(serviceClaims({ aud: [BILLING, GATEWAY] })),
    code: 'ERR_TOKEN_AUDIENCE',
  },
  { name: 'audience missing', token: () => forge(omit('aud')), code: 'ERR_TOKEN_AUDIENCE' },
  {
    name: 'audience in another case',
    token: () => forge(serviceClaims({ aud: BILLING.toUpperCase() })),
    code: 'ERR_TOKEN_AUDIENCE',
  },
  {
    name: 'issuer of another authority',
    token: () => forge(serviceClaims({ iss: 'http://127.0.0.1:7799' })),
    code: 'ERR_TOKEN_ISSUER',
  },
  {
    name: 'issuer with trailing slash',
    token: () => forge(serviceClaims({ iss: `${ISSUER}/` })),
    code: 'ERR_TOKEN_ISSUER',
  },
  { name: 'issuer missing', token: () => forge(omit('iss')), code: 'ERR_TOKEN_ISSUER' },
  {
    name: 'expired beyond tolerance',
    token: () => forge(serviceClaims({ iat: NOW_S - 400, nbf: NOW_S - 400, exp: NOW_S - 5 })),
    code: 'ERR_TOKEN_EXPIRED',
  },
  {
    name: 'not yet valid beyond tolerance',
    token: () => forge(serviceClaims({ nbf: NOW_S + 6 })),
    code: 'ERR_TOKEN_NOT_YET_VALID',
  },
  {
    name: 'issued in the future beyond tolerance',
    token: () => forge(serviceClaims({ iat: NOW_S + 6, nbf: NOW_S, exp: NOW_S + 300 })),
    code: 'ERR_TOKEN_ISSUED_IN_FUTURE',
  },
  {
    name: 'lifetime over one hour',
    token: () => forge(serviceClaims({ exp: NOW_S + 3601 })),
    code: 'ERR_TOKEN_LIFETIME',
  },
  {
    name: 'exp before iat',
    token: () => forge(serviceClaims({ iat: NOW_S, exp: NOW_S })),
    code: 'ERR_TOKEN_CLAIMS',
  },
  { name: 'exp missing', token: () => forge(omit('exp')), code: 'ERR_TOKEN_CLAIMS' },
  {
    name: 'exp as a string',
    token: () => forge(serviceClaims({ exp: String(NOW_S + 300) })),
    code: 'ERR_TOKEN_CLAIMS',
  },
  { name: 'iat missing', token: () => forge(omit('iat')), code: 'ERR_TOKEN_CLAIMS' },
  { name: 'jti missing', token: () => forge(omit('jti')), code: 'ERR_TOKEN_CLAIMS' },
  { name: 'jti empty', token: () => forge(serviceClaims({ jti: '' })), code: 'ERR_TOKEN_CLAIMS' },
  { name: 'sub missing', token: () => forge(omit('sub')), code: 'ERR_TOKEN_CLAIMS' },
  { name: 'client_id missing', token: () => forge(omit('client_id')), code: 'ERR_TOKEN_CLAIMS' },
  {
    name: 'scope not a string',
    token: () => forge(serviceClaims({ scope: ['invoices:write'] })),
    code: 'ERR_TOKEN_CLAIMS',
  },
  {
    name: 'scope with double space',
    token: () => forge(serviceClaims({ scope: 'a  b' })),
    code: 'ERR_TOKEN_CLAIMS',
  },
  {
    name: 'scope with a quote character',
    token: () => forge(serviceClaims({ scope: 'a"b' })),
    code: 'ERR_TOKEN_CLAIMS',
  },
  {
    name: 'sub not a SPIFFE ID on a service token',
    token: () => forge(serviceClaims({ sub: 'event-service', client_id: 'event-service' })),
    code: 'ERR_TOKEN_SUBJECT',
  },
  {
    name: 'sub in another trust domain',
    token: () =>
      forge(
        serviceClaims({
          sub: 'spiffe://evil.example/event-service',
          client_id: 'spiffe://evil.example/event-service',
        }),
      ),
    code: 'ERR_TOKEN_SUBJECT',
  },
  {
    name: 'sub is a trust domain, not a workload',
    token: () =>
      forge(serviceClaims({ sub: 'spiffe://tessera.local', client_id: 'spiffe://tessera.local' })),
    code: 'ERR_TOKEN_SUBJECT',
  },
  {
    name: 'client_id differs from sub',
    token: () => forge(serviceClaims({ client_id: GATEWAY })),
    code: 'ERR_TOKEN_SUBJECT',
  },
  ...ACT_ATTACKS.map(([name, act]) => ({
    name,
    token: () => forge(serviceClaims({ sub: 'user-42', client_id: EVENTS, act })),
    code: 'ERR_TOKEN_ACT' as const,
  })),
  {
    name: 'delegated client_id differs from act.sub',
    token: () =>
      forge(serviceClaims({ sub: 'user-42', client_id: 'user-42', act: { sub: EVENTS } })),
    code: 'ERR_TOKEN_SUBJECT',
  },
  {
    name: 'tenant_id not a string',
    token: () => forge(serviceClaims({ tenant_id: 7 })),
    code: 'ERR_TOKEN_CLAIMS',
  },
  {
    name: 'cnf without x5t#S256',
    token: () => forge(serviceClaims({ cnf: { jkt: 'abc' } })),
    code: 'ERR_TOKEN_CLAIMS',
  },
];

describe('access token verification: attack table', () => {
  for (const attack of ATTACKS) {
    it(`refuses ${attack.name} with ${attack.code}`, () => {
      const token = attack.token();
      const v = verifier({ trustDomain: TRUST_DOMAIN });
      assertRefused(() => v.verify(token), attack.code);
    });
    it(`refuses ${attack.name} asynchronously too`, async () => {
      const v = verifier({ trustDomain: TRUST_DOMAIN });
      await assert.rejects(v.verifyAsync(attack.token()), (error: unknown) => {
        assert.ok(error instanceof TesseraError);
        assert.equal(error.code, attack.code);
        return true;
      });
    });
  }

  it('never puts the token in an error message', () => {
    for (const attack of ATTACKS.filter((a) => a.token().length > 0)) {
      const token = attack.token();
      const signature = token.split('.').at(-1) ?? '';
      assert.throws(
        () => verifier({ trustDomain: TRUST_DOMAIN }).verify(token),
        (error: unknown) =>
          error instanceof TesseraError &&
          !error.message.includes(token) &&
          (signature.length <= 8 || !error.message.includes(signature)),
        attack.name,
      );
    }
  });
});

describe('access token verification: accepted tokens', () => {
  it('returns a typed service caller for an ES256 token minted by core', () => {
    const clock = newClock();
    const { token, claims } = mintAccessToken(
      {
        issuer: ISSUER,
        subject: EVENTS,
        audience: BILLING,
        scopes: ['invoices:write', 'invoices:read'],
      },
      { key: es256, clock },
    );
    const caller = createVerifier({ issuer: ISSUER, audience: BILLING, keys, clock }).verify(token);
    assert.deepEqual(caller, {
      kind: 'service',
      spiffeId: EVENTS,
      scopes: ['invoices:write', 'invoices:read'],
      jti: claims.jti,
      issuer: ISSUER,
      issuedAt: NOW_S,
      expiresAt: NOW_S + 300,
    });
    assert.ok(Object.isFrozen(caller));
  });

  it('returns a delegated caller with user and tenant for an EdDSA token', () => {
    const clock = newClock();
    const { token } = mintAccessToken(
      {
        issuer: ISSUER,
        subject: 'user-42',
        actor: GATEWAY,
        audience: BILLING,
        tenantId: 'acme',
        certificateThumbprint: 'abc',
      },
      { key: ed25519, clock },
    );
    const caller = createVerifier({ issuer: ISSUER, audience: BILLING, keys, clock }).verify(token);
    assert.equal(caller.kind, 'delegated');
    assert.equal(caller.spiffeId, GATEWAY);
    assert.deepEqual({ ...caller }.user, 'user-42');
    assert.equal(caller.tenant, 'acme');
    assert.equal(caller.certificateThumbprint, 'abc');
    assert.deepEqual(caller.scopes, []);
  });

  it('reads the whole act chain into actors, nearest first', () => {
    const chain = { sub: EVENTS, act: { sub: GATEWAY } };
    const caller = verifier({ trustDomain: TRUST_DOMAIN }).verify(
      forge(serviceClaims({ sub: 'alice', client_id: EVENTS, act: chain, tenant_id: 'acme' })),
    );
    assert.equal(caller.kind, 'delegated');
    assert.equal(caller.spiffeId, EVENTS);
    assert.deepEqual(caller.actors, [EVENTS, GATEWAY]);
    assert.ok(Object.isFrozen(caller.actors));
    assert.equal(caller.tenant, 'acme');
    const longest = verifier({ trustDomain: TRUST_DOMAIN }).verify(
      forge(serviceClaims({ sub: 'alice', client_id: EVENTS, act: nested(MAX_ACTOR_CHAIN) })),
    );
    assert.equal(longest.kind === 'delegated' ? longest.actors.length : 0, MAX_ACTOR_CHAIN);
  });

  it('accepts the RFC 9864 Ed25519 algorithm name for an Ed25519 key', () => {
    assert.equal(
      verifier().verify(forge(serviceClaims(), ed25519, { alg: 'Ed25519' })).spiffeId,
      EVENTS,
    );
  });

  it('accepts a one-element audience array and application/at+jwt', () => {
    const v = verifier();
    assert.equal(v.verify(forge(serviceClaims({ aud: [BILLING] }))).spiffeId, EVENTS);
    assert.equal(
      v.verify(forge(serviceClaims(), es256, { typ: 'application/AT+JWT' })).spiffeId,
      EVENTS,
    );
  });

  it('applies the clock tolerance at each edge', () => {
    const clock = newClock();
    const v = createVerifier({
      issuer: ISSUER,
      audience: BILLING,
      keys,
      clock,
      clockTolerance: 5,
      cache: false,
    });
    const token = forge(serviceClaims({ iat: NOW_S - 300, nbf: NOW_S - 300, exp: NOW_S }));
    clock.set((NOW_S + 4.999) * 1000);
    assert.equal(v.verify(token).spiffeId, EVENTS);
    clock.set((NOW_S + 5) * 1000);
    assertRefused(() => v.verify(token), 'ERR_TOKEN_EXPIRED');
    const early = forge(serviceClaims({ iat: NOW_S + 5, nbf: NOW_S + 5, exp: NOW_S + 305 }));
    clock.set(NOW_S * 1000);
    assert.equal(v.verify(early).spiffeId, EVENTS);
  });

  it('refuses with zero tolerance what five seconds would accept', () => {
    const token = forge(serviceClaims({ nbf: NOW_S + 1 }));
    assertRefused(() => verifier({ clockTolerance: 0 }).verify(token), 'ERR_TOKEN_NOT_YET_VALID');
    assert.equal(verifier().verify(token).spiffeId, EVENTS);
  });
});

describe('access token verification: cache', () => {
  it('serves a repeat from the cache but still refuses it once expired', () => {
    const clock = newClock();
    const cache = new VerifiedTokenCache();
    const v = createVerifier({ issuer: ISSUER, audience: BILLING, keys, clock, cache });
    const token = forge(serviceClaims());
    const first = v.verify(token);
    assert.equal(cache.size, 1);
    assert.equal(v.verify(token), first, 'a hit returns the cached caller');
    clock.set((NOW_S + 300 + 5) * 1000);
    assertRefused(() => v.verify(token), 'ERR_TOKEN_EXPIRED');
    assert.equal(cache.size, 0, 'the expired entry is dropped');
  });

  it('still checks revocation on a hit', () => {
    const clock = newClock();
    const revocations = new MemoryRevocationSet({ clock });
    const v = createVerifier({ issuer: ISSUER, audience: BILLING, keys, clock, revocations });
    const token = forge(serviceClaims({ jti: 'to-revoke' }));
    v.verify(token);
    revocations.revokeToken('to-revoke', NOW_S + 300);
    assertRefused(() => v.verify(token), 'ERR_TOKEN_REVOKED');
  });

  it("never serves one verifier with another verifier's entry in a shared cache", () => {
    const clock = newClock();
    const cache = new VerifiedTokenCache();
    const billing = createVerifier({ issuer: ISSUER, audience: BILLING, keys, clock, cache });
    const gateway = createVerifier({ issuer: ISSUER, audience: GATEWAY, keys, clock, cache });
    const otherIssuer = createVerifier({
      issuer: 'http://127.0.0.1:7799',
      audience: BILLING,
      keys,
      clock,
      cache,
    });
    const token = forge(serviceClaims());
    billing.verify(token);
    assertRefused(() => gateway.verify(token), 'ERR_TOKEN_AUDIENCE');
    assertRefused(() => otherIssuer.verify(token), 'ERR_TOKEN_ISSUER');
  });

  it('never serves a cached entry to a token that only shares its signature', () => {
    const cache = new VerifiedTokenCache();
    const v = verifier({ cache });
    const token = forge(serviceClaims({ scope: 'invoices:read' }));
    const [header, , signature] = token.split('.') as [string, string, string];
    v.verify(token);
    const widened = Buffer.from(
      JSON.stringify(serviceClaims({ scope: 'invoices:read invoices:write' })),
    ).toString('base64url');
    assertRefused(() => v.verify(`${header}.${widened}.${signature}`), 'ERR_TOKEN_SIGNATURE');
    assert.deepEqual(v.verify(token).scopes, ['invoices:read'], 'the genuine entry is still there');
    assert.equal(cache.size, 1);
  });

  it('does not cache refusals', () => {
    const cache = new VerifiedTokenCache();
    const v = verifier({ cache });
    assertRefused(() => v.verify(forge(serviceClaims({ aud: GATEWAY }))), 'ERR_TOKEN_AUDIENCE');
    assert.equal(cache.size, 0);
  });

  it('is bounded by entries and by bytes', () => {
    const byCount = new VerifiedTokenCache({ maxEntries: 3 });
    const v = verifier({ cache: byCount });
    for (let i = 0; i < 10; i++) v.verify(forge(serviceClaims({ jti: `n-${i}` })));
    assert.equal(byCount.size, 3);
    const token = forge(serviceClaims());
    const byBytes = new VerifiedTokenCache({ maxBytes: 2 * (token.length + 768) + 10 });
    const w = verifier({ cache: byBytes });
    for (let i = 0; i < 10; i++) w.verify(forge(serviceClaims({ jti: `m-${i}` })));
    assert.equal(byBytes.size, 2);
    assert.ok(byBytes.bytes <= byBytes.maxBytes);
  });

  it('is skipped entirely with cache: false', () => {
    const clock = newClock();
    const v = createVerifier({ issuer: ISSUER, audience: BILLING, keys, clock, cache: false });
    const token = forge(serviceClaims());
    assert.notEqual(v.verify(token), v.verify(token));
  });
});

describe('access token verification: revocation', () => {
  it('refuses a token of a subject revoked after it was issued, but not a newer one', () => {
    const clock = newClock();
    const revocations = new MemoryRevocationSet({ clock });
    const v = createVerifier({
      issuer: ISSUER,
      audience: BILLING,
      keys,
      clock,
      revocations,
      cache: false,
    });
    const old = forge(serviceClaims({ jti: 'old' }));
    revocations.revokeSubject(EVENTS, NOW_S, NOW_S + 3600);
    assertRefused(() => v.verify(old), 'ERR_TOKEN_REVOKED');
    clock.advance(2000);
    const fresh = forge(
      serviceClaims({ jti: 'new', iat: NOW_S + 2, nbf: NOW_S + 2, exp: NOW_S + 302 }),
    );
    assert.equal(v.verify(fresh).jti, 'new');
  });

  it('refuses a delegated token when either the acting service or the user is revoked', () => {
    const clock = newClock();
    const claims = serviceClaims({ sub: 'user-42', client_id: GATEWAY, act: { sub: GATEWAY } });
    for (const subject of [GATEWAY, 'user-42']) {
      const revocations = new MemoryRevocationSet({ clock });
      const v = createVerifier({ issuer: ISSUER, audience: BILLING, keys, clock, revocations });
      revocations.revokeSubject(subject, NOW_S, NOW_S + 3600);
      assertRefused(() => v.verify(forge(claims)), 'ERR_TOKEN_REVOKED');
    }
  });
});

describe('createVerifier options', () => {
  const rows: readonly [string, Partial<VerifierOptions>][] = [
    ['tolerance above 30 s', { clockTolerance: 31 }],
    ['negative tolerance', { clockTolerance: -1 }],
    ['NaN tolerance', { clockTolerance: Number.NaN }],
    ['empty issuer', { issuer: '' }],
    ['audience that is not a SPIFFE ID', { audience: 'billing' }],
    [
      'audience outside the trust domain',
      { audience: 'spiffe://other.example/billing', trustDomain: TRUST_DOMAIN },
    ],
    ['lifetime above an hour', { maxLifetimeSeconds: 3601 }],
    ['token limit above 8 KB', { maxTokenBytes: 9000 }],
    ['missing clock', { clock: undefined as never }],
  ];
  for (const [name, overrides] of rows) {
    it(`refuses ${name} with ERR_CONFIG_INVALID`, () => {
      assertRefused(() => verifier(overrides), 'ERR_CONFIG_INVALID');
    });
  }
});
