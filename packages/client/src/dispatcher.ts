import { TesseraError } from '@tessera/core';
import { Agent, type Dispatcher } from 'undici';
import { auth, circuitBreakerPerUpstream, retry, timeout, trace } from './interceptors.ts';
import { delegate, type DelegateOptions } from './delegate.ts';
import type { ServiceMap } from './service-map.ts';
import type { TokenExchanger, TokenSource } from './token-source.ts';

export interface ServiceDispatcherOptions {
  readonly tokens: TokenSource;
  readonly services: ServiceMap;
  readonly timeout?: Parameters<typeof timeout>[0];
  readonly retry?: Parameters<typeof retry>[0] | false;
  readonly circuitBreaker?: Parameters<typeof circuitBreakerPerUpstream>[0] | false;
  /**
   * Calls made while handling a request for a user carry a token exchanged for the upstream
   * (`delegate()`) instead of this service's own; `tokens` must then also exchange tokens
   * (`ClientCredentialsTokenSource` does). Default off: every call carries the service's token.
   */
  readonly delegate?: boolean | Omit<DelegateOptions, 'tokens' | 'services'>;
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
  if (options.delegate !== undefined && options.delegate !== false) {
    const tokens = options.tokens as TokenSource & Partial<TokenExchanger>;
    if (typeof tokens.exchangeToken !== 'function') {
      throw new TesseraError('ERR_CONFIG_INVALID', 'delegate: tokens cannot exchange tokens');
    }
    // The request context is read when a call is dispatched, so delegate() sits outside the
    // retries (whose attempts may run in another request's async context) and reads it once.
    return agent.compose(
      ...[
        timeout(options.timeout),
        options.retry === false ? undefined : retry(options.retry),
        options.circuitBreaker === false
          ? undefined
          : circuitBreakerPerUpstream(options.circuitBreaker),
        delegate({
          ...(options.delegate === true ? {} : options.delegate),
          tokens: tokens as TokenSource & TokenExchanger,
          services: options.services,
        }),
        trace(),
      ].filter((interceptor) => interceptor !== undefined),
    );
  }
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
