import { isIPv4, isIPv6 } from 'node:net';
import type { Clock } from '@tessera/core';

export interface FailureLimitOptions {
  /** Failed client authentications one source may have per window before it gets 429. */
  readonly maxFailures: number;
  readonly windowMs: number;
  /** Most sources tracked at once; when full, the source whose window started first is forgotten. */
  readonly maxSources: number;
}

/**
 * The key a client address is limited under: an IPv4 address as it is, an IPv6 address by its
 * /64 prefix (one host is usually given a whole /64, so counting single IPv6 addresses would let
 * one attacker spread its attempts over 2^64 "sources"), and an IPv4-mapped IPv6 address as the
 * IPv4 address it maps.
 */
export function limiterKey(address: string): string {
  const plain = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(plain);
  if (mapped !== null && isIPv4(mapped[1] ?? '')) return mapped[1] ?? plain;
  if (!isIPv6(plain)) return plain;
  const [head = '', tail] = plain.toLowerCase().split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  // A trailing dotted IPv4 part stands for two groups.
  const width = (list: string[]) => list.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const zeros = tail === undefined ? 0 : 8 - width(headGroups) - width(tailGroups);
  const groups = [...headGroups, ...Array<string>(Math.max(zeros, 0)).fill('0'), ...tailGroups];
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

interface Window {
  readonly startMs: number;
  failures: number;
}

/**
 * Per-source budget for failed client authentication, in fixed windows. A source that has
 * failed `maxFailures` times in its window is refused until the window ends, before any
 * signature is checked: an attacker guessing or replaying assertions from one address costs
 * the authority a map lookup per attempt, not an ES256 verification and a store write.
 * Memory is bounded by `maxSources`.
 */
export class ClientAuthFailureLimiter {
  readonly #windows = new Map<string, Window>();
  readonly #options: FailureLimitOptions;
  readonly #clock: Clock;

  constructor(options: FailureLimitOptions, clock: Clock) {
    this.#options = options;
    this.#clock = clock;
  }

  /** How long (ms) this source must wait before it may try again; 0 when it may now. */
  retryAfterMs(source: string): number {
    const key = limiterKey(source);
    const window = this.#windows.get(key);
    if (window === undefined) return 0;
    const endsAt = window.startMs + this.#options.windowMs;
    const now = this.#clock.now();
    if (now >= endsAt) {
      this.#windows.delete(key);
      return 0;
    }
    return window.failures >= this.#options.maxFailures ? endsAt - now : 0;
  }

  recordFailure(source: string): void {
    const key = limiterKey(source);
    const now = this.#clock.now();
    const window = this.#windows.get(key);
    if (window !== undefined && now < window.startMs + this.#options.windowMs) {
      window.failures += 1;
      return;
    }
    this.#windows.delete(key);
    if (this.#windows.size >= this.#options.maxSources) {
      // Map order is insertion order: the first entry has the oldest window.
      const oldest = this.#windows.keys().next();
      if (oldest.done !== true) this.#windows.delete(oldest.value);
    }
    this.#windows.set(key, { startMs: now, failures: 1 });
  }

  /** Sources currently tracked (for tests and metrics). */
  get size(): number {
    return this.#windows.size;
  }
}
