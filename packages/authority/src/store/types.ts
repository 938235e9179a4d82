import type { Jwks, PublicJwk, SigningAlgorithm } from '@tessera/core';

/**
 * What the authority persists, and nothing more: the registry, its own signing keys (private
 * parts encrypted), what replay protection and revocation need until it expires, single-use join
 * tokens, and the hash-chained audit log. Issued tokens themselves are never stored.
 *
 * Times: `*At` fields ending in `Ms` are milliseconds since the epoch; token-related times
 * (`expiresAt`, `issuedAtOrBefore`) are whole seconds, like JWT NumericDates.
 */

/** What a service may ask for one audience: tokens for it, with at most these scopes. */
export interface AudienceGrant {
  /** The target's SPIFFE ID. */
  readonly audience: string;
  /** Scopes granted for this audience only; may be empty. */
  readonly scopes: readonly string[];
}

/** Client authentication methods of the token endpoint (RFC 7523 §2.2, RFC 8705 §2.1.2). */
export type TokenEndpointAuthMethod = 'private_key_jwt' | 'tls_client_auth';

export const TOKEN_ENDPOINT_AUTH_METHODS: readonly TokenEndpointAuthMethod[] = Object.freeze([
  'private_key_jwt',
  'tls_client_auth',
]);

export interface ServiceRecord {
  /** Service name: one SPIFFE path segment. Primary key. */
  readonly name: string;
  readonly spiffeId: string;
  readonly enabled: boolean;
  /**
   * The audiences this service may request tokens for, each with its own scopes, so a scope
   * granted for one audience never appears in a token for another. One entry per audience.
   */
  readonly grants: readonly AudienceGrant[];
  /** Public keys the service authenticates with (`private_key_jwt`). */
  readonly jwks: Jwks;
  /**
   * The one client authentication method the token, revocation and introspection endpoints
   * accept from this service (RFC 7591 `token_endpoint_auth_method`). Absent: `private_key_jwt`,
   * and `tls_client_auth` when the request comes over mTLS with the service's SVID.
   */
  readonly tokenEndpointAuthMethod?: TokenEndpointAuthMethod;
  /**
   * As an audience: tokens for this service are always bound to the caller's client certificate
   * (RFC 8705 `cnf.x5t#S256`), so a token request for it must come over mTLS. Absent: false.
   */
  readonly boundTokens?: boolean;
  /**
   * Host names and IP addresses its X.509-SVIDs carry as DNS/IP SANs next to the SPIFFE ID, so
   * hostname checks of ordinary TLS clients (curl, openssl) pass. Absent or empty: none.
   */
  readonly hosts?: readonly string[];
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
}

/** `next`: published, not signing yet; `active`: signs; `retired`: published until `publishUntilMs`; `revoked`: withdrawn at once. */
export type SigningKeyState = 'next' | 'active' | 'retired' | 'revoked';

export interface SigningKeyRecord {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly state: SigningKeyState;
  readonly publicJwk: PublicJwk;
  /** AES-256-GCM ciphertext of the PKCS#8 private key under the key-encryption key (opaque here). */
  readonly encryptedPrivateKey: string;
  readonly createdAtMs: number;
  /** When it starts (or started) signing. */
  readonly activatesAtMs: number;
  readonly retiredAtMs: number | null;
  /** After this, the key is no longer published in the JWKS. */
  readonly publishUntilMs: number | null;
}

/**
 * `jti`: one token. `subject`: every token of a subject issued at or before a moment (and every
 * X.509-SVID of it with `notBefore` at or before it). `kid`: every token signed by a withdrawn
 * signing key (`keys rotate --revoke-previous`). `svid`: one X.509-SVID, by serial (lower-case
 * hex), until its `notAfter`.
 */
export type RevocationKind = 'jti' | 'subject' | 'kid' | 'svid';

export interface RevocationRecord {
  /** Monotonic cursor for `GET /v1/revocations?since=`. */
  readonly id: number;
  readonly kind: RevocationKind;
  /** The `jti`, the subject's SPIFFE ID / user id, the withdrawn key's `kid`, or the SVID serial. */
  readonly value: string;
  /** For `subject`: tokens issued at or before this second are revoked. */
  readonly issuedAtOrBefore: number | null;
  /** Seconds: after this, every token the entry covers has expired and the entry may go. */
  readonly expiresAt: number;
  readonly createdAtMs: number;
}

export interface JoinTokenRecord {
  readonly id: string;
  /** SHA-256 (hex) of the token; the token itself is never stored. */
  readonly tokenHash: string;
  readonly serviceName: string;
  readonly createdAtMs: number;
  readonly expiresAtMs: number;
  readonly usedAtMs: number | null;
}

/**
 * A certificate authority of the trust domain: `next` (in the bundle, not signing yet),
 * `active` (signs X.509-SVIDs), `retired` (in the bundle until `publishUntilMs`, when the last
 * certificate it signed has expired).
 */
export type CaState = 'next' | 'active' | 'retired';

export interface CaRecord {
  /** The certificate's `x5t#S256` thumbprint. */
  readonly id: string;
  readonly state: CaState;
  /** The CA certificate (PEM). */
  readonly certificatePem: string;
  /** The certificates above it, up to the operator's root (PEM, in order); empty when self-signed. */
  readonly parentsPem: string;
  /** AES-256-GCM ciphertext of the PKCS#8 private key under the key-encryption key. */
  readonly encryptedPrivateKey: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  readonly createdAtMs: number;
  /** When it starts (or started) signing. */
  readonly activatesAtMs: number;
  readonly retiredAtMs: number | null;
  /** Retired CAs: after this it leaves the bundle. */
  readonly publishUntilMs: number | null;
}

/** An X.509-SVID the authority issued, kept until it expires (revocation, CRL, CA retention). */
export interface IssuedSvidRecord {
  /** Lower-case hex without leading zero octets, as `parseX509Svid` reads it. */
  readonly serialNumber: string;
  /** The CA that signed it. */
  readonly caId: string;
  readonly serviceName: string;
  readonly spiffeId: string;
  readonly issuedAtMs: number;
  readonly notAfterMs: number;
  readonly revokedAtMs: number | null;
}

export interface AuditEntry {
  readonly atMs: number;
  /** e.g. `token.issued`, `client_auth.failed`, `service.registered`, `key.rotated`, `revocation.added`. */
  readonly type: string;
  /** Who did it: a SPIFFE ID, `admin`, or `system`. */
  readonly actor: string;
  /** Event details. Never a token, assertion, key or secret. */
  readonly data: Readonly<Record<string, unknown>>;
}

export interface AuditRecord extends AuditEntry {
  /** 1, 2, 3, ... with no gaps. */
  readonly seq: number;
  /** `hash` of the previous record (64 zeros for the first). */
  readonly prevHash: string;
  /** SHA-256 hex over prevHash and the canonical form of (seq, atMs, type, actor, data). */
  readonly hash: string;
}

/**
 * The authority's persistence. Two implementations share one Kysely migration set: SQLite
 * (embedded default) and PostgreSQL (HA). Both run the same contract suite
 * (`storeContract` in `@tessera/authority/testing`).
 */
export interface Store {
  readonly dialect: 'sqlite' | 'postgres';

  /** Creates or replaces a service record (matched on `name`). */
  upsertService(record: ServiceRecord): Promise<void>;
  getService(name: string): Promise<ServiceRecord | undefined>;
  /** All services, in name order. */
  listServices(): Promise<ServiceRecord[]>;
  /** Returns false when no such service exists. */
  setServiceEnabled(name: string, enabled: boolean, atMs: number): Promise<boolean>;
  /**
   * Compare-and-set of a service's client keys (key rotation): replaces `jwks` with `next` and
   * `updatedAtMs` with `atMs` only while the stored key set is still `expected` (as read). Returns
   * false when the service is gone or its keys changed meanwhile, so two concurrent changes never
   * silently drop one another's keys.
   */
  replaceServiceJwks(name: string, expected: Jwks, next: Jwks, atMs: number): Promise<boolean>;

  insertSigningKey(record: SigningKeyRecord): Promise<void>;
  updateSigningKey(
    kid: string,
    patch: Partial<
      Pick<SigningKeyRecord, 'state' | 'activatesAtMs' | 'retiredAtMs' | 'publishUntilMs'>
    >,
  ): Promise<void>;
  /** All signing keys, oldest first (`createdAtMs`, then `kid`). */
  listSigningKeys(): Promise<SigningKeyRecord[]>;

  /**
   * Atomically records a client assertion `key` (client_id + jti) until `expiresAt` (seconds).
   * Returns true on first use, false when it was already recorded and has not expired: a replay.
   * A record counts as expired, and is replaced, once the store's clock reaches its `expiresAt`.
   */
  rememberAssertion(key: string, expiresAt: number): Promise<boolean>;

  addRevocation(record: Omit<RevocationRecord, 'id'>): Promise<RevocationRecord>;
  /** Revocations with `id > sinceId` that have not expired at `nowSeconds`, in id order. */
  listRevocations(sinceId: number, nowSeconds: number): Promise<RevocationRecord[]>;

  insertJoinToken(record: JoinTokenRecord): Promise<void>;
  /**
   * Atomically marks the unused, unexpired join token with this hash as used and returns it;
   * undefined when there is none (unknown, used or expired). Single use under concurrency.
   */
  consumeJoinToken(tokenHash: string, nowMs: number): Promise<JoinTokenRecord | undefined>;

  /**
   * Appends an audit record, computing `seq`, `prevHash` and `hash` inside one transaction so
   * concurrent appends (also from several authority instances on PostgreSQL) keep one chain.
   */
  appendAudit(entry: AuditEntry): Promise<AuditRecord>;
  /** Records with `seq > afterSeq`, ascending, at most `limit`. */
  listAudit(afterSeq: number, limit: number): Promise<AuditRecord[]>;
  /** The last record of the audit log (the chain head), undefined while the log is empty. */
  auditHead(): Promise<AuditRecord | undefined>;
  /**
   * Audit retention. Deletes the run of records at the start of the log whose `atMs` is before
   * `beforeMs` (at most `maxRecords`, default and maximum 10,000), having first appended, in the
   * same transaction, a checkpoint record (type `audit.checkpoint`, actor `system`, at `atMs`)
   * whose data carries `prunedThroughSeq` and `prunedThroughHash`: the seq and hash of the last
   * record deleted, which the first record left names as its `prevHash`. Verification starts
   * from there. Returns the checkpoint, or undefined when no record was old enough.
   */
  pruneAudit(beforeMs: number, atMs: number, maxRecords?: number): Promise<AuditRecord | undefined>;

  insertCa(record: CaRecord): Promise<void>;
  updateCa(
    id: string,
    patch: Partial<Pick<CaRecord, 'state' | 'activatesAtMs' | 'retiredAtMs' | 'publishUntilMs'>>,
  ): Promise<void>;
  /** All CA records, oldest first (`createdAtMs`, then `id`). */
  listCas(): Promise<CaRecord[]>;

  recordSvid(record: IssuedSvidRecord): Promise<void>;
  getSvid(serialNumber: string): Promise<IssuedSvidRecord | undefined>;
  /**
   * Marks an issued SVID revoked at `atMs` (the first revocation time stays) and returns it;
   * undefined when no unexpired SVID has this serial.
   */
  revokeSvid(serialNumber: string, atMs: number): Promise<IssuedSvidRecord | undefined>;
  /**
   * Marks revoked at `atMs` every unexpired, not yet revoked SVID issued to `spiffeId` at or
   * before `atMs` (a disabled or revoked service). Returns how many.
   */
  revokeSvidsOf(spiffeId: string, atMs: number): Promise<number>;
  /** Revoked SVIDs signed by `caId` that have not expired at `nowMs`, in serial order. */
  listRevokedSvids(caId: string, nowMs: number): Promise<IssuedSvidRecord[]>;
  /** The latest `notAfterMs` of the SVIDs `caId` signed that are still kept; null when none. */
  latestSvidExpiry(caId: string): Promise<number | null>;
  /**
   * The SPIFFE bundle's `spiffe_sequence` for a bundle whose content hashes to `digest`: the
   * stored sequence when the stored digest is the same, else one more (stored with `digest`).
   * Shared by every instance, so the sequence only moves forward.
   */
  bundleSequence(digest: string): Promise<number>;

  /** Deletes expired assertions, revocations, join tokens and SVID records. Returns how many rows went. */
  purgeExpired(nowMs: number): Promise<number>;
  /** Throws when the store cannot be reached (used by `/readyz`). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
