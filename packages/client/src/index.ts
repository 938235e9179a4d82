/**
 * @tessera/client — the outbound side: a token source and undici interceptors a service
 * composes onto its dispatcher, so every call carries its own short-lived credential and the
 * trace context, with timeouts, bounded retries and a circuit breaker per upstream.
 *
 * @example
 * ```ts
 * const tokens = new ClientCredentialsTokenSource({ authorityUrl, clientId, key });
 * const services = createServiceMap({ billing: { url: 'http://127.0.0.1:7703', scopes: ['invoices:write'] } },
 *   { trustDomain: 'tessera.local' });
 * // compose() makes the last interceptor the outermost.
 * const dispatcher = new Agent().compose(auth({ tokens, services }), timeout(), retry(), circuitBreakerPerUpstream(), trace());
 * await request('http://127.0.0.1:7703/invoices', { method: 'POST', dispatcher, body: '{}' });
 * ```
 */
export {
  ClientCredentialsTokenSource,
  TOKEN_EXCHANGE_GRANT_TYPE,
  ACCESS_TOKEN_TYPE,
  type TokenSource,
  type TokenSourceOptions,
  type TokenExchanger,
  type ExchangedToken,
} from './token-source.ts';
export { delegate, type DelegateOptions } from './delegate.ts';
export {
  createKeyRotation,
  type KeyRotation,
  type KeyRotationOptions,
  type ClientKey,
  type CurrentSigningKey,
} from './key-rotation.ts';
export {
  createServiceMap,
  type ServiceEntry,
  type ServiceMap,
  type ResolvedService,
} from './service-map.ts';
export {
  auth,
  trace,
  timeout,
  retry,
  circuitBreakerPerUpstream,
  CircuitOpenError,
  IDEMPOTENT_METHODS,
  type Interceptor,
} from './interceptors.ts';
export { createServiceDispatcher, type ServiceDispatcherOptions } from './dispatcher.ts';
export {
  createWorkloadIdentity,
  WorkloadIdentity,
  type WorkloadIdentityOptions,
  type WorkloadIdentityEvents,
  type WorkloadIdentityLogger,
  type WorkloadCredentials,
} from './workload-identity.ts';
