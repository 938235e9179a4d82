import { TesseraError } from '../errors.ts';
import type { Caller } from './caller.ts';

/**
 * Estimated bytes an entry costs beyond its token string: the Map slot, the entry record and the
 * frozen `Caller` (a handful of short strings and a scopes array). Measured on Node 20 at about
 * 475 bytes (10,000 entries of 625-byte tokens, heap delta after GC); kept deliberately above it
 * so `maxBytes` is a ceiling, not a hope.
 */
export const CACHE_ENTRY_OVERHEAD_BYTES = 768;

export interface VerifiedTokenCacheOptions {
  /** Most entries held at once. Default 10,000. */
  readonly maxEntries?: number;
  /**
   * Most bytes held at once, counted as token length (tokens are ASCII, stored one byte per
   * character) plus {@link CACHE_ENTRY_OVERHEAD_BYTES}. Default 16 MiB.
   */
  readonly maxBytes?: number;
}

/** A cached verification result. `owner` ties it to the verifier that produced it. */
export interface CachedVerification {
  readonly owner: object;
  readonly caller: Caller;
  /** `exp` in epoch seconds; the entry is never used at or after it (plus tolerance). */
  readonly expiresAt: number;
}

interface Slot extends CachedVerification {
  /** The whole token: a hit needs it to be equal, not only its signature. */
  readonly token: string;
  readonly bytes: number;
}

/**
 * The Map key for a token: its last segment (the JWS signature, 86 characters for ES256).
 * Hashing a fresh 700-character string on every lookup cost about 1 µs a request; the signature
 * alone is a tenth of that. It only picks the slot: a hit also needs the whole stored token to be
 * equal, so a token that merely shares a signature (a forged payload) is a miss and goes through
 * full verification. A string without a dot is keyed whole.
 */
function slotKey(token: string): string {
  return token.slice(token.lastIndexOf('.') + 1);
}

/**
 * A bounded cache of verified access tokens. A hit needs the whole token string to be equal;
 * slots are found by its signature segment ({@link slotKey}).
 *
 * Memory bound: at most `maxEntries` entries and at most `maxBytes` estimated bytes, whichever
 * is reached first; the defaults (10,000 entries, 16 MiB) hold about 10,000 typical 700-byte
 * tokens in about 14 MiB. When full, the oldest insertion is evicted first: tokens are
 * short-lived, so insertion order is close to expiry order, and a hit does not pay for
 * reordering. Entries record the verifier that produced them, so a cache shared by verifiers of
 * different audiences or issuers never answers one with another's result.
 */
export class VerifiedTokenCache {
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly #slots = new Map<string, Slot>();
  #bytes = 0;

  constructor(options: VerifiedTokenCacheOptions = {}) {
    const maxEntries = options.maxEntries ?? 10_000;
    const maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new TesseraError('ERR_CONFIG_INVALID', 'cache maxEntries must be a positive integer');
    }
    if (!Number.isSafeInteger(maxBytes) || maxBytes < CACHE_ENTRY_OVERHEAD_BYTES) {
      throw new TesseraError('ERR_CONFIG_INVALID', 'cache maxBytes is too small');
    }
    this.maxEntries = maxEntries;
    this.maxBytes = maxBytes;
  }

  get(token: string): CachedVerification | undefined {
    const slot = this.#slots.get(slotKey(token));
    return slot?.token === token ? slot : undefined;
  }

  set(token: string, entry: CachedVerification): void {
    const bytes = token.length + CACHE_ENTRY_OVERHEAD_BYTES;
    if (bytes > this.maxBytes) return;
    const key = slotKey(token);
    this.#remove(key);
    while (this.#slots.size >= this.maxEntries || this.#bytes + bytes > this.maxBytes) {
      const oldest = this.#slots.keys().next();
      if (oldest.done === true) break;
      this.#remove(oldest.value);
    }
    this.#slots.set(key, {
      token,
      owner: entry.owner,
      caller: entry.caller,
      expiresAt: entry.expiresAt,
      bytes,
    });
    this.#bytes += bytes;
  }

  /** Forgets `token`; a different token that shares its slot stays. */
  delete(token: string): void {
    const key = slotKey(token);
    if (this.#slots.get(key)?.token === token) this.#remove(key);
  }

  #remove(key: string): void {
    const slot = this.#slots.get(key);
    if (slot === undefined) return;
    this.#slots.delete(key);
    this.#bytes -= slot.bytes;
  }

  clear(): void {
    this.#slots.clear();
    this.#bytes = 0;
  }

  get size(): number {
    return this.#slots.size;
  }

  /** Estimated bytes held, per the accounting described on the class. */
  get bytes(): number {
    return this.#bytes;
  }
}
