import { MemoryRevocationSet, type Clock } from '@tessera/core';
import type { RevocationRecord, Store } from '../store/types.ts';

export type RevocationListener = (record: RevocationRecord) => void;

/**
 * The authority's view of revocations: the store is the source of truth (shared by every
 * instance); this keeps an in-memory mirror for O(1) checks in introspection, and tells SSE
 * subscribers about each new entry. `poll()` picks up entries written by other instances.
 */
export class RevocationFeed {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #set: MemoryRevocationSet;
  readonly #listeners = new Set<RevocationListener>();
  #cursor = 0;

  constructor(deps: { readonly store: Store; readonly clock: Clock }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#set = new MemoryRevocationSet({ clock: deps.clock });
  }

  /** Highest revocation id applied so far. */
  get cursor(): number {
    return this.#cursor;
  }

  /** Applies every entry written since the last poll (by this or another instance). */
  async poll(): Promise<void> {
    const records = await this.#store.listRevocations(
      this.#cursor,
      Math.floor(this.#clock.now() / 1000),
    );
    for (const record of records) this.#apply(record);
  }

  /** Persists a revocation, applies it and notifies subscribers. */
  async add(record: Omit<RevocationRecord, 'id' | 'createdAtMs'>): Promise<RevocationRecord> {
    const stored = await this.#store.addRevocation({ ...record, createdAtMs: this.#clock.now() });
    // Entries from other instances with lower ids may not have been seen yet: poll first so the
    // cursor only moves forward over entries that were applied.
    await this.poll();
    this.#apply(stored);
    return stored;
  }

  isRevoked(jti: string, subject: string, issuedAt: number): boolean {
    return this.#set.isRevoked(jti, subject, issuedAt);
  }

  /** Entries after `sinceId` that still cover unexpired tokens, for `GET /v1/revocations`. */
  /**
   * Whether the X.509-SVID `serialNumber` of `subject`, valid from `notBefore`, is revoked: by its
   * serial, or by a subject entry (a disabled service, `revoke --service`) cut off at or after it.
   */
  isCertificateRevoked(serialNumber: string, subject: string, notBefore: number): boolean {
    return this.#set.isCertificateRevoked(serialNumber, subject, notBefore);
  }

  list(sinceId: number): Promise<RevocationRecord[]> {
    return this.#store.listRevocations(sinceId, Math.floor(this.#clock.now() / 1000));
  }

  subscribe(listener: RevocationListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get subscribers(): number {
    return this.#listeners.size;
  }

  #apply(record: RevocationRecord): void {
    if (record.id <= this.#cursor) return;
    this.#cursor = record.id;
    if (record.kind === 'jti') this.#set.revokeToken(record.value, record.expiresAt);
    else if (record.kind === 'subject') {
      this.#set.revokeSubject(record.value, record.issuedAtOrBefore ?? 0, record.expiresAt);
    } else if (record.kind === 'svid') {
      this.#set.revokeCertificate(record.value, record.expiresAt);
    }
    // A `kid` entry is for verifiers: here the key has already left the published JWKS, so
    // nothing it signed reads back (introspection, revocation, the feed's own tokens).
    for (const listener of this.#listeners) listener(record);
  }
}
