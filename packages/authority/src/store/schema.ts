import type { ColumnType, GeneratedAlways } from 'kysely';

/**
 * The store's tables as Kysely sees them. One schema for SQLite and PostgreSQL, so it keeps to
 * what both share: times are 64-bit integers, JSON is text, booleans are 0/1 integers.
 *
 * A 64-bit column may come back as a number (better-sqlite3, or `pg` with Tessera's int8 parser)
 * or as a decimal string (`pg`'s default for int8), so its select type says so and every read goes
 * through `toSafeInteger` in `kysely-store.ts`.
 */
export type Int8 = ColumnType<number | string | bigint, number, number>;
/** A nullable 64-bit column. */
export type NullableInt8 = ColumnType<
  number | string | bigint | null,
  number | null,
  number | null
>;

export interface ServicesTable {
  name: string;
  spiffe_id: string;
  /** 1 or 0. */
  enabled: ColumnType<number, number, number>;
  /** JSON array of `{ audience, scopes }` (migration 0002; it replaced `audiences` and `scopes`). */
  grants: string;
  /** JSON JWKS document. */
  jwks: string;
  /** `private_key_jwt`, `tls_client_auth`, or null for either (migration 0005). */
  token_endpoint_auth_method: ColumnType<string | null, string | null | undefined, string | null>;
  /** 1 when tokens for this audience are always certificate-bound (migration 0005). */
  bound_tokens: ColumnType<number, number | undefined, number>;
  /** JSON array of host names / IP addresses (migration 0004). */
  hosts: ColumnType<string, string | undefined, string>;
  created_at_ms: Int8;
  updated_at_ms: Int8;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  state: string;
  /** JSON public JWK. */
  public_jwk: string;
  encrypted_private_key: string;
  created_at_ms: Int8;
  activates_at_ms: Int8;
  retired_at_ms: NullableInt8;
  publish_until_ms: NullableInt8;
}

export interface UsedAssertionsTable {
  key: string;
  /** Seconds. */
  expires_at: Int8;
}

export interface RevocationsTable {
  /** Assigned by the database, never reused: it is the revocation feed's cursor. */
  id: GeneratedAlways<number | string | bigint>;
  kind: string;
  value: string;
  /** Seconds. */
  issued_at_or_before: NullableInt8;
  /** Seconds. */
  expires_at: Int8;
  created_at_ms: Int8;
}

export interface JoinTokensTable {
  id: string;
  token_hash: string;
  service_name: string;
  created_at_ms: Int8;
  expires_at_ms: Int8;
  used_at_ms: NullableInt8;
}

export interface AuditLogTable {
  seq: Int8;
  at_ms: Int8;
  type: string;
  actor: string;
  /** Canonical JSON (see `canonicalJson` in `audit/chain.ts`). */
  data: string;
  prev_hash: string;
  hash: string;
}

export interface CertificateAuthoritiesTable {
  id: string;
  state: string;
  certificate_pem: string;
  parents_pem: string;
  encrypted_private_key: string;
  not_before_ms: Int8;
  not_after_ms: Int8;
  created_at_ms: Int8;
  activates_at_ms: Int8;
  retired_at_ms: NullableInt8;
  publish_until_ms: NullableInt8;
}

export interface IssuedSvidsTable {
  serial_number: string;
  ca_id: string;
  service_name: string;
  spiffe_id: string;
  issued_at_ms: Int8;
  not_after_ms: Int8;
  revoked_at_ms: NullableInt8;
}

export interface BundleSequenceTable {
  /** Always 1: one row. */
  id: number;
  sequence: Int8;
  digest: string;
}

export interface Database {
  services: ServicesTable;
  signing_keys: SigningKeysTable;
  used_assertions: UsedAssertionsTable;
  revocations: RevocationsTable;
  join_tokens: JoinTokensTable;
  audit_log: AuditLogTable;
  certificate_authorities: CertificateAuthoritiesTable;
  issued_svids: IssuedSvidsTable;
  bundle_sequence: BundleSequenceTable;
}
