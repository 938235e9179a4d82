import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { TesseraError } from '@tessera/core';
import {
  decryptPrivateKey,
  encryptPrivateKey,
  generateKek,
  KEK_BYTES,
  parseKek,
} from '../src/keys/kek.ts';

const KID = 'kid-one';
const kekBytes = generateKek();
const kek = parseKek(kekBytes);
const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const edKey = generateKeyPairSync('ed25519').privateKey;
const der = (key: KeyObject) => key.export({ format: 'der', type: 'pkcs8' });

/** Every way the key material could leak into an error, in the encodings someone might log. */
function secretsOf(key: KeyObject): string[] {
  const bytes = [der(key), Buffer.from(kekBytes)];
  return bytes.flatMap((b) => [b.toString('base64url'), b.toString('base64'), b.toString('hex')]);
}

function assertRefused(fn: () => unknown, detail: RegExp, key: KeyObject = ecKey): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof TesseraError, `expected TesseraError, got ${String(error)}`);
    assert.equal(error.code, 'ERR_CONFIG_INVALID');
    assert.match(error.detail ?? '', detail);
    const shown = [String(error), error.stack ?? '', inspect(error), JSON.stringify(error)].join();
    for (const secret of secretsOf(key)) assert.ok(!shown.includes(secret), 'key material leaked');
    return true;
  });
}

/** Replaces one dot-separated part of a blob. */
function withPart(blob: string, index: number, change: (part: string) => string): string {
  const parts = blob.split('.');
  parts[index] = change(parts[index] ?? '');
  return parts.join('.');
}

/** Flips one bit in the first byte of a base64url part, keeping it canonical. */
function flipFirstByte(part: string): string {
  const bytes = Buffer.from(part, 'base64url');
  bytes[0] = (bytes[0] ?? 0) ^ 0x01;
  return bytes.toString('base64url');
}

describe('parseKek', () => {
  it('accepts exactly 32 bytes', () => {
    assert.equal(kekBytes.length, KEK_BYTES);
    assert.doesNotThrow(() => parseKek(kekBytes));
  });

  for (const length of [0, 16, 31, 33, 64]) {
    it(`refuses ${length} bytes, naming the setting`, () => {
      assert.throws(
        () =>
          parseKek(
            new Uint8Array(length).map((_, i) => i + 1),
            'TESSERA_KEK_FILE',
          ),
        (error: unknown) =>
          error instanceof TesseraError &&
          error.code === 'ERR_CONFIG_INVALID' &&
          error.message.includes('TESSERA_KEK_FILE must be exactly 32 bytes'),
      );
    });
  }

  it('refuses a constant placeholder such as 32 zero bytes', () => {
    assertRefused(() => parseKek(new Uint8Array(32)), /constant byte string/);
  });

  it('copies the bytes: wiping the caller buffer afterwards does not change the key', () => {
    const bytes = generateKek();
    const loaded = parseKek(bytes);
    const blob = encryptPrivateKey(loaded, ecKey, KID);
    bytes.fill(0);
    assert.deepEqual(der(decryptPrivateKey(loaded, blob, KID)), der(ecKey));
  });

  it('cannot be logged or serialised', () => {
    const shown = [inspect(kek), JSON.stringify({ kek }), String(Object.values(kek))].join();
    for (const secret of secretsOf(ecKey).slice(3)) assert.ok(!shown.includes(secret));
    assert.match(inspect(kek), /\[KeyEncryptionKey\]/);
  });

  it('generates a different key every time', () => {
    assert.notDeepEqual(generateKek(), generateKek());
  });
});

describe('encryptPrivateKey / decryptPrivateKey', () => {
  for (const [name, key] of [
    ['P-256', ecKey],
    ['Ed25519', edKey],
  ] as const) {
    it(`round-trips a ${name} key`, () => {
      const blob = encryptPrivateKey(kek, key, KID);
      assert.deepEqual(der(decryptPrivateKey(kek, blob, KID)), der(key));
    });
  }

  it('writes v1.<iv>.<ciphertext>.<tag> with a 12-byte IV and a 16-byte tag', () => {
    const parts = encryptPrivateKey(kek, ecKey, KID).split('.');
    assert.equal(parts.length, 4);
    assert.equal(parts[0], 'v1');
    assert.equal(Buffer.from(parts[1] ?? '', 'base64url').length, 12);
    assert.equal(Buffer.from(parts[2] ?? '', 'base64url').length, der(ecKey).length);
    assert.equal(Buffer.from(parts[3] ?? '', 'base64url').length, 16);
  });

  it('uses a fresh IV for every encryption', () => {
    const ivs = new Set(
      Array.from({ length: 50 }, () => encryptPrivateKey(kek, ecKey, KID).split('.')[1]),
    );
    assert.equal(ivs.size, 50);
  });

  it('does not contain the key in any encoding', () => {
    const blob = encryptPrivateKey(kek, ecKey, KID);
    for (const secret of secretsOf(ecKey)) assert.ok(!blob.includes(secret));
  });

  it('refuses to encrypt a public key', () => {
    const publicKey = generateKeyPairSync('ed25519').publicKey;
    assert.throws(
      () => encryptPrivateKey(kek, publicKey, KID),
      (error: unknown) => error instanceof TesseraError && error.code === 'ERR_CONFIG_INVALID',
    );
  });

  it('requires associated data', () => {
    assertRefused(() => encryptPrivateKey(kek, ecKey, ''), /associated data/);
  });

  const blob = encryptPrivateKey(kek, ecKey, KID);
  const other = parseKek(generateKek());
  const REFUSALS: readonly { name: string; run: () => unknown; detail: RegExp }[] = [
    { name: 'wrong KEK', run: () => decryptPrivateKey(other, blob, KID), detail: /authentication/ },
    {
      name: 'wrong AAD (blob moved to another kid)',
      run: () => decryptPrivateKey(kek, blob, 'kid-two'),
      detail: /authentication/,
    },
    {
      name: 'AAD that differs only by case',
      run: () => decryptPrivateKey(kek, blob, KID.toUpperCase()),
      detail: /authentication/,
    },
    {
      name: 'tampered IV',
      run: () => decryptPrivateKey(kek, withPart(blob, 1, flipFirstByte), KID),
      detail: /authentication/,
    },
    {
      name: 'tampered ciphertext',
      run: () => decryptPrivateKey(kek, withPart(blob, 2, flipFirstByte), KID),
      detail: /authentication/,
    },
    {
      name: 'tampered tag',
      run: () => decryptPrivateKey(kek, withPart(blob, 3, flipFirstByte), KID),
      detail: /authentication/,
    },
    {
      name: 'ciphertext of another record spliced in',
      run: () =>
        decryptPrivateKey(
          kek,
          withPart(blob, 2, () => encryptPrivateKey(kek, edKey, KID).split('.')[2] ?? ''),
          KID,
        ),
      detail: /authentication|wrong length/,
    },
    {
      name: 'truncated tag (a short GCM tag must not be accepted)',
      run: () =>
        decryptPrivateKey(
          kek,
          withPart(blob, 3, (p) =>
            Buffer.from(p, 'base64url').subarray(0, 12).toString('base64url'),
          ),
          KID,
        ),
      detail: /tag of the wrong length/,
    },
    {
      name: 'truncated ciphertext',
      run: () =>
        decryptPrivateKey(
          kek,
          withPart(blob, 2, (p) =>
            Buffer.from(p, 'base64url').subarray(0, 40).toString('base64url'),
          ),
          KID,
        ),
      detail: /authentication/,
    },
    {
      name: 'truncated blob (tag missing)',
      run: () => decryptPrivateKey(kek, blob.slice(0, blob.lastIndexOf('.')), KID),
      detail: /truncated/,
    },
    {
      name: 'truncated blob (cut mid-part)',
      run: () => decryptPrivateKey(kek, blob.slice(0, blob.length - 5), KID),
      detail: /wrong length|malformed/,
    },
    { name: 'empty blob', run: () => decryptPrivateKey(kek, '', KID), detail: /version/ },
    {
      name: 'extra part',
      run: () => decryptPrivateKey(kek, `${blob}.AAAA`, KID),
      detail: /truncated or extended/,
    },
    {
      name: 'unknown version v2',
      run: () => decryptPrivateKey(kek, `v2${blob.slice(2)}`, KID),
      detail: /unknown format version/,
    },
    {
      name: 'unknown version V1 (case)',
      run: () => decryptPrivateKey(kek, `V1${blob.slice(2)}`, KID),
      detail: /unknown format version/,
    },
    {
      name: 'plaintext PKCS#8 stored by mistake',
      run: () => decryptPrivateKey(kek, der(ecKey).toString('base64url'), KID),
      detail: /unknown format version/,
    },
    {
      name: 'padded base64',
      run: () =>
        decryptPrivateKey(
          kek,
          withPart(blob, 3, (p) => `${p}==`),
          KID,
        ),
      detail: /malformed tag/,
    },
    {
      name: 'non-canonical base64url (unused low bits set)',
      run: () =>
        decryptPrivateKey(
          kek,
          withPart(blob, 1, (p) => p.slice(0, -1) + (p.endsWith('A') ? 'B' : 'A')),
          KID,
        ),
      detail: /malformed IV|authentication/,
    },
    {
      name: 'standard base64 alphabet',
      run: () =>
        decryptPrivateKey(
          kek,
          withPart(blob, 2, (p) => `+/${p.slice(2)}`),
          KID,
        ),
      detail: /malformed ciphertext/,
    },
    {
      name: 'empty ciphertext',
      run: () =>
        decryptPrivateKey(
          kek,
          withPart(blob, 2, () => ''),
          KID,
        ),
      detail: /malformed ciphertext/,
    },
    {
      name: 'oversized blob',
      run: () => decryptPrivateKey(kek, `v1.${'A'.repeat(5000)}`, KID),
      detail: /malformed/,
    },
  ];

  for (const { name, run, detail } of REFUSALS) {
    it(`refuses: ${name}`, () => {
      assertRefused(run, detail);
    });
  }
});
