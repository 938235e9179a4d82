/**
 * @tessera/authority — the token issuer: OAuth 2.0 client credentials with `private_key_jwt`,
 * service registry, signing-key rotation, revocation (RFC 7009 + SSE feed), introspection
 * (RFC 7662), join tokens, and a hash-chained audit log, over SQLite or PostgreSQL.
 */
export {
  authorityConfigSchema,
  configDocument,
  MAX_WORKERS,
  validateConfig,
  type AuthorityConfig,
} from './config.ts';
export {
  prepareDevMode,
  DEFAULT_DATA_DIR,
  DEV_AUDIT_ANCHOR_FILE,
  DEV_TRUST_DOMAIN,
  type DevSetup,
} from './dev.ts';
export { createAuthorityLogger, REDACTED_PATHS } from './logger.ts';
export {
  startAuthority,
  initialiseAuthorityStore,
  openConfiguredStore,
  type RunningAuthority,
} from './start.ts';
export {
  isAuthorityWorker,
  runAuthorityWorker,
  startAuthorityCluster,
  type RunningCluster,
} from './cluster.ts';
export { createAuthorityContext, type AuthorityContextDeps } from './authority.ts';
export { buildAuthorityServer } from './server.ts';
export {
  ClientAuthenticationError,
  TOKEN_ENDPOINT_PATH,
  type AuthorityContext,
  type AuthorityKeys,
  type AuthorityPeers,
  type AuthoritySettings,
} from './context.ts';
export { KeyManager } from './keys/manager.ts';
export { parseKek, generateKek } from './keys/kek.ts';
export {
  verifyAuditChain,
  verifyStoreAuditChain,
  type AuditAnchor,
  type AuditChainFault,
  type AuditChainVerdict,
} from './audit/chain.ts';
export {
  AUDIT_HEAD_TYP,
  anchorAuditHead,
  auditAnchorKeys,
  loadAuditAnchorKeys,
  readSignedAuditHead,
  verifyAnchoredAuditChain,
  type AnchoredAuditVerdict,
  type SignedAuditHead,
} from './audit/anchor.ts';
export { openSqliteStore } from './store/sqlite.ts';
export { openPostgresStore } from './store/postgres.ts';
export type * from './store/types.ts';
