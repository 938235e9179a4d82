import {
  formatTraceparent,
  requestContext,
  useRequestContext,
  traceContextFromHeaders,
  TesseraError,
} from '@tessera/core';
import {
  ConsecutiveBreaker,
  circuitBreaker,
  CircuitState,
  handleAll,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import type * as OpenTelemetry from '@opentelemetry/api';
import { interceptors, type Dispatcher } from 'undici';
import { headerRecord, originOf } from './headers.ts';
import type { ServiceMap } from './service-map.ts';
import type { TokenSource } from './token-source.ts';

export type Interceptor = Dispatcher.DispatcherComposeInterceptor;

/**
 * Attaches the calling service's own access token for the target, resolved from the service
 * map by origin. Credentials go only to mapped origins; any `authorization` header the caller
 * set is replaced, so a user's token is never forwarded as a service credential (the seed
 * audits' finding). A token failure fails the request; the token itself never appears in an error.
 */
export function auth(options: {
  readonly tokens: TokenSource;
  readonly services: ServiceMap;
}): Interceptor {
  return (dispatch) => (opts, handler) => {
    const origin = originOf(opts);
    const target = origin === undefined ? undefined : options.services.get(origin);
    if (target === undefined) return dispatch(opts, handler);
    options.tokens.getToken(target.spiffeId, target.scopes).then(
      (token) => {
        const headers = headerRecord(opts.headers);
        headers.authorization = `Bearer ${token}`;
        dispatch({ ...opts, headers }, handler);
      },
      (error: unknown) => {
        handler.onResponseError?.(
          null as unknown as Dispatcher.DispatchController,
          error instanceof TesseraError
            ? error
            : new TesseraError('ERR_UNAVAILABLE', 'no token for the upstream'),
        );
      },
    );
    return true;
  };
}

type OpenTelemetryApi = typeof OpenTelemetry;

/**
 * `@opentelemetry/api` when the application has it installed (an optional peer dependency);
 * loaded once. Without an SDK registered it has no active span and Tessera's own propagation
 * is used.
 */
const openTelemetry: OpenTelemetryApi | undefined = await import('@opentelemetry/api').catch(
  () => undefined,
);

/**
 * Propagates W3C `traceparent`/`tracestate` and `x-correlation-id` from the inbound request
 * (the context `@tessera/fastify` opens), as the parent of a new span for this call; starts a new
 * trace when there is no inbound request. When an OpenTelemetry SDK is active (there is an active
 * span), its configured propagator writes the trace headers instead, so Tessera's hops join the
 * application's traces; `x-correlation-id` is still Tessera's.
 */
export function trace(
  options: { readonly openTelemetry?: OpenTelemetryApi | false } = {},
): Interceptor {
  const otel =
    options.openTelemetry === false ? undefined : (options.openTelemetry ?? openTelemetry);
  useRequestContext();
  return (dispatch) => (opts, handler) => {
    const headers = headerRecord(opts.headers);
    if (otel?.trace.getActiveSpan() !== undefined) {
      const inbound = requestContext.getStore()?.trace;
      otel.propagation.inject(otel.context.active(), headers);
      headers['x-correlation-id'] =
        inbound?.correlationId ?? traceContextFromHeaders(headers).correlationId;
      return dispatch({ ...opts, headers }, handler);
    }
    const current = requestContext.getStore()?.trace ?? traceContextFromHeaders(headers);
    headers.traceparent = formatTraceparent({
      traceId: current.traceId,
      spanId: current.spanId,
      flags: current.flags,
    });
    if (current.tracestate !== undefined) headers.tracestate = current.tracestate;
    else delete headers.tracestate;
    headers['x-correlation-id'] = current.correlationId;
    return dispatch({ ...opts, headers }, handler);
  };
}

/** Per-request timeouts unless the caller set its own. */
export function timeout(
  options: { readonly headersMs?: number; readonly bodyMs?: number } = {},
): Interceptor {
  const headersTimeout = options.headersMs ?? 5000;
  const bodyTimeout = options.bodyMs ?? 10_000;
  return (dispatch) => (opts, handler) =>
    dispatch({ headersTimeout, bodyTimeout, ...opts }, handler);
}

/** Methods a retry cannot turn into a second side effect (RFC 9110 §9.2.2). */
export const IDEMPOTENT_METHODS = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'] as const;
const RETRY_STATUSES = [429, 502, 503, 504] as const;
const RETRY_ERROR_CODES = [
  'ECONNRESET',
  'ECONNREFUSED',
  'ENETDOWN',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EHOSTUNREACH',
  'EPIPE',
  'UND_ERR_SOCKET',
] as const;

/**
 * Bounded retries of idempotent requests on 429/502/503/504 and connection errors: exponential
 * backoff with full jitter, honouring `Retry-After` (capped at `maxDelayMs`).
 */
export function retry(
  options: {
    readonly maxRetries?: number;
    readonly baseDelayMs?: number;
    readonly maxDelayMs?: number;
    readonly random?: () => number;
  } = {},
): Interceptor {
  const maxRetries = options.maxRetries ?? 2;
  const base = options.baseDelayMs ?? 100;
  const cap = options.maxDelayMs ?? 2000;
  const random = options.random ?? Math.random;
  return interceptors.retry({
    maxRetries,
    // Once retries are spent (or not allowed, as for POST), hand back the real response.
    throwOnError: false,
    methods: [...IDEMPOTENT_METHODS],
    statusCodes: [...RETRY_STATUSES],
    errorCodes: [...RETRY_ERROR_CODES],
    retry: (error, { state, opts }, callback) => {
      const { statusCode, code, headers } = error as Error & {
        statusCode?: number;
        code?: string;
        headers?: Record<string, string | string[] | undefined>;
      };
      const method = opts.method.toUpperCase();
      const retryable =
        (IDEMPOTENT_METHODS as readonly string[]).includes(method) &&
        state.counter <= maxRetries &&
        (statusCode !== undefined
          ? (RETRY_STATUSES as readonly number[]).includes(statusCode)
          : code !== undefined && (RETRY_ERROR_CODES as readonly string[]).includes(code));
      if (!retryable) {
        callback(error);
        return null;
      }
      const retryAfter = Number(headers?.['retry-after']);
      const delay =
        Number.isFinite(retryAfter) && retryAfter > 0
          ? Math.min(retryAfter * 1000, cap)
          : random() * Math.min(cap, base * 2 ** (state.counter - 1));
      setTimeout(() => {
        callback(null);
      }, delay).unref();
      return null;
    },
  });
}

/** Raised (as the request's error) while an upstream's circuit is open. */
export class CircuitOpenError extends Error {
  override readonly name = 'CircuitOpenError';
  readonly code = 'ERR_UNAVAILABLE';
  constructor(readonly origin: string) {
    super('upstream circuit is open');
  }
}

class UpstreamFailure extends Error {}

/**
 * A circuit breaker per upstream origin (cockatiel): after `consecutiveFailures` errors or 5xx
 * responses in a row, calls fail fast for `halfOpenAfterMs`, then one trial call decides.
 */
export function circuitBreakerPerUpstream(
  options: { readonly consecutiveFailures?: number; readonly halfOpenAfterMs?: number } = {},
): Interceptor & { breakerFor(origin: string): CircuitBreakerPolicy } {
  const breakers = new Map<string, CircuitBreakerPolicy>();
  const breakerFor = (origin: string) => {
    let breaker = breakers.get(origin);
    if (breaker === undefined) {
      breaker = circuitBreaker(handleAll, {
        halfOpenAfter: options.halfOpenAfterMs ?? 10_000,
        breaker: new ConsecutiveBreaker(options.consecutiveFailures ?? 5),
      });
      breakers.set(origin, breaker);
    }
    return breaker;
  };
  const interceptor: Interceptor = (dispatch) => (opts, handler) => {
    const origin = originOf(opts) ?? 'unknown';
    const breaker = breakerFor(origin);
    if (breaker.state === CircuitState.Open) {
      handler.onResponseError?.(
        null as unknown as Dispatcher.DispatchController,
        new CircuitOpenError(origin),
      );
      return true;
    }
    breaker
      .execute(
        () =>
          new Promise<void>((resolve, reject) => {
            let failed = false;
            dispatch(opts, {
              onRequestStart: (controller, context: unknown) =>
                handler.onRequestStart?.(controller, context),
              onRequestUpgrade: (controller, statusCode, headers, socket) =>
                handler.onRequestUpgrade?.(controller, statusCode, headers, socket),
              onResponseStart: (controller, statusCode, headers, statusMessage) => {
                failed = statusCode >= 500;
                handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
              },
              onResponseData: (controller, chunk) => handler.onResponseData?.(controller, chunk),
              onResponseEnd: (controller, trailers) => {
                handler.onResponseEnd?.(controller, trailers);
                if (failed) reject(new UpstreamFailure('5xx'));
                else resolve();
              },
              onResponseError: (controller, error) => {
                handler.onResponseError?.(controller, error);
                reject(new UpstreamFailure('error'));
              },
            });
          }),
      )
      .catch((error: unknown) => {
        // Failures were already reported through the handler; only a circuit that opened while
        // this call waited still needs reporting.
        if (!(error instanceof UpstreamFailure)) {
          handler.onResponseError?.(
            null as unknown as Dispatcher.DispatchController,
            new CircuitOpenError(origin),
          );
        }
      });
    return true;
  };
  return Object.assign(interceptor, { breakerFor });
}
