/**
 * @tessera/authority — the token issuer: OAuth 2.0 client credentials with `private_key_jwt`,
 * service registry, signing-key rotation, revocation (RFC 7009 + SSE feed), introspection
 * (RFC 7662), join tokens, and a hash-chained audit log, over SQLite or PostgreSQL.
 *
 * What a service embeds: configuration (validated once), `startAuthority` or
 * `startAuthorityCluster`, dev-mode setup, the logger with its redaction, the `Store` contract
 * with its SQLite and PostgreSQL implementations, and audit-chain verification. Routes, key
 * management and client authentication are wiring, reached only through these.
 */
export {
  authorityConfigSchema,
  configDocument,
  MAX_WORKERS,
  validateConfig,
  type AuthorityConfig,
  type AuthorityConfigFile,
} from './config.ts';
export {
  prepareDevMode,
  DEFAULT_DATA_DIR,
  DEV_AUDIT_ANCHOR_FILE,
  DEV_BUNDLE_FILE,
  DEV_TRUST_DOMAIN,
  type DevSetup,
} from './dev.ts';
export { createAuthorityLogger } from './logger.ts';
export { startAuthority, openConfiguredStore, type RunningAuthority } from './start.ts';
export {
  isAuthorityWorker,
  runAuthorityWorker,
  startAuthorityCluster,
  type RunningCluster,
} from './cluster.ts';
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
export { openSqliteStore, type SqliteStoreOptions } from './store/sqlite.ts';
export { openPostgresStore, type PostgresStoreOptions } from './store/postgres.ts';
export type {
  AuditEntry,
  AuditRecord,
  JoinTokenRecord,
  RevocationKind,
  RevocationRecord,
  ServiceRecord,
  SigningKeyRecord,
  SigningKeyState,
  Store,
} from './store/types.ts';
