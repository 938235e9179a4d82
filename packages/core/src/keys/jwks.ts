import { TesseraError } from '../errors.ts';
import { importPublicJwk, type PublicJwk, type VerificationKey } from './jwk.ts';

/** Resolves the verification key for a `kid`. Implemented by {@link KeySet}; remote JWKS caches implement it too. */
export interface KeyResolver<K = VerificationKey> {
  get(kid: string): K | undefined;
}

/** A JWKS document (RFC 7517 §5). */
export interface Jwks {
  readonly keys: readonly PublicJwk[];
}

/** A JWKS larger than this is refused: no legitimate trust domain publishes that many keys. */
export const MAX_JWKS_KEYS = 100;

/**
 * An immutable set of verification keys indexed by `kid`: Tessera's keys, or (from
 * `parseUserJwks`) an external OpenID provider's.
 */
export class KeySet<
  K extends { readonly kid: string } = VerificationKey,
> implements KeyResolver<K> {
  readonly #byKid: ReadonlyMap<string, K>;

  constructor(keys: Iterable<K>) {
    const byKid = new Map<string, K>();
    for (const key of keys) {
      if (byKid.has(key.kid)) throw new TesseraError('ERR_JWKS_DUPLICATE_KID', `kid "${key.kid}"`);
      byKid.set(key.kid, key);
    }
    this.#byKid = byKid;
  }

  get(kid: string): K | undefined {
    return this.#byKid.get(kid);
  }

  get size(): number {
    return this.#byKid.size;
  }

  kids(): string[] {
    return [...this.#byKid.keys()];
  }
}

/**
 * The `keys` array of a JWKS given as an object or JSON text, at most {@link MAX_JWKS_KEYS} of
 * them; `ERR_JWKS_INVALID` when it is not one. The members are not looked at.
 */
export function jwksKeys(input: unknown): unknown[] {
  let document = input;
  if (typeof input === 'string') {
    try {
      document = JSON.parse(input);
    } catch {
      throw new TesseraError('ERR_JWKS_INVALID', 'not JSON');
    }
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new TesseraError('ERR_JWKS_INVALID', 'not a JSON object');
  }
  const keys = (document as { keys?: unknown }).keys;
  if (!Array.isArray(keys)) throw new TesseraError('ERR_JWKS_INVALID', '"keys" is not an array');
  if (keys.length > MAX_JWKS_KEYS) throw new TesseraError('ERR_JWKS_INVALID', 'too many keys');
  return keys;
}

/**
 * Parses a JWKS (object or JSON text) into a {@link KeySet}. The whole set is refused when any
 * key is private (`ERR_JWK_PRIVATE`), unsupported (`ERR_JWK_UNSUPPORTED`) or invalid, when two
 * keys share a `kid` (`ERR_JWKS_DUPLICATE_KID`: which one would verify would be up to ordering),
 * or when a key has no `kid` (`ERR_JWKS_INVALID`).
 */
export function parseJwks(input: unknown): KeySet {
  const keys = jwksKeys(input);
  return new KeySet(
    keys.map((jwk: unknown) => {
      if (
        typeof jwk === 'object' &&
        jwk !== null &&
        typeof (jwk as { kid?: unknown }).kid !== 'string'
      ) {
        throw new TesseraError('ERR_JWKS_INVALID', 'a key has no "kid"');
      }
      return importPublicJwk(jwk);
    }),
  );
}

/** Builds the JWKS document that publishes the given public keys. */
export function buildJwks(keys: readonly { readonly publicJwk: PublicJwk }[]): Jwks {
  const seen = new Set<string>();
  for (const { publicJwk } of keys) {
    if (seen.has(publicJwk.kid))
      throw new TesseraError('ERR_JWKS_DUPLICATE_KID', `kid "${publicJwk.kid}"`);
    seen.add(publicJwk.kid);
  }
  return { keys: keys.map((k) => k.publicJwk) };
}
