/**
 * @tessera/fastify — the inbound side: one plugin registration authenticates, authorizes,
 * rate-limits and audits every request a Fastify service receives.
 */
export {
  tessera,
  DEFAULT_SPOOFABLE_HEADERS,
  type MtlsOptions,
  type RateLimitOptions,
  type TesseraPluginOptions,
  type TesseraRuntime,
  type UsersOptions,
} from './plugin.ts';
export type { AuthorityCredentials } from './authority-credentials.ts';
export type { RateLimiter, RedisClientLike, RedisUnavailableMode } from './rate-limit.ts';
export type { VerificationFailureBudget } from './failure-budget.ts';
export type { AuditSink } from './audit-event.ts';
export { RemoteJwks, type RemoteJwksOptions } from './remote-jwks.ts';
export { RevocationSync, type RevocationSyncOptions } from './revocation-sync.ts';
export { parseAllowlist, isAllowedAddress } from './ip-allowlist.ts';
export {
  auditFileDestination,
  type AuditFileDestination,
  type AuditFileDestinationOptions,
} from './audit-destination.ts';
export {
  tesseraHttpsOptions,
  type TesseraHttpsOptions,
  type TlsIdentityMaterial,
  type TlsServerOptionsSource,
} from './https-options.ts';
export type { ForwardedClientCertOptions } from './forwarded-client-cert.ts';
