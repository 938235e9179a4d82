import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { calculateJwkThumbprint } from 'jose';
import { TesseraError, type TesseraErrorCode } from '../src/errors.ts';
import { exportPublicJwk, generateSigningKey, importPublicJwk } from '../src/keys/jwk.ts';
import { buildJwks, KeySet, MAX_JWKS_KEYS, parseJwks } from '../src/keys/jwks.ts';
import { jwkThumbprint } from '../src/keys/thumbprint.ts';

function refused(fn: () => unknown, code: TesseraErrorCode): void {
  assert.throws(fn, (error: unknown) => error instanceof TesseraError && error.code === code);
}

describe('RFC 7638 thumbprints', () => {
  it('reproduces the RFC 7638 §3.1 example', () => {
    const rsa = {
      kty: 'RSA',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
      alg: 'RS256',
      kid: '2011-04-29',
    };
    assert.equal(jwkThumbprint(rsa), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('reproduces the RFC 8037 Appendix A.3 Ed25519 example', () => {
    const okp = { crv: 'Ed25519', kty: 'OKP', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' };
    assert.equal(jwkThumbprint(okp), 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
  });

  it('agrees with jose for generated ES256 and EdDSA keys', async () => {
    for (const alg of ['ES256', 'EdDSA'] as const) {
      const key = generateSigningKey(alg);
      assert.equal(key.kid, await calculateJwkThumbprint(key.publicJwk, 'sha256'));
    }
  });
});

describe('key generation and export', () => {
  it('generates ES256 by default with kid = thumbprint, alg and use', () => {
    const key = generateSigningKey();
    assert.equal(key.alg, 'ES256');
    assert.deepEqual(Object.keys(key.publicJwk).sort(), [
      'alg',
      'crv',
      'kid',
      'kty',
      'use',
      'x',
      'y',
    ]);
    assert.equal(
      key.publicJwk.kid,
      jwkThumbprint(key.publicJwk as unknown as Record<string, unknown>),
    );
    assert.equal(key.publicJwk.use, 'sig');
  });

  it('round-trips through importPublicJwk', () => {
    for (const alg of ['ES256', 'EdDSA'] as const) {
      const key = generateSigningKey(alg);
      const imported = importPublicJwk(key.publicJwk);
      assert.equal(imported.kid, key.kid);
      assert.equal(imported.alg, alg);
      assert.ok(imported.key.equals(key.key));
    }
  });

  it('refuses to export a key under the wrong algorithm', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    refused(() => exportPublicJwk(publicKey, 'ES256'), 'ERR_JWK_UNSUPPORTED');
    refused(() => exportPublicJwk(generateSigningKey('ES256').key, 'EdDSA'), 'ERR_JWK_UNSUPPORTED');
  });
});

const ec = generateSigningKey('ES256').publicJwk;
const okp = generateSigningKey('EdDSA').publicJwk;
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' });
const secp256k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({
  format: 'jwk',
});
const x25519 = generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' });
const ecPrivate = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
  format: 'jwk',
});

/** Bad JWKs, one row each, with the code the import must give. */
const BAD_KEYS: readonly [string, unknown, TesseraErrorCode][] = [
  ['null', null, 'ERR_JWK_INVALID'],
  ['a string', 'key', 'ERR_JWK_INVALID'],
  ['an array', [ec], 'ERR_JWK_INVALID'],
  ['EC private key (d)', { ...ecPrivate, kid: 'k' }, 'ERR_JWK_PRIVATE'],
  ['public key with a stray d', { ...ec, d: 'AAAA' }, 'ERR_JWK_PRIVATE'],
  ['symmetric key (k)', { kty: 'oct', k: 'c2VjcmV0', kid: 'k' }, 'ERR_JWK_PRIVATE'],
  ['oct without k', { kty: 'oct', kid: 'k' }, 'ERR_JWK_UNSUPPORTED'],
  ['RSA key', { ...rsa, kid: 'k' }, 'ERR_JWK_UNSUPPORTED'],
  ['P-384 key', { ...p384, kid: 'k' }, 'ERR_JWK_UNSUPPORTED'],
  ['secp256k1 key', { ...secp256k1, kid: 'k' }, 'ERR_JWK_UNSUPPORTED'],
  ['X25519 (encryption) key', { ...x25519, kid: 'k' }, 'ERR_JWK_UNSUPPORTED'],
  ['Ed448 curve name', { ...okp, crv: 'Ed448' }, 'ERR_JWK_UNSUPPORTED'],
  ['lower-case kty', { ...ec, kty: 'ec' }, 'ERR_JWK_UNSUPPORTED'],
  ['EC without y', { ...ec, y: undefined }, 'ERR_JWK_INVALID'],
  ['EC x too short', { ...ec, x: ec.x.slice(0, 42) }, 'ERR_JWK_INVALID'],
  ['EC x with padding', { ...ec, x: `${ec.x}=` }, 'ERR_JWK_INVALID'],
  ['EC point not on the curve', { ...ec, y: ec.x }, 'ERR_JWK_INVALID'],
  ['OKP x too long', { ...okp, x: Buffer.alloc(33).toString('base64url') }, 'ERR_JWK_INVALID'],
  ['use enc', { ...ec, use: 'enc' }, 'ERR_JWK_INVALID'],
  ['key_ops without verify', { ...ec, key_ops: ['encrypt'] }, 'ERR_JWK_INVALID'],
  ['key_ops not an array', { ...ec, key_ops: 'verify' }, 'ERR_JWK_INVALID'],
  ['alg of another family', { ...ec, alg: 'RS256' }, 'ERR_JWK_INVALID'],
  ['alg HS256', { ...ec, alg: 'HS256' }, 'ERR_JWK_INVALID'],
  ['alg ES256 on an Ed25519 key', { ...okp, alg: 'ES256' }, 'ERR_JWK_INVALID'],
  ['kid not a string', { ...ec, kid: 1 }, 'ERR_JWK_INVALID'],
  ['kid empty', { ...ec, kid: '' }, 'ERR_JWK_INVALID'],
];

describe('importPublicJwk: refusals', () => {
  for (const [name, jwk, code] of BAD_KEYS) {
    it(`refuses ${name} with ${code}`, () => {
      refused(() => importPublicJwk(jwk), code);
    });
  }
  it('accepts alg Ed25519 (RFC 9864) on an Ed25519 key', () => {
    assert.equal(importPublicJwk({ ...okp, alg: 'Ed25519' }).alg, 'EdDSA');
  });
});

describe('JWKS', () => {
  it('builds and parses back, from objects and JSON text', () => {
    const a = generateSigningKey();
    const b = generateSigningKey('EdDSA');
    const jwks = buildJwks([a, b]);
    for (const input of [jwks, JSON.stringify(jwks)]) {
      const set = parseJwks(input);
      assert.deepEqual(set.kids(), [a.kid, b.kid]);
      assert.ok(set.get(a.kid)?.key.equals(a.key));
      assert.equal(set.get('missing'), undefined);
    }
  });

  const BAD_SETS: readonly [string, unknown, TesseraErrorCode][] = [
    ['not JSON text', '{keys:', 'ERR_JWKS_INVALID'],
    ['null', null, 'ERR_JWKS_INVALID'],
    ['an array of keys', [ec], 'ERR_JWKS_INVALID'],
    ['keys not an array', { keys: ec }, 'ERR_JWKS_INVALID'],
    ['a key without kid', { keys: [{ ...ec, kid: undefined }] }, 'ERR_JWKS_INVALID'],
    ['duplicate kid', { keys: [ec, ec] }, 'ERR_JWKS_DUPLICATE_KID'],
    [
      'duplicate kid on different keys',
      { keys: [ec, { ...okp, kid: ec.kid }] },
      'ERR_JWKS_DUPLICATE_KID',
    ],
    [
      'one private key among public ones',
      { keys: [okp, { ...ecPrivate, kid: 'p' }] },
      'ERR_JWK_PRIVATE',
    ],
    [
      'one unsupported key among supported ones',
      { keys: [okp, { ...rsa, kid: 'r' }] },
      'ERR_JWK_UNSUPPORTED',
    ],
    [
      'too many keys',
      { keys: Array.from({ length: MAX_JWKS_KEYS + 1 }, (_, i) => ({ ...ec, kid: `k${i}` })) },
      'ERR_JWKS_INVALID',
    ],
  ];
  for (const [name, input, code] of BAD_SETS) {
    it(`refuses ${name} with ${code}`, () => {
      refused(() => parseJwks(input), code);
    });
  }

  it('refuses duplicate kids when building a key set or a JWKS', () => {
    const a = generateSigningKey();
    refused(() => new KeySet([a, a]), 'ERR_JWKS_DUPLICATE_KID');
    refused(() => buildJwks([a, a]), 'ERR_JWKS_DUPLICATE_KID');
  });
});
