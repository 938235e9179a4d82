import { constants, type KeyObject } from 'node:crypto';

/**
 * The JWS algorithms accepted on end-user tokens of an external OpenID provider (RFC 7518 §3,
 * RFC 8037): Tessera's two, and the RSA (PKCS#1 v1.5 and PSS) and larger-curve ECDSA ones that
 * providers sign with (Keycloak, Auth0 and Entra ID default to RS256). Public-key algorithms only:
 * never `none`, never HMAC. Only ever verified: Tessera signs with ES256 or EdDSA.
 */
export type UserTokenAlgorithm =
  'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';

export const USER_TOKEN_ALGORITHMS: readonly UserTokenAlgorithm[] = Object.freeze([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
]);

/** What a user-token verifier accepts unless told otherwise. */
export const DEFAULT_USER_TOKEN_ALGORITHMS: readonly UserTokenAlgorithm[] = Object.freeze([
  'RS256',
  'ES256',
  'EdDSA',
]);

/** RSA keys with a shorter modulus are never used (RFC 7518 §3.3 and §3.5: 2048 bits or more). */
export const MIN_RSA_MODULUS_BITS = 2048;

const ALGORITHM_SET: ReadonlySet<unknown> = new Set(USER_TOKEN_ALGORITHMS);

export function isUserTokenAlgorithm(value: unknown): value is UserTokenAlgorithm {
  return ALGORITHM_SET.has(value);
}

/** The algorithm a JWS `alg` names; RFC 9864's `Ed25519` reads as `EdDSA`. Else undefined. */
export function userTokenAlgorithmOf(value: unknown): UserTokenAlgorithm | undefined {
  if (value === 'Ed25519') return 'EdDSA';
  return isUserTokenAlgorithm(value) ? value : undefined;
}

/** The key an algorithm needs, and how node:crypto verifies with it. */
interface Profile {
  readonly keyType: 'rsa' | 'ec' | 'ed25519';
  /** OpenSSL's curve name, for ECDSA. */
  readonly curve?: string;
  /** Digest for `crypto.verify`; null for EdDSA, which hashes internally. */
  readonly digest: string | null;
  /** Fixed signature length (ECDSA r‖s, Ed25519); RSA signatures are as long as the modulus. */
  readonly signatureBytes?: number;
  readonly pss?: true;
}

const PROFILES: Readonly<Record<UserTokenAlgorithm, Profile>> = {
  RS256: { keyType: 'rsa', digest: 'sha256' },
  RS384: { keyType: 'rsa', digest: 'sha384' },
  RS512: { keyType: 'rsa', digest: 'sha512' },
  PS256: { keyType: 'rsa', digest: 'sha256', pss: true },
  PS384: { keyType: 'rsa', digest: 'sha384', pss: true },
  PS512: { keyType: 'rsa', digest: 'sha512', pss: true },
  ES256: { keyType: 'ec', curve: 'prime256v1', digest: 'sha256', signatureBytes: 64 },
  ES384: { keyType: 'ec', curve: 'secp384r1', digest: 'sha384', signatureBytes: 96 },
  ES512: { keyType: 'ec', curve: 'secp521r1', digest: 'sha512', signatureBytes: 132 },
  EdDSA: { keyType: 'ed25519', digest: null, signatureBytes: 64 },
};

/** A key's type with its curve or modulus size, read once per key object. */
interface KeyShape {
  readonly type: string | undefined;
  readonly curve: string | undefined;
  readonly modulusBits: number | undefined;
}

const shapes = new WeakMap<KeyObject, KeyShape>();

function shapeOf(key: KeyObject): KeyShape {
  let shape = shapes.get(key);
  if (shape === undefined) {
    const details = key.type === 'public' ? key.asymmetricKeyDetails : undefined;
    shape = {
      type: key.type === 'public' ? key.asymmetricKeyType : undefined,
      curve: details?.namedCurve,
      modulusBits: details?.modulusLength,
    };
    shapes.set(key, shape);
  }
  return shape;
}

/**
 * The exact signature length `alg` produces with `key`, or undefined when the key does not fit
 * the algorithm: another key type (no RSA key for an ES algorithm, no EC key for RS256), another
 * curve, an RSA modulus under {@link MIN_RSA_MODULUS_BITS}, or not a public key at all.
 */
export function signatureLengthFor(alg: UserTokenAlgorithm, key: KeyObject): number | undefined {
  const profile = PROFILES[alg];
  const shape = shapeOf(key);
  if (shape.type !== profile.keyType) return undefined;
  if (profile.keyType === 'rsa') {
    const bits = shape.modulusBits;
    return bits !== undefined && bits >= MIN_RSA_MODULUS_BITS ? Math.ceil(bits / 8) : undefined;
  }
  if (profile.curve !== undefined && shape.curve !== profile.curve) return undefined;
  return profile.signatureBytes;
}

/** Arguments for `crypto.verify(digest, data, key, signature)` under `alg`. */
export function verifyArgumentsFor(
  alg: UserTokenAlgorithm,
  key: KeyObject,
): {
  readonly digest: string | null;
  readonly key: {
    readonly key: KeyObject;
    readonly dsaEncoding?: 'ieee-p1363';
    readonly padding?: number;
    readonly saltLength?: number;
  };
} {
  const profile = PROFILES[alg];
  if (profile.keyType === 'ec')
    return { digest: profile.digest, key: { key, dsaEncoding: 'ieee-p1363' } };
  if (profile.pss === true) {
    // RFC 7518 §3.5: MGF1 with the same hash, and a salt exactly as long as the hash.
    return {
      digest: profile.digest,
      key: {
        key,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
      },
    };
  }
  if (profile.keyType === 'rsa')
    return { digest: profile.digest, key: { key, padding: constants.RSA_PKCS1_PADDING } };
  return { digest: profile.digest, key: { key } };
}
