/**
 * HTTP Message Signatures (RFC 9421) for requests, with Content-Digest (RFC 9530) for bodies.
 */
export { SIGNATURE_ALGORITHMS, type SignatureAlgorithm, type SignatureKey } from './algorithms.ts';
export { DERIVED_COMPONENTS, type SignableRequest } from './components.ts';
export { createContentDigest, verifyContentDigest, type DigestAlgorithm } from './digest.ts';
export {
  MemoryReplayCache,
  type MemoryReplayCacheOptions,
  type ReplayCache,
} from './replay-cache.ts';
export {
  generateNonce,
  signRequest,
  type SignatureFields,
  type SignRequestOptions,
} from './sign.ts';
export {
  createRequestSignatureVerifier,
  verifyRequestSignature,
  type RequestSignatureVerifier,
  type VerifiedSignature,
  type VerifyRequestSignatureOptions,
} from './verify.ts';
