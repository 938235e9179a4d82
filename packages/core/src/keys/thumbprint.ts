import { createHash } from 'node:crypto';
import { TesseraError } from '../errors.ts';

/**
 * The members RFC 7638 §3.2 hashes for each key type, in the lexicographic order §3.3 requires.
 * RSA is listed only so the RFC's own example (§3.1) can be checked; Tessera does not use RSA.
 */
const REQUIRED_MEMBERS: Record<string, readonly string[]> = {
  EC: ['crv', 'kty', 'x', 'y'],
  OKP: ['crv', 'kty', 'x'],
  RSA: ['e', 'kty', 'n'],
};

/**
 * The RFC 7638 JWK thumbprint (SHA-256, base64url): a key's `kid` derived from the key itself,
 * so a `kid` can never point at a different key than the one it names.
 */
export function jwkThumbprint(jwk: Readonly<Record<string, unknown>>): string {
  const kty = jwk.kty;
  const members = typeof kty === 'string' ? REQUIRED_MEMBERS[kty] : undefined;
  if (members === undefined)
    throw new TesseraError('ERR_JWK_UNSUPPORTED', 'no thumbprint for this kty');
  const canonical: Record<string, string> = {};
  for (const name of members) {
    const value = jwk[name];
    if (typeof value !== 'string')
      throw new TesseraError('ERR_JWK_INVALID', `member "${name}" is missing`);
    canonical[name] = value;
  }
  // JSON.stringify of string members in insertion order is exactly §3.3's form: no whitespace,
  // members in the order given above.
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url');
}
