import assert from 'node:assert/strict';
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';

import { verifyBytes, type SignatureAlgorithm } from '../src/http-signature/algorithms.ts';
import { readVectorFile } from './support/http-signature-fixture.ts';

// Project Wycheproof (C2SP) vectors, run through the primitives the verifier uses. `invalid`
// must never verify; `valid` must; `acceptable` (none in these files) may go either way.

interface WycheproofTest {
  readonly tcId: number;
  readonly comment: string;
  readonly msg: string;
  readonly sig?: string;
  readonly tag?: string;
  readonly key?: string;
  readonly result: 'valid' | 'invalid' | 'acceptable';
}

interface WycheproofGroup {
  readonly tagSize?: number;
  readonly publicKeyDer?: string;
  readonly tests: readonly WycheproofTest[];
}

interface WycheproofFile {
  readonly numberOfTests: number;
  readonly testGroups: readonly WycheproofGroup[];
}

function load(name: string): WycheproofFile {
  return JSON.parse(readVectorFile(`wycheproof/${name}`)) as WycheproofFile;
}

function hex(value: string | undefined): Buffer {
  return Buffer.from(value ?? '', 'hex');
}

interface Tally {
  accepted: number;
  rejected: number;
}

function spki(group: WycheproofGroup): KeyObject {
  return createPublicKey({ key: hex(group.publicKeyDer), format: 'der', type: 'spki' });
}

/**
 * Runs every test of `file`; `expected` says whether one must verify. Returns the tally and
 * asserts per test, naming the tcId on failure.
 */
function run(
  file: WycheproofFile,
  alg: SignatureAlgorithm,
  keyOf: (group: WycheproofGroup, test: WycheproofTest) => KeyObject,
  expected: (group: WycheproofGroup, test: WycheproofTest) => boolean | undefined,
): Tally {
  const tally = { accepted: 0, rejected: 0 };
  let count = 0;
  for (const group of file.testGroups) {
    for (const test of group.tests) {
      count++;
      const accepted = verifyBytes(
        alg,
        keyOf(group, test),
        hex(test.msg),
        hex(test.sig ?? test.tag),
      );
      if (accepted) tally.accepted++;
      else tally.rejected++;
      const want = expected(group, test);
      if (want !== undefined) {
        assert.equal(accepted, want, `tcId ${test.tcId} (${test.result}, ${test.comment})`);
      }
    }
  }
  assert.equal(count, file.numberOfTests);
  return tally;
}

void describe('Wycheproof vectors through the signature primitives', () => {
  void it('HMAC-SHA256 (hmac_sha256_test.json)', () => {
    const file = load('hmac_sha256_test.json');
    const tally = run(
      file,
      'hmac-sha256',
      (_group, test) => createSecretKey(hex(test.key)),
      // RFC 9421 §3.3.3 defines hmac-sha256 as the full 256-bit HMAC output. Wycheproof also lists
      // tags truncated to 128 bits as "valid" (truncated MACs are valid elsewhere), but a verifier
      // that accepted a 16-byte prefix would halve the work of forging one, so for us every
      // tagSize other than 256 must fail, whatever its result.
      (group, test) => (group.tagSize === 256 ? test.result === 'valid' : false),
    );
    console.log(
      `hmac-sha256: ${tally.accepted} accepted, ${tally.rejected} rejected of ${file.numberOfTests}`,
    );
  });

  void it('ECDSA P-256 SHA-256, IEEE P1363 encoding (ecdsa_secp256r1_sha256_p1363_test.json)', () => {
    const file = load('ecdsa_secp256r1_sha256_p1363_test.json');
    const tally = run(
      file,
      'ecdsa-p256-sha256',
      (group) => spki(group),
      (_group, test) => (test.result === 'acceptable' ? undefined : test.result === 'valid'),
    );
    console.log(
      `ecdsa-p256-sha256: ${tally.accepted} accepted, ${tally.rejected} rejected of ${file.numberOfTests}`,
    );
  });

  void it('Ed25519 (ed25519_test.json)', () => {
    const file = load('ed25519_test.json');
    const tally = run(
      file,
      'ed25519',
      (group) => spki(group),
      (_group, test) => (test.result === 'acceptable' ? undefined : test.result === 'valid'),
    );
    console.log(
      `ed25519: ${tally.accepted} accepted, ${tally.rejected} rejected of ${file.numberOfTests}`,
    );
  });
});
