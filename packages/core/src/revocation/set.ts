/**
 * What a verifier asks on every request, including cache hits: has this token (or client
 * certificate) been revoked, one by one (`jti`, serial number) or as part of everything a subject
 * was issued before some moment?
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
  /**
   * Revokes the X.509-SVID with this serial number (lower-case hex, as `parseX509Svid` gives it);
   * it may be forgotten after `expiresAt` (epoch seconds), the certificate's notAfter.
   */
  revokeCertificate(serialNumber: string, expiresAt: number): void;
  /**
   * True when the certificate `serialNumber` of `subject`, valid from `notBefore`, is revoked:
   * by its serial, or by a subject revocation whose cut-off is at or after `notBefore`.
   */
  isCertificateRevoked(serialNumber: string, subject: string, notBefore: number): boolean;
}
