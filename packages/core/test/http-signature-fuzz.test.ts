import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';

import { isTesseraError } from '../src/errors.ts';
import type { SignatureKey } from '../src/http-signature/algorithms.ts';
import {
  createContentDigest,
  signRequest,
  verifyContentDigest,
  verifyRequestSignature,
} from '../src/http-signature/index.ts';
import { parseDictionaryField } from '../src/http-signature/structured-field.ts';
import {
  CLIENT_COMPONENTS,
  invoiceRequest,
  keyResolver,
  newClock,
  rfcKeys,
} from './support/http-signature-fixture.ts';
import { mulberry32 } from '../src/testing/fuzz.ts';

// Mutation fuzzing of a valid Signature-Input / Signature pair. Set TESSERA_FUZZ_SEED to replay
// a run; TESSERA_FUZZ_RUNS to run longer. Keys are the RFC 9421 test keys and both algorithms
// are deterministic, so a seed reproduces a run exactly. (ECDSA signatures are randomised; the
// parsing they go through is the same, and Wycheproof covers their verification.)
const SEED = Number(process.env.TESSERA_FUZZ_SEED ?? 0x7e55e7a) >>> 0;
const RUNS = Number(process.env.TESSERA_FUZZ_RUNS ?? 20_000);

/** Characters that mean something to RFC 8941, plus a few that never may appear. */
const INTERESTING = [
  '"',
  '(',
  ')',
  ':',
  ';',
  '=',
  ',',
  '?',
  ' ',
  '\t',
  '*',
  '-',
  '.',
  '@',
  '%',
  '\\',
  '/',
  '+',
  '0',
  '1',
  '9',
  'a',
  'z',
  'A',
  '\r',
  '\n',
  '\0',
  'é',
  '\u{1F600}',
];

type Pair = [input: string, signature: string];
type Mutation = (pair: Pair, random: () => number) => Pair;

const int = (random: () => number, n: number): number => Math.floor(random() * n);

/** Applies `edit` to one of the two fields, chosen at random. */
function onOne(edit: (value: string, random: () => number) => string): Mutation {
  return ([input, signature], random) =>
    random() < 0.5 ? [edit(input, random), signature] : [input, edit(signature, random)];
}

function randomChar(random: () => number): string {
  return random() < 0.7
    ? INTERESTING[int(random, INTERESTING.length)]!
    : String.fromCharCode(int(random, 256));
}

function swapSegments(value: string, separator: string | RegExp, random: () => number): string {
  const parts = value.split(separator);
  if (parts.length < 3) return value;
  const i = 1 + int(random, parts.length - 1);
  const j = 1 + int(random, parts.length - 1);
  [parts[i], parts[j]] = [parts[j]!, parts[i]!];
  return parts.join(typeof separator === 'string' ? separator : ' ');
}

const MUTATIONS: readonly (readonly [name: string, mutation: Mutation])[] = [
  [
    'flip a bit',
    onOne((v, r) => {
      const i = int(r, v.length);
      return (
        v.slice(0, i) + String.fromCharCode(v.charCodeAt(i) ^ (1 << int(r, 8))) + v.slice(i + 1)
      );
    }),
  ],
  [
    'insert a character',
    onOne((v, r) => {
      const i = int(r, v.length + 1);
      return v.slice(0, i) + randomChar(r) + v.slice(i);
    }),
  ],
  [
    'delete a character',
    onOne((v, r) => {
      const i = int(r, v.length);
      return v.slice(0, i) + v.slice(i + 1);
    }),
  ],
  [
    'replace a character',
    onOne((v, r) => {
      const i = int(r, v.length);
      return v.slice(0, i) + randomChar(r) + v.slice(i + 1);
    }),
  ],
  ['truncate', onOne((v, r) => v.slice(0, int(r, v.length)))],
  [
    'duplicate a segment',
    onOne((v, r) => {
      const start = int(r, v.length);
      const end = start + 1 + int(r, Math.min(40, v.length - start));
      const at = int(r, v.length + 1);
      return v.slice(0, at) + v.slice(start, end) + v.slice(at);
    }),
  ],
  ['swap parameters', ([input, signature], r) => [swapSegments(input, ';', r), signature]],
  ['swap components', ([input, signature], r) => [swapSegments(input, / (?=")/, r), signature]],
  [
    'drop a parameter',
    ([input, signature], r) => {
      const parts = input.split(';');
      parts.splice(1 + int(r, parts.length - 1), 1);
      return [parts.join(';'), signature];
    },
  ],
  ['relabel one field', onOne((v) => v.replace(/^sig1=/, 'sig2='))],
  ['exchange the fields', ([input, signature]) => [signature, input]],
  [
    'replace the signature with another request’s',
    ([input], r) => [input, OTHER[int(r, OTHER.length)]!],
  ],
];

const clock = newClock();
const KEYS: readonly SignatureKey[] = [rfcKeys.sharedSecret, rfcKeys.ed25519];
const request = invoiceRequest();
const ORIGINALS: readonly Pair[] = KEYS.map((key) => {
  const fields = signRequest(request, {
    key,
    components: CLIENT_COMPONENTS,
    clock,
    expiresIn: 10,
    nonce: 'fuzz-nonce',
  });
  return [fields['signature-input'], fields.signature];
});
/** Valid signatures over other requests, for splicing. */
const OTHER: readonly string[] = KEYS.map(
  (key) =>
    signRequest(invoiceRequest({ 'content-type': 'text/plain' }), {
      key,
      components: CLIENT_COMPONENTS,
      clock,
    }).signature,
);

/**
 * What a pair means once parsed: covered components and parameters with their types, and the
 * signature bytes. Labels are left out: RFC 9421 does not sign them (§4: intermediaries may
 * rename them), so relabelling both fields is not a change. Two pairs with the same meaning
 * sign the same base with the same bytes.
 */
function meaning([input, signature]: Pair): string {
  const inputs = parseDictionaryField(input, 'ERR_SIG_MALFORMED', 'Signature-Input');
  const signatures = parseDictionaryField(signature, 'ERR_SIG_MALFORMED', 'Signature');
  const json = (value: unknown): string =>
    JSON.stringify(value, (_key, v: unknown) =>
      v instanceof Map ? [...(v as Map<unknown, unknown>)] : v,
    );
  return json([[...inputs.values()], [...signatures.values()]]);
}

void describe('fuzzing Signature-Input and Signature', () => {
  void it(
    `${RUNS} mutations of valid pairs: none forged, every refusal a TesseraError (seed ${SEED})`,
    { timeout: 120_000 },
    async () => {
      console.log(
        `http-signature fuzz: seed ${SEED}, ${RUNS} runs (TESSERA_FUZZ_SEED / TESSERA_FUZZ_RUNS to change)`,
      );
      const random = mulberry32(SEED);
      // A server pins the label it expects (the Tessera client always signs as sig1).
      const options = { keys: keyResolver(...KEYS), clock, label: 'sig1' };
      const originalMeanings = new Set(ORIGINALS.map(meaning));
      const codes = new Map<string, number>();
      const failures: string[] = [];
      const reencodings: string[] = [];
      let unchanged = 0;

      for (let run = 0; run < RUNS; run++) {
        const original = ORIGINALS[run % ORIGINALS.length]!;
        let pair: Pair = [...original];
        const applied: string[] = [];
        for (let n = 1 + int(random, 3); n > 0; n--) {
          const [name, mutation] = MUTATIONS[int(random, MUTATIONS.length)]!;
          pair = mutation(pair, random);
          applied.push(name);
        }
        if (pair[0] === original[0] && pair[1] === original[1]) {
          unchanged++;
          continue;
        }
        try {
          await verifyRequestSignature(
            invoiceRequest({ 'signature-input': pair[0], signature: pair[1] }),
            options,
          );
          // Accepted: only legitimate if the pair is a re-encoding of a signed original (RFC 8941
          // allows e.g. spaces after ";" or leading zeros), which signs the very same base.
          if (!originalMeanings.has(meaning(pair))) {
            failures.push(`run ${run} accepted [${applied.join(', ')}]: ${JSON.stringify(pair)}`);
          } else if (reencodings.push(JSON.stringify(pair)) <= 3) {
            console.log(`  accepted re-encoding: ${JSON.stringify(pair)}`);
          }
        } catch (error) {
          if (isTesseraError(error)) {
            codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
          } else {
            failures.push(
              `run ${run} threw ${String(error)} [${applied.join(', ')}]: ${JSON.stringify(pair)}`,
            );
          }
        }
      }

      const refused = [...codes.values()].reduce((a, b) => a + b, 0);
      console.log(`  refused ${refused}: ${JSON.stringify(Object.fromEntries([...codes].sort()))}`);
      console.log(
        `  accepted re-encodings of an original: ${reencodings.length}; mutations that cancelled out: ${unchanged}`,
      );
      assert.deepEqual(failures, []);
      assert.ok(
        refused >= Math.min(RUNS, 10_000) * 0.9,
        'most mutations reach the verifier and are refused',
      );
    },
  );
});

void describe('fuzzing Content-Digest', () => {
  void it(`${RUNS / 4} mutations of a valid field: no wrong digest accepted, every refusal a TesseraError (seed ${SEED})`, () => {
    const random = mulberry32(SEED);
    const body = '{"hello": "world"}';
    const original = `${createContentDigest(body, 'sha-256')}, ${createContentDigest(body, 'sha-512')}`;
    const genuine = new Map([
      ['sha-256', createHash('sha256').update(body).digest('base64')],
      ['sha-512', createHash('sha512').update(body).digest('base64')],
    ]);
    const failures: string[] = [];
    let accepted = 0;
    for (let run = 0; run < RUNS / 4; run++) {
      let pair: Pair = [original, original];
      // The character-level mutations only: the others are specific to Signature-Input.
      for (let n = 1 + int(random, 3); n > 0; n--)
        pair = MUTATIONS[int(random, 6)]![1](pair, random);
      const field = pair[int(random, 2)]!;
      try {
        verifyContentDigest(field, body);
        accepted++;
        // Accepted fields may have lost a digest (a mangled name is an unknown algorithm, ignored
        // per RFC 9530 §2), but every sha-256/sha-512 they still hold must be the genuine one.
        for (const [alg, member] of parseDictionaryField(
          field,
          'ERR_DIGEST_MALFORMED',
          'Content-Digest',
        )) {
          const expected = genuine.get(alg);
          if (expected === undefined) continue;
          if (
            member.kind !== 'item' ||
            member.value.type !== 'bytes' ||
            member.value.value.toString('base64') !== expected
          ) {
            failures.push(`run ${run} accepted ${JSON.stringify(field)}`);
          }
        }
      } catch (error) {
        if (!isTesseraError(error)) {
          failures.push(`run ${run} threw ${String(error)}: ${JSON.stringify(field)}`);
        }
      }
    }
    console.log(
      `content-digest fuzz: ${accepted} of ${RUNS / 4} still valid after mutation, none with a wrong digest`,
    );
    assert.deepEqual(failures, []);
  });
});
