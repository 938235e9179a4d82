/**
 * The JWS algorithms Tessera signs and verifies access tokens with. Deliberately closed: no
 * `none`, no HMAC (a shared secret would let every verifier mint tokens), no RSA.
 */
export type SigningAlgorithm = 'ES256' | 'EdDSA';

export const SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = Object.freeze(['ES256', 'EdDSA']);

export function isSigningAlgorithm(value: unknown): value is SigningAlgorithm {
  return value === 'ES256' || value === 'EdDSA';
}
