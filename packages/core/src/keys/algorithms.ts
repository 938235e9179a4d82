/**
 * The JWS algorithms Tessera signs and verifies access tokens with. Deliberately closed: no
 * `none`, no HMAC (a shared secret would let every verifier mint tokens), no RSA.
 */
export type SigningAlgorithm = 'ES256' | 'EdDSA';

export const SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = Object.freeze(['ES256', 'EdDSA']);

export function isSigningAlgorithm(value: unknown): value is SigningAlgorithm {
  return value === 'ES256' || value === 'EdDSA';
}

/**
 * The algorithm a JWS `alg` header names, accepting RFC 9864's fully-specified `Ed25519` as
 * the same thing as `EdDSA` over Ed25519 (the only EdDSA curve Tessera accepts). Clients such as
 * oauth4webapi already send it. Anything else is undefined.
 */
export function signingAlgorithmOf(value: unknown): SigningAlgorithm | undefined {
  if (value === 'Ed25519') return 'EdDSA';
  return isSigningAlgorithm(value) ? value : undefined;
}
