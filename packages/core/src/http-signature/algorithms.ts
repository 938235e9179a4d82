import { createHmac, KeyObject, sign, timingSafeEqual, verify } from 'node:crypto';
import { TesseraError } from '../errors.ts';

/** The RFC 9421 §3.3 algorithms Tessera signs and verifies with (HTTP Signature Algorithms registry names). */
export type SignatureAlgorithm = 'hmac-sha256' | 'ecdsa-p256-sha256' | 'ed25519';

/** Every supported algorithm, the default `allowedAlgorithms` of a verifier. */
export const SIGNATURE_ALGORITHMS: readonly SignatureAlgorithm[] = Object.freeze([
  'hmac-sha256',
  'ecdsa-p256-sha256',
  'ed25519',
]);

/**
 * A key and the one algorithm it may be used with. The algorithm belongs to the key, never to
 * the message: a verifier that let the `alg` parameter choose could be pointed at HMAC with a
 * public key as the secret (the JWT "alg confusion" attack).
 */
export interface SignatureKey {
  /** The `keyid` signature parameter naming this key. */
  readonly keyid: string;
  readonly alg: SignatureAlgorithm;
  /**
   * A secret KeyObject for `hmac-sha256` (at least 32 bytes); a P-256 or Ed25519 KeyObject
   * otherwise, private to sign, public (or private) to verify.
   */
  readonly key: KeyObject;
}

// §3.3.3 (HMAC-SHA256 output), §3.3.4 (raw r||s, 32 bytes each), §3.3.6 (RFC 8032 signature).
const SIGNATURE_LENGTH: Readonly<Record<SignatureAlgorithm, number>> = {
  'hmac-sha256': 32,
  'ecdsa-p256-sha256': 64,
  ed25519: 64,
};

// RFC 2104 §3: keys shorter than the hash output weaken HMAC; refuse them rather than warn.
const MIN_HMAC_KEY_BYTES = 32;

/** True when `value` names a supported algorithm. */
export function isSignatureAlgorithm(value: unknown): value is SignatureAlgorithm {
  return typeof value === 'string' && (SIGNATURE_ALGORITHMS as readonly string[]).includes(value);
}

/** The exact signature length `alg` produces, in bytes. */
export function signatureLength(alg: SignatureAlgorithm): number {
  return SIGNATURE_LENGTH[alg];
}

/**
 * Throws `ERR_CONFIG_INVALID` unless `key` fits `alg` for `use`. The detail names the key id and
 * what is wrong with it, never key material.
 */
export function assertKeyFitsAlgorithm(key: SignatureKey, use: 'sign' | 'verify'): void {
  const bad = (reason: string): TesseraError =>
    new TesseraError('ERR_CONFIG_INVALID', `key "${key.keyid}" ${reason}`);
  if (!isSignatureAlgorithm(key.alg)) throw bad('has an unsupported algorithm');
  const object: unknown = key.key;
  if (!(object instanceof KeyObject)) throw bad('is not a KeyObject');
  if (key.alg === 'hmac-sha256') {
    if (object.type !== 'secret') throw bad('must be a secret key for hmac-sha256');
    if ((object.symmetricKeySize ?? 0) < MIN_HMAC_KEY_BYTES) {
      throw bad(`must be at least ${MIN_HMAC_KEY_BYTES} bytes for hmac-sha256`);
    }
    return;
  }
  if (object.type === 'secret') throw bad(`must be an asymmetric key for ${key.alg}`);
  if (use === 'sign' && object.type !== 'private') throw bad('must be a private key to sign');
  if (key.alg === 'ed25519' && object.asymmetricKeyType !== 'ed25519') {
    throw bad('must be an Ed25519 key');
  }
  if (
    key.alg === 'ecdsa-p256-sha256' &&
    (object.asymmetricKeyType !== 'ec' || object.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
  ) {
    throw bad('must be a P-256 key');
  }
}

/**
 * Signs `data` (a signature base) with `alg`. The key must already have passed
 * {@link assertKeyFitsAlgorithm}.
 */
export function signBytes(alg: SignatureAlgorithm, key: KeyObject, data: Uint8Array): Buffer {
  switch (alg) {
    case 'hmac-sha256':
      return createHmac('sha256', key).update(data).digest();
    case 'ecdsa-p256-sha256':
      // §3.3.4: the signature is r||s, not the DER SEQUENCE node:crypto produces by default.
      return sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
    case 'ed25519':
      return sign(null, data, key);
  }
}

/**
 * Verifies `signature` over `data` with `alg`: true only for a valid, full-length signature.
 * Malformed signatures are `false`, never an exception.
 */
export function verifyBytes(
  alg: SignatureAlgorithm,
  key: KeyObject,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  // §3.3.3 uses the whole HMAC output: a truncated tag would cut the forgery cost, so any other
  // length fails. The same check rejects r||s or Ed25519 signatures of the wrong size up front.
  if (signature.length !== SIGNATURE_LENGTH[alg]) return false;
  try {
    switch (alg) {
      case 'hmac-sha256':
        // Constant-time: a byte-by-byte comparison would leak how much of a guess is right.
        return timingSafeEqual(createHmac('sha256', key).update(data).digest(), signature);
      case 'ecdsa-p256-sha256':
        return verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
      case 'ed25519':
        return verify(null, data, key, signature);
    }
  } catch {
    return false;
  }
}
