/**
 * What a verifier asks on every request, including cache hits: has this token been revoked,
 * one by one (`jti`) or as part of everything a subject was issued before some moment?
 *
 * Synchronous on purpose: it sits on the hot path. Implementations backed by a remote store
 * (the authority's revocation feed, Redis) keep a local mirror and answer from it.
 */
export interface RevocationSet {
  /** Revokes the token `jti`; it may be forgotten after `expiresAt` (epoch seconds), when it would be refused anyway. */
  revokeToken(jti: string, expiresAt: number): void;
  /**
   * Revokes every token of `subject` issued at or before `issuedAtOrBefore` (epoch seconds);
   * it may be forgotten after `until`, the latest expiry any such token can have.
   */
  revokeSubject(subject: string, issuedAtOrBefore: number, until: number): void;
  /** True when the token `jti` of `subject`, issued at `issuedAt`, is revoked. */
  isRevoked(jti: string, subject: string, issuedAt: number): boolean;
}
