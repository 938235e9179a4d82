import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { TesseraError } from '../errors.ts';
import { coordinate, MAX_KID_LENGTH, PRIVATE_MEMBERS } from './jwk.ts';
import { jwksKeys, KeySet } from './jwks.ts';
import {
  signatureLengthFor,
  USER_TOKEN_ALGORITHMS,
  userTokenAlgorithmOf,
  type UserTokenAlgorithm,
} from './user-algorithms.ts';

/**
 * A public key of an external OpenID provider. Unlike Tessera's own keys, such a key may serve
 * several algorithms (an RSA key without an `alg` member verifies RS256 and PS256 alike): the
 * token's `alg` must fit the key's type, and equal `alg` when the JWK declared one.
 */
export interface UserVerificationKey {
  readonly kid: string;
  /** The JWK's `alg` member, when it had one. */
  readonly alg?: UserTokenAlgorithm;
  readonly key: KeyObject;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const EC_COORDINATE_BYTES: Readonly<Record<string, number>> = {
  'P-256': 32,
  'P-384': 48,
  'P-521': 66,
};

/** The members node:crypto imports, or undefined for a key type no user token algorithm uses. */
function publicMembers(jwk: Record<string, unknown>): JsonWebKey | undefined {
  const { kty, crv } = jwk;
  if (kty === 'RSA') {
    const { n, e } = jwk;
    if (typeof n !== 'string' || typeof e !== 'string') return undefined;
    return { kty, n, e };
  }
  if (kty === 'EC' && typeof crv === 'string' && EC_COORDINATE_BYTES[crv] !== undefined) {
    const bytes = EC_COORDINATE_BYTES[crv];
    return { kty, crv, x: coordinate(jwk, 'x', bytes), y: coordinate(jwk, 'y', bytes) };
  }
  if (kty === 'OKP' && crv === 'Ed25519') return { kty, crv, x: coordinate(jwk, 'x', 32) };
  return undefined;
}

/** The key if it can verify user tokens; undefined when it is not for us. Throws only on private material. */
function importUserJwk(jwk: unknown): UserVerificationKey | undefined {
  if (!isRecord(jwk)) return undefined;
  for (const member of PRIVATE_MEMBERS) {
    if (member in jwk) throw new TesseraError('ERR_JWK_PRIVATE', `member "${member}" is present`);
  }
  const { kid, use, key_ops: keyOps } = jwk;
  if (typeof kid !== 'string' || kid === '' || kid.length > MAX_KID_LENGTH) return undefined;
  // An encryption key, or one whose operations exclude verification, never verifies a token.
  if (use !== undefined && use !== 'sig') return undefined;
  if (keyOps !== undefined && !(Array.isArray(keyOps) && keyOps.includes('verify')))
    return undefined;
  let alg: UserTokenAlgorithm | undefined;
  if (jwk.alg !== undefined) {
    alg = userTokenAlgorithmOf(jwk.alg);
    if (alg === undefined) return undefined;
  }
  let key: KeyObject;
  try {
    const members = publicMembers(jwk);
    if (members === undefined) return undefined;
    // OpenSSL refuses EC points that are not on the curve here.
    key = createPublicKey({ key: members, format: 'jwk' });
  } catch {
    return undefined;
  }
  // The declared algorithm, or at least one algorithm, must fit: this also drops short RSA keys.
  const fits = alg === undefined ? USER_TOKEN_ALGORITHMS : [alg];
  if (!fits.some((candidate) => signatureLengthFor(candidate, key) !== undefined)) return undefined;
  return Object.freeze(alg === undefined ? { kid, key } : { kid, alg, key });
}

/**
 * Parses the JWKS of an external OpenID provider (object or JSON text) into the keys that can
 * verify its users' tokens. A provider's set is not Tessera's: it may hold encryption keys and key
 * types we do not use, so keys are skipped, not refused, when their `use` is not `sig`, their
 * `key_ops` exclude `verify`, they have no `kid`, their type or `alg` is not a user token algorithm,
 * their material is invalid, or they are RSA keys under 2048 bits. The whole set is refused when it
 * is not a JWKS (`ERR_JWKS_INVALID`, also beyond `MAX_JWKS_KEYS` keys), when any key carries
 * private material (`ERR_JWK_PRIVATE`), or when two usable keys share a `kid`
 * (`ERR_JWKS_DUPLICATE_KID`).
 */
export function parseUserJwks(input: unknown): KeySet<UserVerificationKey> {
  const keys = jwksKeys(input);
  const usable: UserVerificationKey[] = [];
  for (const jwk of keys) {
    const key = importUserJwk(jwk);
    if (key !== undefined) usable.push(key);
  }
  return new KeySet(usable);
}
