/**
 * A per-source budget for failed token verifications. A forged token under a real `kid` costs
 * the service one ECDSA verify before it is refused; a flood of them from one address would
 * otherwise buy the attacker as much event-loop time as it can send. Once a source has failed
 * `max` times in a window, its bearer tokens are refused without being verified until the window
 * ends.
 *
 * Memory is bounded: only sources that failed get an entry, at most `maxSources` of them. When
 * the map is full of sources still inside their window, new failing sources share one overflow
 * budget of `max` failures per window, so a flood spread over more addresses than the map holds
 * still costs at most `(maxSources + 1) × max` verifications per window. This map is the
 * plugin's only state keyed on unauthenticated input; the per-caller limiter keeps its own, so a
 * flood of sources cannot evict a caller's bucket.
 */

export interface FailureBudgetOptions {
  readonly max: number;
  readonly timeWindowMs: number;
  readonly maxSources: number;
}

class Failures {
  window = -1;
  count = 0;
}

/** What the metrics read. */
export interface FailureBudgetCounts {
  readonly refused: number;
}

export class VerificationFailureBudget implements FailureBudgetCounts {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #maxSources: number;
  readonly #sources = new Map<string, Failures>();
  readonly #overflow = new Failures();
  /** Requests refused without verifying since start (metrics). */
  refused = 0;

  constructor(options: FailureBudgetOptions) {
    this.#max = options.max;
    this.#windowMs = options.timeWindowMs;
    this.#maxSources = options.maxSources;
  }

  /** Sources held now (bounded by `maxSources`). */
  get size(): number {
    return this.#sources.size;
  }

  /** True when `source` has used up its budget in the window of `now` (ms); counts the refusal. */
  exhausted(source: string, now: number): boolean {
    const sources = this.#sources;
    // The common case, no failures anywhere: one size check.
    if (sources.size === 0 && this.#overflow.count === 0) return false;
    const window = Math.floor(now / this.#windowMs);
    const failures = sources.get(source) ?? this.#overflowFor(window);
    if (failures?.window !== window || failures.count < this.#max) {
      return false;
    }
    this.refused++;
    return true;
  }

  /** Records one failed verification from `source` at `now` (ms). */
  fail(source: string, now: number): void {
    const window = Math.floor(now / this.#windowMs);
    let failures = this.#sources.get(source);
    if (failures === undefined) {
      failures = this.#room(window) ? new Failures() : this.#overflow;
      if (failures !== this.#overflow) this.#sources.set(source, failures);
    }
    if (failures.window !== window) {
      failures.window = window;
      failures.count = 0;
      // Kept in the order their windows started, so the first entry is the one to retire.
      if (failures !== this.#overflow) {
        this.#sources.delete(source);
        this.#sources.set(source, failures);
      }
    }
    failures.count++;
  }

  /** The overflow budget applies to untracked sources only while the map is full. */
  #overflowFor(window: number): Failures | undefined {
    return this.#sources.size >= this.#maxSources && this.#overflow.window === window
      ? this.#overflow
      : undefined;
  }

  /** Makes room for one more source if the oldest one's window is over. */
  #room(window: number): boolean {
    if (this.#sources.size < this.#maxSources) return true;
    for (const [source, failures] of this.#sources) {
      if (failures.window === window) return false;
      this.#sources.delete(source);
      return true;
    }
    return true;
  }
}
