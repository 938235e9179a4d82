import assert from 'node:assert/strict';
import { it } from 'node:test';
import { TesseraError } from '../src/errors.ts';
import { createVerifier } from '../src/token/verify.ts';
import { fuzzSeed, mulberry32, mutate } from '../src/testing/fuzz.ts';
import {
  BILLING,
  ed25519,
  forge,
  ISSUER,
  keys,
  newClock,
  serviceClaims,
  TRUST_DOMAIN,
} from './support/token-fixture.ts';

const MUTATIONS = 10_000;

it(`accepts none of ${MUTATIONS} random mutations of a valid token, and throws only TesseraError`, () => {
  const seed = fuzzSeed(0x7e55e7a, process.env.FUZZ_SEED);
  const random = mulberry32(seed);
  const verifier = createVerifier({
    issuer: ISSUER,
    audience: BILLING,
    keys,
    clock: newClock(),
    trustDomain: TRUST_DOMAIN,
  });
  const originals = [forge(serviceClaims()), forge(serviceClaims({ jti: 'ed' }), ed25519)];
  let accepted = 0;
  let foreign = 0;
  let tried = 0;
  for (let i = 0; i < MUTATIONS; i++) {
    const original = originals[i % originals.length]!;
    // Stack one to three mutations so some inputs stray far from the original.
    let token = original;
    for (let n = 1 + Math.floor(random() * 3); n > 0; n--) token = mutate(token, random, '.');
    if (token === original) continue;
    tried++;
    try {
      verifier.verify(token);
      accepted++;
      console.log(`accepted mutation (seed ${seed}, iteration ${i}): ${JSON.stringify(token)}`);
    } catch (error) {
      if (!(error instanceof TesseraError)) {
        foreign++;
        console.log(`non-TesseraError (seed ${seed}, iteration ${i}): ${String(error)}`);
      }
    }
  }
  assert.ok(tried > MUTATIONS * 0.95, `only ${tried} mutations differed from the original`);
  assert.equal(accepted, 0, `seed ${seed}`);
  assert.equal(foreign, 0, `seed ${seed}`);
  for (const original of originals)
    assert.equal(verifier.verify(original).spiffeId.startsWith('spiffe://'), true);
});
