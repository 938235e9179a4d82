import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { ManualClock } from '../src/testing/manual-clock.ts';
import { TesseraError } from '../src/errors.ts';
import { importPublicJwk, type VerificationKey } from '../src/keys/jwk.ts';
import { KeySet } from '../src/keys/jwks.ts';
import { verifyCompactJws, verifyRawSignature } from '../src/token/jws.ts';
import { mintAccessToken } from '../src/token/mint.ts';
import { createVerifier } from '../src/token/verify.ts';
import {
  BILLING,
  ed25519,
  es256,
  EVENTS,
  ISSUER,
  keys,
  newClock,
  NOW_S,
} from './support/token-fixture.ts';

const VECTORS = new URL('./fixtures/vectors/wycheproof/', import.meta.url);

interface WycheproofFile<G> {
  numberOfTests: number;
  testGroups: G[];
}
interface SignatureTest {
  tcId: number;
  comment: string;
  msg: string;
  sig: string;
  result: 'valid' | 'invalid' | 'acceptable';
}
interface SignatureGroup {
  publicKeyJwk?: Record<string, unknown>;
  publicKey: { uncompressed?: string; pk?: string };
  tests: SignatureTest[];
}

function load<G>(name: string): WycheproofFile<G> {
  return JSON.parse(readFileSync(new URL(name, VECTORS), 'utf8')) as WycheproofFile<G>;
}

/** A few groups ship only the raw point; build the JWK from it (SEC 1 uncompressed: 04 ‖ x ‖ y). */
function jwkFromRaw(publicKey: SignatureGroup['publicKey']): Record<string, unknown> {
  if (publicKey.uncompressed !== undefined) {
    const point = Buffer.from(publicKey.uncompressed, 'hex');
    return {
      kty: 'EC',
      crv: 'P-256',
      x: point.subarray(1, 33).toString('base64url'),
      y: point.subarray(33, 65).toString('base64url'),
    };
  }
  return {
    kty: 'OKP',
    crv: 'Ed25519',
    x: Buffer.from(publicKey.pk ?? '', 'hex').toString('base64url'),
  };
}

function runSignatureVectors(file: string, alg: 'ES256' | 'EdDSA'): void {
  const data = load<SignatureGroup>(file);
  let checked = 0;
  for (const group of data.testGroups) {
    let key: VerificationKey | undefined;
    try {
      key = importPublicJwk(group.publicKeyJwk ?? jwkFromRaw(group.publicKey));
    } catch (error) {
      assert.ok(error instanceof TesseraError);
    }
    for (const test of group.tests) {
      checked++;
      const accepted =
        key !== undefined &&
        verifyRawSignature(
          alg,
          key.key,
          Buffer.from(test.msg, 'hex'),
          Buffer.from(test.sig, 'hex'),
        );
      if (test.result === 'invalid') {
        assert.equal(
          accepted,
          false,
          `tcId ${test.tcId} (${test.comment}) is invalid but was accepted`,
        );
      } else if (test.result === 'valid') {
        assert.equal(
          accepted,
          true,
          `tcId ${test.tcId} (${test.comment}) is valid but was refused`,
        );
      }
    }
  }
  assert.equal(checked, data.numberOfTests);
}

describe('Wycheproof signature vectors', () => {
  it('ECDSA P-256 SHA-256 in P1363 form: every verdict matches', () => {
    runSignatureVectors('ecdsa_secp256r1_sha256_p1363_test.json', 'ES256');
  });
  it('Ed25519: every verdict matches', () => {
    runSignatureVectors('ed25519_test.json', 'EdDSA');
  });
});

interface JwsTest {
  tcId: number;
  comment: string;
  jws: unknown;
  result: 'valid' | 'invalid' | 'acceptable';
}
interface JwsGroup {
  comment: string;
  public?: Record<string, unknown>;
  private?: Record<string, unknown>;
  tests: JwsTest[];
}

describe('Wycheproof JSON Web Signature vectors', () => {
  it('never accepts an invalid JWS and accepts every valid one for ES256 and EdDSA', () => {
    const data = load<JwsGroup>('json_web_signature_test.json');
    let supportedValid = 0;
    let checked = 0;
    for (const group of data.testGroups) {
      // Groups with only a private (symmetric) key or an unsupported key type end up with no key:
      // then nothing in the group may verify.
      let keySet: KeySet | undefined;
      try {
        keySet = new KeySet([importPublicJwk(group.public ?? group.private)]);
      } catch (error) {
        assert.ok(error instanceof TesseraError, `group "${group.comment}" threw ${String(error)}`);
      }
      const supported = keySet !== undefined;
      for (const test of group.tests) {
        checked++;
        let accepted = false;
        if (keySet !== undefined && typeof test.jws === 'string') {
          try {
            verifyCompactJws(test.jws, keySet);
            accepted = true;
          } catch (error) {
            assert.ok(error instanceof TesseraError, `tcId ${test.tcId} threw ${String(error)}`);
          }
        }
        if (test.result === 'invalid') {
          assert.equal(
            accepted,
            false,
            `tcId ${test.tcId} (${test.comment}) is invalid but was accepted`,
          );
        }
        if (test.result === 'valid' && supported) {
          supportedValid++;
          assert.equal(
            accepted,
            true,
            `tcId ${test.tcId} (${test.comment}) is valid but was refused`,
          );
        }
      }
    }
    assert.equal(checked, data.numberOfTests);
    assert.ok(supportedValid >= 2, 'the ES256 valid cases were exercised');
  });
});

describe('interoperability with jose', () => {
  for (const key of [es256, ed25519]) {
    it(`tokens minted by core verify with jose's jwtVerify (${key.alg})`, async () => {
      const clock = newClock();
      const { token, claims } = mintAccessToken(
        { issuer: ISSUER, subject: EVENTS, audience: BILLING, scopes: ['invoices:write'] },
        { key, clock },
      );
      const joseKey = await importJWK(key.publicJwk as unknown as JWK, key.alg);
      const { payload, protectedHeader } = await jwtVerify(token, joseKey, {
        issuer: ISSUER,
        audience: BILLING,
        typ: 'at+jwt',
        algorithms: [key.alg],
        currentDate: new Date(NOW_S * 1000),
        requiredClaims: ['jti', 'sub', 'exp', 'iat', 'client_id'],
      });
      assert.equal(protectedHeader.kid, key.kid);
      assert.deepEqual(payload, claims);
    });

    it(`tokens minted by jose verify with core (${key.alg})`, async () => {
      const token = await new SignJWT({ client_id: EVENTS, scope: 'invoices:write' })
        .setProtectedHeader({ alg: key.alg, typ: 'at+jwt', kid: key.kid })
        .setIssuer(ISSUER)
        .setSubject(EVENTS)
        .setAudience(BILLING)
        .setIssuedAt(NOW_S)
        .setNotBefore(NOW_S)
        .setExpirationTime(NOW_S + 300)
        .setJti('from-jose')
        .sign(key.privateKey);
      const clock = new ManualClock(NOW_S * 1000);
      const caller = createVerifier({ issuer: ISSUER, audience: BILLING, keys, clock }).verify(
        token,
      );
      assert.equal(caller.kind, 'service');
      assert.equal(caller.spiffeId, EVENTS);
      assert.equal(caller.jti, 'from-jose');
      assert.deepEqual(caller.scopes, ['invoices:write']);
    });
  }
});
