import { createHash, timingSafeEqual } from 'node:crypto';
import { serializeDictionary } from 'structured-headers';
import { TesseraError } from '../errors.ts';
import { parseDictionaryField } from './structured-field.ts';

/** The RFC 9530 §5 digest algorithms Tessera creates and checks (both "standard" in the registry). */
export type DigestAlgorithm = 'sha-256' | 'sha-512';

const HASH: Readonly<Record<DigestAlgorithm, { readonly name: string; readonly length: number }>> =
  {
    'sha-256': { name: 'sha256', length: 32 },
    'sha-512': { name: 'sha512', length: 64 },
  };

// An honest Content-Digest holds a couple of digests; cap the parsing work per request.
const MAX_FIELD_LENGTH = 4096;

function isDigestAlgorithm(value: string): value is DigestAlgorithm {
  return Object.hasOwn(HASH, value);
}

function digest(alg: DigestAlgorithm, body: Uint8Array | string): Buffer {
  return createHash(HASH[alg].name)
    .update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body)
    .digest();
}

/**
 * The `Content-Digest` field value (RFC 9530 §2) for `body` (a string is hashed as UTF-8).
 *
 * @example
 * ```ts
 * createContentDigest('{"hello": "world"}', 'sha-512');
 * // 'sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:'
 * ```
 */
export function createContentDigest(
  body: Uint8Array | string,
  alg: DigestAlgorithm = 'sha-256',
): string {
  if (!isDigestAlgorithm(alg)) {
    throw new TesseraError('ERR_CONFIG_INVALID', 'unsupported digest algorithm');
  }
  return serializeDictionary(new Map([[alg, [digest(alg, body), new Map()]]]));
}

/**
 * Checks `body` against a received `Content-Digest` field value (RFC 9530 §2, §3).
 *
 * Algorithms other than sha-256 and sha-512 are ignored, as §2 asks, but at least one of those
 * two must be present, and every one present must match: a sender cannot pass by adding a
 * correct digest beside a wrong one. Throws `ERR_DIGEST_MISSING` (no field, or no supported
 * algorithm), `ERR_DIGEST_MALFORMED` (not a Dictionary, duplicate keys, a supported digest that
 * is not a byte sequence of the right length) or `ERR_DIGEST_MISMATCH`.
 */
export function verifyContentDigest(
  fieldValue: string | readonly string[] | undefined,
  body: Uint8Array | string,
): void {
  // RFC 8941 §4.2: a Dictionary split over several field lines is parsed as one, joined by ",".
  const value = typeof fieldValue === 'string' ? fieldValue : fieldValue?.join(', ');
  if (value === undefined || value.trim() === '') throw new TesseraError('ERR_DIGEST_MISSING');
  if (value.length > MAX_FIELD_LENGTH) {
    throw new TesseraError('ERR_DIGEST_MALFORMED', 'field is too long');
  }
  if (!/^[\t\x20-\x7e]*$/.test(value)) {
    throw new TesseraError('ERR_DIGEST_MALFORMED', 'field has characters outside visible ASCII');
  }
  const members = parseDictionaryField(value.trim(), 'ERR_DIGEST_MALFORMED', 'Content-Digest');
  let checked = 0;
  for (const [alg, member] of members) {
    if (!isDigestAlgorithm(alg)) continue;
    if (member.kind !== 'item' || member.value.type !== 'bytes') {
      throw new TesseraError('ERR_DIGEST_MALFORMED', `${alg} is not a byte sequence`);
    }
    const received = member.value.value;
    if (received.length !== HASH[alg].length) {
      throw new TesseraError('ERR_DIGEST_MALFORMED', `${alg} has the wrong length`);
    }
    if (!timingSafeEqual(digest(alg, body), received)) {
      throw new TesseraError('ERR_DIGEST_MISMATCH', `${alg} does not match`);
    }
    checked++;
  }
  if (checked === 0) throw new TesseraError('ERR_DIGEST_MISSING', 'no sha-256 or sha-512 digest');
}
