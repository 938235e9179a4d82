import type { Clock } from '../clock.ts';
import { TesseraError } from '../errors.ts';

/**
 * Remembers single-use values (signature nonces) until they could no longer be accepted anyway.
 * Asynchronous so a shared store (Redis `SET key 1 PX ttl NX`) can implement it; every
 * implementation runs `replayCacheContract` from `@tessera/core/testing`.
 */
export interface ReplayCache {
  /**
   * Records `key` until `expiresAtMs` (epoch milliseconds, exclusive) and resolves `true` if it
   * was not already recorded, `false` if it was: a replay. Concurrent calls with one key resolve
   * `true` at most once. When the cache cannot tell (full, store unreachable) it must reject or
   * resolve `false`, never `true`: forgetting a live key re-opens the replay window.
   */
  useOnce(key: string, expiresAtMs: number): Promise<boolean>;
}

export interface MemoryReplayCacheOptions {
  readonly clock: Clock;
  /**
   * Most keys held at once. Default 100 000: with the verifier's default 10 s clock skew a key
   * lives at most about 20 s, so this covers some 5 000 signed requests per second.
   */
  readonly maxEntries?: number;
}

/**
 * An in-process {@link ReplayCache} for a single verifier instance (behind a load balancer,
 * use a shared store: each instance would accept a nonce once).
 *
 * Bounded, and fail-closed when full: it never evicts a live key to make room, because an
 * attacker who can fill the cache could then flush the nonce of a captured request and replay
 * it. Instead `useOnce` rejects with `ERR_SIG_REPLAY` (detail "replay cache is full") until
 * entries expire; the verifier passes that on, so requests are refused, visibly, rather than
 * accepted unchecked. Expired keys are dropped in expiry order on every call, in O(log n).
 */
export class MemoryReplayCache implements ReplayCache {
  readonly #clock: Clock;
  readonly #maxEntries: number;
  readonly #expiresAt = new Map<string, number>();
  /** Min-heap on expiry, holding exactly the keys of `#expiresAt`. */
  readonly #heap: { key: string; expiresAtMs: number }[] = [];

  constructor(options: MemoryReplayCacheOptions) {
    const maxEntries = options.maxEntries ?? 100_000;
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new TesseraError('ERR_CONFIG_INVALID', 'maxEntries must be a positive integer');
    }
    this.#clock = options.clock;
    this.#maxEntries = maxEntries;
  }

  /** Keys currently held (expired ones are dropped on the next call). */
  get size(): number {
    return this.#expiresAt.size;
  }

  useOnce(key: string, expiresAtMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      resolve(this.#useOnce(key, expiresAtMs));
    });
  }

  #useOnce(key: string, expiresAtMs: number): boolean {
    if (typeof key !== 'string') {
      throw new TesseraError('ERR_CONFIG_INVALID', 'replay key must be a string');
    }
    if (!Number.isFinite(expiresAtMs)) {
      throw new TesseraError('ERR_CONFIG_INVALID', 'replay key expiry must be a finite time');
    }
    const nowMs = this.#clock.now();
    this.#dropExpired(nowMs);
    if (this.#expiresAt.has(key)) return false;
    // Already past its expiry: the verifier would refuse the signature anyway, nothing to hold.
    if (expiresAtMs <= nowMs) return true;
    if (this.#expiresAt.size >= this.#maxEntries) {
      throw new TesseraError('ERR_SIG_REPLAY', 'replay cache is full');
    }
    this.#expiresAt.set(key, expiresAtMs);
    this.#push({ key, expiresAtMs });
    return true;
  }

  #dropExpired(nowMs: number): void {
    for (
      let top = this.#heap[0];
      top !== undefined && top.expiresAtMs <= nowMs;
      top = this.#heap[0]
    ) {
      this.#pop();
      this.#expiresAt.delete(top.key);
    }
  }

  #push(entry: { key: string; expiresAtMs: number }): void {
    const heap = this.#heap;
    let i = heap.length;
    heap.push(entry);
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = heap[parentIndex];
      if (parent === undefined || parent.expiresAtMs <= entry.expiresAtMs) break;
      heap[i] = parent;
      i = parentIndex;
    }
    heap[i] = entry;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    let i = 0;
    for (;;) {
      const leftIndex = 2 * i + 1;
      const left = heap[leftIndex];
      if (left === undefined) break;
      const right = heap[leftIndex + 1];
      const [childIndex, child] =
        right !== undefined && right.expiresAtMs < left.expiresAtMs
          ? [leftIndex + 1, right]
          : [leftIndex, left];
      if (child.expiresAtMs >= last.expiresAtMs) break;
      heap[i] = child;
      i = childIndex;
    }
    heap[i] = last;
  }
}
