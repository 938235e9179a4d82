import type { Clock } from '../clock.ts';
import { TesseraError } from '../errors.ts';
import type { RevocationSet } from './set.ts';

export interface MemoryRevocationSetOptions {
  readonly clock: Clock;
  /**
   * Seconds an entry is kept after the tokens it covers expired, so a verifier whose clock
   * tolerance lets a just-expired token through still sees the revocation. Default 60 (above
   * the 30 s maximum verifier tolerance).
   */
  readonly graceSeconds?: number;
}

interface SubjectEntry {
  issuedAtOrBefore: number;
  until: number;
}

/**
 * An in-process {@link RevocationSet}. Entries are forgotten once every token they cover has
 * expired, so its size is bounded by the revocations of the last token lifetime (≤ 1 h).
 * Expired entries are swept at most once per second of clock time, on writes and reads.
 */
export class MemoryRevocationSet implements RevocationSet {
  readonly #clock: Clock;
  readonly #graceSeconds: number;
  readonly #tokens = new Map<string, number>();
  readonly #subjects = new Map<string, SubjectEntry>();
  readonly #certificates = new Map<string, number>();
  #nextSweepMs = 0;

  constructor(options: MemoryRevocationSetOptions) {
    const grace = options.graceSeconds ?? 60;
    if (!Number.isFinite(grace) || grace < 0)
      throw new TesseraError('ERR_CONFIG_INVALID', 'graceSeconds must be ≥ 0');
    this.#clock = options.clock;
    this.#graceSeconds = grace;
  }

  revokeToken(jti: string, expiresAt: number): void {
    this.#sweep();
    const known = this.#tokens.get(jti);
    this.#tokens.set(jti, known === undefined ? expiresAt : Math.max(known, expiresAt));
  }

  revokeSubject(subject: string, issuedAtOrBefore: number, until: number): void {
    this.#sweep();
    const known = this.#subjects.get(subject);
    // A later cut-off covers everything an earlier one did; never shrink an existing revocation.
    this.#subjects.set(subject, {
      issuedAtOrBefore: Math.max(issuedAtOrBefore, known?.issuedAtOrBefore ?? -Infinity),
      until: Math.max(until, known?.until ?? -Infinity),
    });
  }

  isRevoked(jti: string, subject: string, issuedAt: number): boolean {
    if (this.#tokens.size === 0 && this.#subjects.size === 0) return false;
    this.#sweep();
    if (this.#tokens.has(jti)) return true;
    const entry = this.#subjects.get(subject);
    return entry !== undefined && issuedAt <= entry.issuedAtOrBefore;
  }

  revokeCertificate(serialNumber: string, expiresAt: number): void {
    this.#sweep();
    const known = this.#certificates.get(serialNumber);
    this.#certificates.set(
      serialNumber,
      known === undefined ? expiresAt : Math.max(known, expiresAt),
    );
  }

  isCertificateRevoked(serialNumber: string, subject: string, notBefore: number): boolean {
    if (this.#certificates.size === 0 && this.#subjects.size === 0) return false;
    this.#sweep();
    if (this.#certificates.has(serialNumber)) return true;
    const entry = this.#subjects.get(subject);
    return entry !== undefined && notBefore <= entry.issuedAtOrBefore;
  }

  /** Number of entries currently held (tokens + subjects + certificates). */
  get size(): number {
    return this.#tokens.size + this.#subjects.size + this.#certificates.size;
  }

  #sweep(): void {
    const nowMs = this.#clock.now();
    if (nowMs < this.#nextSweepMs) return;
    this.#nextSweepMs = nowMs + 1000;
    const horizon = nowMs / 1000 - this.#graceSeconds;
    for (const [jti, expiresAt] of this.#tokens) if (expiresAt < horizon) this.#tokens.delete(jti);
    for (const [subject, entry] of this.#subjects)
      if (entry.until < horizon) this.#subjects.delete(subject);
    for (const [serial, expiresAt] of this.#certificates)
      if (expiresAt < horizon) this.#certificates.delete(serial);
  }
}
