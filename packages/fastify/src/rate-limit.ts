/**
 * The per-caller rate limit: fixed windows in a bounded map, decided synchronously in the
 * plugin's `onRequest` hook (no promise, no allocation once a key has its bucket).
 *
 * With Redis the decision stays local. Each replica holds, per caller and window, an
 * *allowance*: how many requests it may still admit without hearing from Redis. It reconciles
 * asynchronously (one `EVAL` of INCRBY + PEXPIRE on the window's key, which answers the global
 * count) when half its allowance is spent and every `syncIntervalMs`, and sets the next allowance
 * from the global count. See {@link RedisLimiterOptions} for the over-admission bound.
 */

/**
 * The part of an ioredis client the limiter uses, typed structurally so the plugin does not need
 * ioredis at run time (`new Redis()` from ioredis satisfies it).
 */
export interface RedisClientLike {
  eval(script: string, numkeys: number, ...args: (string | number)[]): Promise<unknown>;
  /** ioredis's connection state; `reconnecting`, `close` and `end` count as Redis unavailable. */
  readonly status?: string;
}

/** What a replica does while Redis cannot be reached. */
export type RedisUnavailableMode = 'local-only' | 'fail-closed';

export interface RedisLimiterOptions {
  readonly client: RedisClientLike;
  /** Prefix of the window keys (`<prefix><spiffe-id>:<window>`). Default `tessera:rl:`. */
  readonly keyPrefix: string;
  /**
   * Most requests one replica admits for one caller between two reconciliations (default
   * `min(max, 100)`). The bound: per caller and window, the replicas together admit at most
   * `max + (replicas − 1) × syncEvery` while Redis answers, because each replica's unreconciled
   * admissions plus its remaining allowance never exceed `syncEvery`, and the replica that
   * reconciled last was granted no more than `max` minus the global count it read.
   */
  readonly syncEvery: number;
  /** Admissions not yet reconciled are pushed at least this often (default 100 ms). */
  readonly syncIntervalMs: number;
  /**
   * `local-only` (default): each replica enforces `max` on its own (so at most
   * `replicas × max` in all), logs a warning and sets `tessera_rate_limit_redis_available` to 0.
   * `fail-closed`: callers are refused with 503 `ERR_UNAVAILABLE` until Redis answers again.
   */
  readonly whenUnavailable: RedisUnavailableMode;
  /** Called once each time Redis becomes unavailable, and once when it is back. */
  readonly onAvailabilityChange: (available: boolean, error?: unknown) => void;
}

export interface RateLimiterOptions {
  readonly max: number;
  readonly timeWindowMs: number;
  /** Most keys held; beyond it the oldest key's bucket is dropped (it starts afresh). */
  readonly maxKeys: number;
  readonly redis?: RedisLimiterOptions;
}

/** INCRBY the window's key by what this replica admitted and answer the global count. */
const RECONCILE = `local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n`;

/**
 * ioredis states in which a command cannot be answered soon: the connection was lost or closed.
 * `connecting` and `wait` (lazy) are a client starting up; a command then waits or fails on its own.
 */
function isDown(status: string | undefined): boolean {
  return status === 'reconnecting' || status === 'close' || status === 'end';
}

/** One key's state; a class so every bucket has one shape. */
class Bucket {
  window = -1;
  /** Admitted by this replica in this window. */
  admitted = 0;
  /** Redis mode: admissions this replica may still make without hearing from Redis. */
  allowance = 0;
  /** Redis mode: admitted and not yet added to the window's key. */
  unsynced = 0;
  syncing = false;
}

/** `take`'s answer when the request is admitted; any other value is milliseconds to wait. */
export const ADMITTED = 0;
/** `take`'s answer when Redis is unavailable and the limiter fails closed. */
export const UNAVAILABLE = -1;

export class RateLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, Bucket>();
  readonly #redis: RedisLimiterOptions | undefined;
  readonly #grant: number;
  readonly #refill: number;
  #available = true;
  #timer: NodeJS.Timeout | undefined;
  #now = 0;
  /** Requests refused since start (metrics). */
  refused = 0;

  constructor(options: RateLimiterOptions) {
    this.#max = options.max;
    this.#windowMs = options.timeWindowMs;
    this.#maxKeys = options.maxKeys;
    this.#redis = options.redis;
    this.#grant = Math.min(options.redis?.syncEvery ?? options.max, options.max);
    this.#refill = Math.floor(this.#grant / 2);
    if (this.#redis !== undefined) {
      this.#timer = setInterval(() => {
        this.#flush();
      }, this.#redis.syncIntervalMs);
      this.#timer.unref();
    }
  }

  /** False while Redis is unavailable (always true without Redis). */
  get redisAvailable(): boolean {
    return this.#available;
  }

  /** Keys held now (bounded by `maxKeys`). */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Counts one request of `key` at `now` (ms). Returns {@link ADMITTED}, {@link UNAVAILABLE},
   * or the milliseconds until the window ends (at least 1).
   */
  take(key: string, now: number): number {
    this.#now = now;
    const window = Math.floor(now / this.#windowMs);
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#maxKeys) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
      bucket = new Bucket();
      this.#buckets.set(key, bucket);
    }
    if (bucket.window !== window) {
      bucket.window = window;
      bucket.admitted = 0;
      // What was admitted in the last window no longer matters to anyone's next decision.
      bucket.unsynced = 0;
      // Not read from Redis: at most `grant` per replica before the first reconciliation, which
      // keeps the bound (grant ≤ max).
      bucket.allowance = this.#grant;
    }
    const redis = this.#redis;
    if (redis === undefined) {
      if (bucket.admitted >= this.#max) return this.#refuse(now);
      bucket.admitted++;
      return ADMITTED;
    }
    if (this.#available && isDown(redis.client.status)) {
      this.#setAvailable(false, new Error(`redis connection is ${String(redis.client.status)}`));
    }
    if (!this.#available) {
      if (redis.whenUnavailable === 'fail-closed') {
        this.refused++;
        return UNAVAILABLE;
      }
      if (bucket.admitted >= this.#max) return this.#refuse(now);
      bucket.admitted++;
      bucket.unsynced++;
      return ADMITTED;
    }
    if (bucket.allowance <= 0 || bucket.admitted >= this.#max) {
      if (bucket.admitted < this.#max) this.#sync(key, bucket, redis);
      return this.#refuse(now);
    }
    bucket.allowance--;
    bucket.admitted++;
    bucket.unsynced++;
    if (bucket.allowance <= this.#refill) this.#sync(key, bucket, redis);
    return ADMITTED;
  }

  #refuse(now: number): number {
    this.refused++;
    const end = (Math.floor(now / this.#windowMs) + 1) * this.#windowMs;
    return Math.max(1, end - now);
  }

  #sync(key: string, bucket: Bucket, redis: RedisLimiterOptions): void {
    if (bucket.syncing) return;
    const status = redis.client.status;
    if (isDown(status)) {
      this.#setAvailable(false, new Error(`redis connection is ${String(status)}`));
      return;
    }
    const window = bucket.window;
    const sent = bucket.unsynced;
    bucket.unsynced = 0;
    bucket.syncing = true;
    redis.client
      .eval(
        RECONCILE,
        1,
        `${redis.keyPrefix}${key}:${window}`,
        sent,
        // Kept one window past its end, so a replica whose clock lags still finds it.
        2 * this.#windowMs,
      )
      .then(
        (total) => {
          bucket.syncing = false;
          this.#setAvailable(true);
          if (bucket.window !== window) return;
          // Admitted while the answer was on its way: already spent from the next allowance.
          const since = bucket.unsynced;
          bucket.allowance = Math.max(
            0,
            Math.min(this.#grant - since, this.#max - Number(total) - since),
          );
        },
        (error: unknown) => {
          bucket.syncing = false;
          if (bucket.window === window) bucket.unsynced += sent;
          this.#setAvailable(false, error);
        },
      );
  }

  /** Pushes what is not reconciled yet; while Redis is unavailable, also probes it. */
  #flush(): void {
    const redis = this.#redis;
    if (redis === undefined) return;
    const window = Math.floor(this.#now / this.#windowMs);
    for (const [key, bucket] of this.#buckets) {
      if (bucket.window === window && (bucket.unsynced > 0 || !this.#available)) {
        this.#sync(key, bucket, redis);
      }
    }
  }

  #setAvailable(available: boolean, error?: unknown): void {
    if (available === this.#available) return;
    this.#available = available;
    if (available) {
      // What was admitted during the outage counts against the allowance until reconciled,
      // which the next flush does.
      for (const bucket of this.#buckets.values()) {
        bucket.allowance = Math.max(
          0,
          Math.min(this.#grant - bucket.unsynced, this.#max - bucket.admitted),
        );
      }
    }
    this.#redis?.onAvailabilityChange(available, error);
  }

  /** Stops the reconciliation timer (the app is closing). */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
