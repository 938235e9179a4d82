import type { Clock } from '@tessera/core';
import type { FastifyRequest } from 'fastify';
import { RefusalAggregator, type RefusalAggregatorOptions } from '../audit/refusal-aggregator.ts';
import type { AuthorityMetrics } from '../metrics.ts';
import type { AuditEntry } from '../store/types.ts';
import { ClientAuthFailureLimiter, type FailureLimitOptions } from './failure-limiter.ts';

export const DEFAULT_FAILURE_LIMIT: FailureLimitOptions = Object.freeze({
  maxFailures: 20,
  windowMs: 60_000,
  maxSources: 10_000,
});

export const DEFAULT_AGGREGATION: RefusalAggregatorOptions = Object.freeze({ maxKeys: 1000 });

/**
 * The source a failure is counted and limited under: the address Fastify reports for the
 * request. The authority does not set Fastify's `trustProxy`, so this is the TCP peer; behind a
 * reverse proxy every client shares the proxy's address.
 */
export function clientSource(request: FastifyRequest): string {
  return request.ip;
}

/**
 * What happens to a request that failed client authentication at the token, revocation,
 * introspection or join endpoint: a metric (endpoint and reason code as labels, nothing the
 * caller sent), a tally in the aggregated audit row of its source and reason, and a count
 * against its source's failure budget.
 */
export class UnauthenticatedFailures {
  readonly #limiter: ClientAuthFailureLimiter;
  readonly #aggregator: RefusalAggregator;
  readonly #metrics: AuthorityMetrics;

  constructor(
    options: {
      readonly limit: FailureLimitOptions;
      readonly aggregation: RefusalAggregatorOptions;
    },
    deps: {
      readonly clock: Clock;
      readonly metrics: AuthorityMetrics;
      readonly append: (entry: AuditEntry) => Promise<unknown>;
    },
  ) {
    this.#limiter = new ClientAuthFailureLimiter(options.limit, deps.clock);
    this.#aggregator = new RefusalAggregator(options.aggregation, deps);
    this.#metrics = deps.metrics;
  }

  /**
   * Whole seconds (for `Retry-After`) until this source may try to authenticate again, or 0 when
   * it may now. A positive answer is counted as a `rate_limited` failure of `endpoint`.
   */
  throttle(source: string, endpoint: string): number {
    const waitMs = this.#limiter.retryAfterMs(source);
    if (waitMs === 0) return 0;
    this.#metrics.failures.inc({ endpoint, reason: 'rate_limited' });
    return Math.ceil(waitMs / 1000);
  }

  refused(source: string, endpoint: string, reason: string): void {
    this.#metrics.failures.inc({ endpoint, reason });
    this.#aggregator.record(source, endpoint, reason);
    this.#limiter.recordFailure(source);
  }

  /** Writes the aggregated rows of the interval now ending; returns how many. */
  flush(): Promise<number> {
    return this.#aggregator.flush();
  }
}
