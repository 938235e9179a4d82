import type { Clock } from '@tessera/core';
import type { AuditEntry } from '../store/types.ts';

/** The audit row type of aggregated unauthenticated failures. */
export const CLIENT_AUTH_FAILED = 'client_auth.failed';

/** The `source` of the row that takes every source past `maxKeys` in one interval. */
export const OTHER_SOURCES = 'other-sources';

/** Longest source kept; an IP address is at most 45 characters (IPv6 with IPv4 tail). */
const MAX_SOURCE_CHARS = 64;

export interface RefusalAggregatorOptions {
  /** Distinct (source, reason) pairs held per interval; more go into the one "other sources" row. */
  readonly maxKeys: number;
}

interface Tally {
  count: number;
  readonly firstAtMs: number;
  lastAtMs: number;
  /** Count per endpoint (a closed set: token, revoke, introspect, attest_join). */
  readonly endpoints: Record<string, number>;
}

interface OverflowTally extends Tally {
  /** Count per reason code (a closed set). */
  readonly reasons: Record<string, number>;
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/**
 * Turns a flood of unauthenticated failures into a bounded number of audit rows: one per
 * (source, reason) per interval, carrying the count and the first and last time, plus at most one
 * row for every source beyond `maxKeys`. A caller with no valid credentials could otherwise make
 * the authority append (and hash, and store forever) one row per request.
 *
 * `record` is synchronous and O(1); `flush` writes what the interval gathered and starts the next
 * one. Memory is bounded by `maxKeys`. What has not been flushed when the process dies is lost
 * from the audit log (the metrics counted it already).
 */
export class RefusalAggregator {
  #tallies = new Map<string, { source: string; reason: string; tally: Tally }>();
  #overflow: OverflowTally | undefined;
  readonly #options: RefusalAggregatorOptions;
  readonly #clock: Clock;
  readonly #append: (entry: AuditEntry) => Promise<unknown>;

  constructor(
    options: RefusalAggregatorOptions,
    deps: { readonly clock: Clock; readonly append: (entry: AuditEntry) => Promise<unknown> },
  ) {
    this.#options = options;
    this.#clock = deps.clock;
    this.#append = deps.append;
  }

  record(source: string, endpoint: string, reason: string): void {
    const now = this.#clock.now();
    const from = source.slice(0, MAX_SOURCE_CHARS);
    const key = `${from}\n${reason}`;
    const held = this.#tallies.get(key);
    if (held !== undefined) {
      held.tally.count += 1;
      held.tally.lastAtMs = now;
      bump(held.tally.endpoints, endpoint);
      return;
    }
    if (this.#tallies.size < this.#options.maxKeys) {
      this.#tallies.set(key, {
        source: from,
        reason,
        tally: { count: 1, firstAtMs: now, lastAtMs: now, endpoints: { [endpoint]: 1 } },
      });
      return;
    }
    this.#overflow ??= { count: 0, firstAtMs: now, lastAtMs: now, endpoints: {}, reasons: {} };
    this.#overflow.count += 1;
    this.#overflow.lastAtMs = now;
    bump(this.#overflow.endpoints, endpoint);
    bump(this.#overflow.reasons, reason);
  }

  /** Appends the interval's rows (oldest first, the overflow row last) and starts a new interval. */
  async flush(): Promise<number> {
    const tallies = [...this.#tallies.values()];
    const overflow = this.#overflow;
    this.#tallies = new Map();
    this.#overflow = undefined;
    const atMs = this.#clock.now();
    const entries: AuditEntry[] = tallies.map(({ source, reason, tally }) => ({
      atMs,
      type: CLIENT_AUTH_FAILED,
      actor: 'unauthenticated',
      data: { source, reason, ...tally },
    }));
    if (overflow !== undefined) {
      entries.push({
        atMs,
        type: CLIENT_AUTH_FAILED,
        actor: 'unauthenticated',
        data: { source: OTHER_SOURCES, ...overflow },
      });
    }
    await Promise.all(entries.map((entry) => this.#append(entry)));
    return entries.length;
  }
}
