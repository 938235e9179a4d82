import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics. Labels are closed sets (grant, reason code, route pattern): never a token,
 * a client assertion or anything else a caller controls.
 */
export interface AuthorityMetrics {
  readonly registry: Registry;
  readonly tokensIssued: Counter<'grant_type'>;
  /** X.509-SVIDs issued, by how the caller authenticated. */
  readonly svidsIssued: Counter<'auth_method'>;
  readonly failures: Counter<'endpoint' | 'reason'>;
  /** Client-authentication keys a service rotated itself (`POST /v1/service/keys`). */
  readonly clientKeysRotated: Counter<'auth_method'>;
  readonly requestDuration: Histogram<'route' | 'method' | 'status'>;
}

export function createMetrics(): AuthorityMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tessera_authority_' });
  return {
    registry,
    tokensIssued: new Counter({
      name: 'tessera_authority_tokens_issued_total',
      help: 'Access tokens issued',
      labelNames: ['grant_type'],
      registers: [registry],
    }),
    svidsIssued: new Counter({
      name: 'tessera_authority_svids_issued_total',
      help: 'X.509-SVIDs issued, by client authentication method',
      labelNames: ['auth_method'],
      registers: [registry],
    }),
    clientKeysRotated: new Counter({
      name: 'tessera_authority_client_keys_rotated_total',
      help: 'Client-authentication keys rotated by their service, by client authentication method',
      labelNames: ['auth_method'],
      registers: [registry],
    }),
    failures: new Counter({
      name: 'tessera_authority_failures_total',
      help: 'Refused requests by endpoint and reason code',
      labelNames: ['endpoint', 'reason'],
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: 'tessera_authority_request_duration_seconds',
      help: 'Request latency by route pattern',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
  };
}
