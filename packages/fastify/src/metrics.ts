import { Gauge, type Registry } from 'prom-client';
import type { FailureBudgetCounts } from './failure-budget.ts';
import type { RateLimiter } from './rate-limit.ts';
import type { RemoteJwks } from './remote-jwks.ts';
import type { RevocationSync } from './revocation-sync.ts';

/** What the gauges read, at scrape time: nothing is computed per request. */
export interface MetricsSources {
  degraded(): boolean;
  readonly jwks?: RemoteJwks;
  readonly revocations?: RevocationSync;
  readonly rateLimiter?: RateLimiter;
  readonly failureBudget?: FailureBudgetCounts;
}

const seconds = (ms: number): number => ms / 1000;

/**
 * Registers the plugin's gauges on `registry`: whether the service is running on stale keys or
 * revocations (the authority unreachable), and how old each is. Values are read when the
 * registry is scraped.
 */
export function registerPluginMetrics(registry: Registry, sources: MetricsSources): void {
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  };
  gauge(
    'tessera_degraded',
    '1 while keys or revocations are older than their stale limits (authority unreachable), else 0',
    () => (sources.degraded() ? 1 : 0),
  );
  const { jwks, revocations, rateLimiter, failureBudget } = sources;
  if (rateLimiter !== undefined) {
    gauge(
      'tessera_rate_limited_requests',
      'Requests refused by the per-caller rate limit since start',
      () => rateLimiter.refused,
    );
    gauge(
      'tessera_rate_limit_redis_available',
      '0 while the rate limit cannot reach its Redis (limits then per replica, or fail closed)',
      () => (rateLimiter.redisAvailable ? 1 : 0),
    );
  }
  if (failureBudget !== undefined) {
    gauge(
      'tessera_verify_budget_refused_requests',
      'Bearer tokens refused unverified since start: their source exhausted its failure budget',
      () => failureBudget.refused,
    );
  }
  if (jwks !== undefined) {
    gauge('tessera_jwks_stale', '1 while the cached JWKS is past its stale limit', () =>
      jwks.isStale() ? 1 : 0,
    );
    gauge('tessera_jwks_age_seconds', 'Seconds since the JWKS was last fetched', () =>
      seconds(jwks.ageMs()),
    );
  }
  if (revocations !== undefined) {
    gauge(
      'tessera_revocations_stale',
      '1 while the revocation state is past its stale limit',
      () => (revocations.isStale() ? 1 : 0),
    );
    gauge(
      'tessera_revocations_age_seconds',
      'Seconds since the last news from the revocation feed (event, heartbeat or poll)',
      () => seconds(revocations.ageMs()),
    );
    gauge(
      'tessera_revocations_streaming',
      '1 while revocations arrive over the SSE stream, 0 while polling',
      () => (revocations.state === 'streaming' ? 1 : 0),
    );
  }
}
