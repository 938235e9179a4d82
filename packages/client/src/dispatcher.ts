import { Agent, type Dispatcher } from 'undici';
import { auth, circuitBreakerPerUpstream, retry, timeout, trace } from './interceptors.ts';
import type { ServiceMap } from './service-map.ts';
import type { TokenSource } from './token-source.ts';

export interface ServiceDispatcherOptions {
  readonly tokens: TokenSource;
  readonly services: ServiceMap;
  readonly timeout?: Parameters<typeof timeout>[0];
  readonly retry?: Parameters<typeof retry>[0] | false;
  readonly circuitBreaker?: Parameters<typeof circuitBreakerPerUpstream>[0] | false;
  /**
   * The underlying dispatcher: an `Agent` (TLS options, connection limits; TLS verification stays
   * on) or a workload identity's mTLS dispatcher (`identity.dispatcher({ services })`).
   */
  readonly agent?: Dispatcher;
}

/**
 * The usual composition. undici's `compose` makes the LAST interceptor the outermost, so this
 * list reads innermost first: credentials (re-attached on every retry, so each attempt carries
 * a token valid when it is sent), timeouts, retries, the circuit breaker, then trace context.
 */
export function createServiceDispatcher(options: ServiceDispatcherOptions): Dispatcher {
  const agent = options.agent ?? new Agent();
  return agent.compose(
    ...[
      auth({ tokens: options.tokens, services: options.services }),
      timeout(options.timeout),
      options.retry === false ? undefined : retry(options.retry),
      options.circuitBreaker === false
        ? undefined
        : circuitBreakerPerUpstream(options.circuitBreaker),
      trace(),
    ].filter((interceptor) => interceptor !== undefined),
  );
}
