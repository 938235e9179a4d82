import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createSecretKey,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { inspect } from 'node:util';
import { TesseraError } from '@tessera/core';

/**
 * The key-encryption key (KEK): the authority's signing keys are stored only as AES-256-GCM
 * ciphertext under it, so a copy of the database alone cannot mint tokens.
 *
 * Stored form (one string per key): `v1.<iv>.<ciphertext>.<tag>`, each part unpadded base64url,
 * the plaintext being the PKCS#8 DER of the private key. The version prefix lets a later format
 * (another AEAD, a KMS-wrapped data key) coexist with records written today.
 */

/** AES-256: exactly 32 bytes of key. */
export const KEK_BYTES = 32;
/** GCM's recommended nonce size (NIST SP 800-38D §8.2): a fresh random one per encryption. */
const IV_BYTES = 12;
/** The full 128-bit tag; shorter tags would make forgeries cheaper (SP 800-38D Appendix C). */
const TAG_BYTES = 16;
const FORMAT_VERSION = 'v1';
/** A PKCS#8 P-256 or Ed25519 key is well under 200 bytes; anything this large is not ours. */
const MAX_BLOB_CHARS = 4096;
/**
 * Binds the ciphertext to its purpose and format version as well as to the caller's label (the
 * `kid`), so a blob moved to another record, or reinterpreted under another format, fails the tag.
 */
const AAD_CONTEXT = 'tessera/signing-key/v1\n';
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * A loaded key-encryption key. Opaque: the key lives in a module-private map, so the object
 * carries nothing that could be read back, logged or serialised.
 */
export interface KeyEncryptionKey {
  readonly kind: 'key-encryption-key';
}

const material = new WeakMap<KeyEncryptionKey, KeyObject>();

function keyOf(kek: KeyEncryptionKey): KeyObject {
  const key = material.get(kek);
  if (key === undefined) {
    throw new TesseraError('ERR_CONFIG_INVALID', 'not a key-encryption key made by parseKek');
  }
  return key;
}

/**
 * Loads a key-encryption key from its raw bytes (as read from a secret provider or the dev-mode
 * key file). Exactly 32 bytes, else `ERR_CONFIG_INVALID` naming `setting`. The bytes are copied;
 * the caller may wipe its buffer afterwards.
 */
export function parseKek(bytes: Uint8Array, setting = 'keyEncryptionKey'): KeyEncryptionKey {
  if (!(bytes instanceof Uint8Array)) {
    throw new TesseraError('ERR_CONFIG_INVALID', `${setting} must be raw bytes`);
  }
  if (bytes.length !== KEK_BYTES) {
    throw new TesseraError(
      'ERR_CONFIG_INVALID',
      `${setting} must be exactly ${KEK_BYTES} bytes (got ${bytes.length})`,
    );
  }
  // A placeholder such as Buffer.alloc(32) is a misconfiguration, not a key.
  if (bytes.every((byte) => byte === bytes[0])) {
    throw new TesseraError('ERR_CONFIG_INVALID', `${setting} is a constant byte string, not a key`);
  }
  const kek: KeyEncryptionKey = Object.freeze({
    kind: 'key-encryption-key' as const,
    toJSON: () => '[KeyEncryptionKey]',
    [inspect.custom]: () => '[KeyEncryptionKey]',
  });
  const copy = Buffer.from(bytes);
  material.set(kek, createSecretKey(copy));
  copy.fill(0);
  return kek;
}

/**
 * 32 fresh random bytes for a new key-encryption key. Store them as a secret (dev mode writes them
 * to `DATA_DIR` with mode 0600), then load them with {@link parseKek}.
 */
export function generateKek(): Uint8Array {
  return new Uint8Array(randomBytes(KEK_BYTES));
}

function associatedData(aad: string): Buffer {
  if (typeof aad !== 'string' || aad === '') {
    throw new TesseraError('ERR_CONFIG_INVALID', 'associated data (the kid) is required');
  }
  return Buffer.from(AAD_CONTEXT + aad, 'utf8');
}

/**
 * Encrypts a private key's PKCS#8 DER under the KEK with AES-256-GCM and a random 12-byte IV,
 * authenticating `aad` (the key's `kid`) with it. Returns `v1.<iv>.<ciphertext>.<tag>`.
 */
export function encryptPrivateKey(
  kek: KeyEncryptionKey,
  privateKey: KeyObject,
  aad: string,
): string {
  if (privateKey.type !== 'private') {
    throw new TesseraError('ERR_CONFIG_INVALID', 'only private keys are encrypted');
  }
  const additional = associatedData(aad);
  const plaintext = privateKey.export({ format: 'der', type: 'pkcs8' });
  try {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', keyOf(kek), iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(additional);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [FORMAT_VERSION, iv, ciphertext, tag]
      .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
      .join('.');
  } finally {
    plaintext.fill(0);
  }
}

function unreadable(why: string): TesseraError {
  // Never the blob itself: a mis-stored record might hold plaintext key material.
  return new TesseraError('ERR_CONFIG_INVALID', `encrypted signing key ${why}`);
}

function decodePart(part: string, what: string, expectedBytes?: number): Buffer {
  if (!BASE64URL.test(part) || part.length % 4 === 1) throw unreadable(`has a malformed ${what}`);
  const bytes = Buffer.from(part, 'base64url');
  // Canonical encoding only, so one record has exactly one textual form.
  if (bytes.toString('base64url') !== part) throw unreadable(`has a malformed ${what}`);
  if (expectedBytes !== undefined && bytes.length !== expectedBytes) {
    throw unreadable(`has a ${what} of the wrong length`);
  }
  return bytes;
}

/**
 * Decrypts a blob made by {@link encryptPrivateKey}, verifying the GCM tag over the ciphertext and
 * `aad`. A wrong KEK, any altered byte, a truncated blob, an unknown format version or a blob
 * copied to another `kid` all throw `ERR_CONFIG_INVALID`; the detail never contains key material.
 */
export function decryptPrivateKey(kek: KeyEncryptionKey, blob: string, aad: string): KeyObject {
  const additional = associatedData(aad);
  if (typeof blob !== 'string' || blob.length > MAX_BLOB_CHARS) throw unreadable('is malformed');
  const parts = blob.split('.');
  if (parts[0] !== FORMAT_VERSION) throw unreadable('has an unknown format version');
  if (parts.length !== 4) throw unreadable('is malformed (truncated or extended)');
  const [, ivPart = '', ciphertextPart = '', tagPart = ''] = parts;
  const iv = decodePart(ivPart, 'IV', IV_BYTES);
  const ciphertext = decodePart(ciphertextPart, 'ciphertext');
  const tag = decodePart(tagPart, 'tag', TAG_BYTES);

  const decipher = createDecipheriv('aes-256-gcm', keyOf(kek), iv, {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(additional);
  decipher.setAuthTag(tag);
  let plaintext: Buffer;
  try {
    plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    throw unreadable(
      'failed authentication: wrong key-encryption key, or the record was altered or moved to another kid',
    );
  }
  try {
    return createPrivateKey({ key: plaintext, format: 'der', type: 'pkcs8' });
  } catch {
    throw unreadable('does not hold a PKCS#8 private key');
  } finally {
    plaintext.fill(0);
  }
}
