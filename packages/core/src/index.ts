/**
 * @tessera/core — pure logic, no I/O: SPIFFE IDs, keys and JWKS, access token minting and
 * verification, the verified-token cache, revocation sets, policy evaluation, RFC 9421 message
 * signatures with RFC 9530 content digests, and the closed set of error codes.
 */
export * from './errors.ts';
export * from './clock.ts';
export * from './spiffe/id.ts';
export * from './keys/algorithms.ts';
export * from './keys/thumbprint.ts';
export * from './keys/jwk.ts';
export * from './keys/jwks.ts';
export type * from './token/caller.ts';
export * from './token/claims.ts';
export * from './token/scope.ts';
export {
  parsePayloadObject,
  signCompactJws,
  verifyCompactJws,
  verifyRawSignature,
  DEFAULT_MAX_TOKEN_BYTES,
  type JwsHeader,
  type VerifiedJws,
} from './token/jws.ts';
export * from './token/mint.ts';
export * from './token/client-assertion.ts';
export * from './token/cache.ts';
export * from './token/verify.ts';
export type * from './revocation/set.ts';
export * from './revocation/memory.ts';
export * from './policy/index.ts';
export * from './http-signature/index.ts';
export * from './trace/trace-context.ts';
export { assertSecureUrl, isLoopbackHost } from './net/secure-url.ts';
