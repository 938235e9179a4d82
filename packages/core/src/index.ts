/**
 * @tessera/core — pure logic, no I/O: SPIFFE IDs, keys and JWKS, access token minting and
 * verification, the verified-token cache, revocation sets, policy evaluation, RFC 9421 message
 * signatures with RFC 9530 content digests, and the closed set of error codes.
 */
export {
  httpStatusFor,
  describeError,
  isTesseraError,
  publicErrorBody,
  type TesseraErrorCode,
  TESSERA_ERROR_CODES,
  TesseraError,
} from './errors.ts';
export { epochSeconds, type Clock, systemClock } from './clock.ts';
export {
  assertTrustDomain,
  parseSpiffeId,
  parseWorkloadId,
  isSpiffeId,
  formatSpiffeId,
  serviceSpiffeId,
  type SpiffeId,
  MAX_SPIFFE_ID_LENGTH,
  MAX_TRUST_DOMAIN_LENGTH,
} from './spiffe/id.ts';
export {
  isSigningAlgorithm,
  signingAlgorithmOf,
  type SigningAlgorithm,
  SIGNING_ALGORITHMS,
} from './keys/algorithms.ts';
export { jwkThumbprint } from './keys/thumbprint.ts';
export {
  generateSigningKey,
  signingKeyFromPrivateKey,
  exportPublicJwk,
  importPublicJwk,
  type VerificationKey,
  type SigningKey,
  type PublicJwk,
} from './keys/jwk.ts';
export {
  DEFAULT_USER_TOKEN_ALGORITHMS,
  type UserTokenAlgorithm,
  USER_TOKEN_ALGORITHMS,
} from './keys/user-algorithms.ts';
export { parseUserJwks, type UserVerificationKey } from './keys/user-jwks.ts';
export {
  parseJwks,
  buildJwks,
  type KeyResolver,
  type Jwks,
  MAX_JWKS_KEYS,
  KeySet,
} from './keys/jwks.ts';
export type {
  ServiceCaller,
  DelegatedCaller,
  UserCaller,
  WorkloadCaller,
  Caller,
} from './token/caller.ts';
export {
  createUserTokenVerifier,
  type UserTokenVerifier,
  type UserTokenVerifierOptions,
} from './token/user-token.ts';
export {
  type AccessTokenClaims,
  type ActorClaim,
  ACCESS_TOKEN_TYP,
  DEFAULT_TOKEN_LIFETIME_SECONDS,
  MAX_TOKEN_LIFETIME_SECONDS,
} from './token/claims.ts';
export { isScopeToken, parseScope } from './token/scope.ts';
export {
  parsePayloadObject,
  signCompactJws,
  verifyCompactJws,
  verifyRawSignature,
  DEFAULT_MAX_TOKEN_BYTES,
  type JwsHeader,
  type VerifiedJws,
} from './token/jws.ts';
export {
  mintAccessToken,
  type MintAccessTokenInput,
  type MintedAccessToken,
} from './token/mint.ts';
export {
  mintClientAssertion,
  JWT_BEARER_ASSERTION_TYPE,
  DEFAULT_ASSERTION_LIFETIME_SECONDS,
} from './token/client-assertion.ts';
export {
  CACHE_ENTRY_OVERHEAD_BYTES,
  type VerifiedTokenCacheOptions,
  type CachedVerification,
  VerifiedTokenCache,
} from './token/cache.ts';
export {
  createVerifier,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  MAX_CLOCK_TOLERANCE_SECONDS,
  MAX_ACTOR_CHAIN,
  type VerifierOptions,
  type AccessTokenVerifier,
} from './token/verify.ts';
export type { RevocationSet } from './revocation/set.ts';
export { type MemoryRevocationSetOptions, MemoryRevocationSet } from './revocation/memory.ts';
export {
  parsePolicy,
  compilePolicy,
  evaluate,
  isPublicRoute,
  admitsUsers,
  routesOf,
  type RouteParams,
  policySchema,
  HTTP_METHODS,
  DELEGATION_MODES,
  USER_MODES,
  type PolicyDocument,
  type HttpMethod,
  type DelegationMode,
  type UserMode,
  MAX_POLICY_BYTES,
  MAX_POLICY_NESTING,
  MAX_YAML_ALIASES,
  type PolicyFormat,
  POLICY_DENY_CODES,
  type Policy,
  type PolicyService,
  type PolicyRoute,
  type PolicyAllowEntry,
  type PolicyUsersEntry,
  type PolicyTenantRule,
  type PolicyDecision,
  type PolicyAllow,
  type PolicyDeny,
  type PolicyDenyCode,
} from './policy/index.ts';
export {
  createSignatureBase,
  type SignatureParameterName,
  type SignatureParameters,
} from './http-signature/base.ts';
export {
  SIGNATURE_ALGORITHMS,
  type SignatureAlgorithm,
  type SignatureKey,
  DERIVED_COMPONENTS,
  type SignableRequest,
  createContentDigest,
  verifyContentDigest,
  type DigestAlgorithm,
  MemoryReplayCache,
  type MemoryReplayCacheOptions,
  type ReplayCache,
  generateNonce,
  signRequest,
  type SignatureFields,
  type SignRequestOptions,
  createRequestSignatureVerifier,
  verifyRequestSignature,
  type RequestSignatureVerifier,
  type VerifiedSignature,
  type VerifyRequestSignatureOptions,
} from './http-signature/index.ts';
export {
  useRequestContext,
  requestContextWanted,
  parseTraceparent,
  formatTraceparent,
  newSpanId,
  traceContextFromHeaders,
  type TraceContext,
  type RequestContext,
  requestContext,
  type ParsedTraceparent,
} from './trace/trace-context.ts';
export { assertSecureUrl, isLoopbackHost } from './net/secure-url.ts';
export { SPOOFABLE_HEADERS } from './net/spoofable-headers.ts';
export {
  pemEncode,
  pemDecodeAll,
  type CertificateKeyType,
  issueCertificate,
  type CertificateTemplate,
  type CertificateProfile,
  createCertificationRequest,
  parseCertificationRequest,
  type CertificationRequestKey,
  MAX_CSR_PEM_BYTES,
  parseX509Svid,
  certificateThumbprint,
  expectPeerSpiffeId,
  type X509SvidInfo,
  issueCertificateRevocationList,
  type RevocationListTemplate,
  type RevokedSerial,
  createLeafIssuer,
  type LeafIssuer,
  type LeafRequest,
} from './x509/index.ts';
