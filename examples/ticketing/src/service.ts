import {
  isTesseraError,
  publicErrorBody,
  type Caller,
  mintClientAssertion,
  serviceSpiffeId,
  systemClock,
  type Policy,
  type TraceContext,
} from '@tessera/core';
import type { KeyRotation, WorkloadIdentity } from '@tessera/client';
import { tessera, tesseraHttpsOptions, type UsersOptions } from '@tessera/fastify';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Server as TlsServer } from 'node:tls';
import pino from 'pino';
import type { UpstreamResponse } from './upstreams.ts';

/**
 * What one service saw of a request: who called it, for whom, and the trace context it continued.
 */
export interface Hop {
  readonly service: string;
  /**
   * The acting service's SPIFFE ID (for a delegated caller, the nearest actor); null when an end
   * user calls the edge directly.
   */
  readonly caller: string | null;
  /** The end user behind the call (`sub` of the verified token), or null. */
  readonly user: string | null;
  /** The user's tenant, from the verified token only, or null. */
  readonly tenant: string | null;
  /** A delegated caller's actor chain, SPIFFE IDs nearest first; empty otherwise. */
  readonly actors: readonly string[];
  /** Who acts for whom, for people: `billing: alice@acme via event-service ← api-gateway`. */
  readonly who: string;
  readonly traceId: string;
  readonly spanId: string;
  /** The span of the hop that called this one (from its `traceparent`). */
  readonly parentSpanId: string | null;
  readonly correlationId: string;
}

/** Sees each request exactly as its route handler will (after Tessera has run). For tests. */
export type HandlerObserver = (service: string, request: FastifyRequest) => void;

export interface ServiceOptions {
  readonly policy: Policy;
  readonly authorityUrl: string;
  /**
   * The service's registered key, rotating: its current key signs the plugin's client assertions
   * to the revocation feed.
   */
  readonly key: KeyRotation;
  readonly host: string;
  readonly port: number;
  /** Where this service's log, including one Tessera audit event per request, is written. */
  readonly logFile: string;
  readonly observe?: HandlerObserver;
  /**
   * The mTLS demo: the service's X.509-SVID from the authority. It serves HTTPS with a client
   * certificate required, trusting only the trust domain's bundle, and the plugin takes the
   * caller from that certificate (`mtls` mode, the same policy); a bearer token, when sent too,
   * must name the same service.
   */
  readonly identity?: WorkloadIdentity | undefined;
  /** The authority's CA bundle (PEM), when the authority serves HTTPS. */
  readonly authorityCa?: string | undefined;
  /**
   * The edge: end users' tokens of this OpenID provider are verified on the routes whose policy
   * admits users. Over mTLS a client certificate becomes optional here (a browser or curl has
   * none): without one, the bearer token names the caller; with one, it must be a valid SVID.
   */
  readonly users?: UsersOptions | undefined;
}

export interface RunningService {
  readonly name: string;
  readonly url: string;
  close(): Promise<void>;
}

/** The last segment of a workload SPIFFE ID: the service name within the trust domain. */
function nameOf(spiffeId: string): string {
  return spiffeId.slice(spiffeId.lastIndexOf('/') + 1);
}

/**
 * Who acts for whom, in one line: `alice@acme via event-service ← api-gateway` (actors nearest
 * first), `alice@acme (user token)` at the edge, `event-service (as itself)`, `anonymous`.
 */
export function describeCaller(caller: Caller | null | undefined): string {
  if (caller === null || caller === undefined) return 'anonymous';
  if (caller.kind === 'service') return `${nameOf(caller.spiffeId)} (as itself)`;
  const user = caller.tenant === undefined ? caller.user : `${caller.user}@${caller.tenant}`;
  if (caller.kind === 'user') return `${user} (user token)`;
  return `${user} via ${caller.actors.map(nameOf).join(' ← ')}`;
}

/**
 * This hop, from the verified caller and the trace context `@tessera/fastify` opened; also logs
 * who acts for whom (the plugin's audit event has the same fields).
 */
export function hopOf(service: string, request: FastifyRequest): Hop {
  // Undefined, not null, when the plugin was never registered on this app.
  const trace = request.traceContext as TraceContext | null | undefined;
  if (trace === null || trace === undefined) {
    throw new Error('no Tessera trace context: is the plugin registered?');
  }
  const caller = request.caller;
  const hop: Hop = {
    service,
    caller: caller?.spiffeId ?? null,
    user: caller !== null && caller.kind !== 'service' ? caller.user : null,
    tenant: caller?.tenant ?? null,
    actors: caller?.kind === 'delegated' ? [...caller.actors] : [],
    who: `${service}: ${describeCaller(caller)}`,
    traceId: trace.traceId,
    spanId: trace.spanId,
    parentSpanId: trace.parentSpanId ?? null,
    correlationId: trace.correlationId,
  };
  request.log.info({ user: hop.user, tenant: hop.tenant, actors: hop.actors }, hop.who);
  return hop;
}

/**
 * The 403 for a caller of another tenant than the record it asks for (the tenant is in the
 * record, not the path, so the policy's `tenant` rule cannot see it). The reason is in the log.
 */
export function otherTenant(
  request: FastifyRequest,
  reply: FastifyReply,
  record: Readonly<Record<string, string>>,
): FastifyReply {
  request.log.warn(
    { reason: 'ERR_POLICY_TENANT', ...record, callerTenant: request.caller?.tenant ?? null },
    'record of another tenant refused',
  );
  return reply.code(403).send(publicErrorBody('ERR_POLICY_TENANT'));
}

function hopsOf(body: unknown): { rest: Record<string, unknown>; hops: unknown[] } | undefined {
  if (typeof body !== 'object' || body === null || !('hops' in body)) return undefined;
  const { hops, ...rest } = body as Record<string, unknown>;
  return Array.isArray(hops) ? { rest, hops } : undefined;
}

/**
 * Answers with what an upstream answered, this hop first in `hops`. A 400 or 404 passes through
 * as it came; anything else that went wrong upstream is this service's 503, with the reason in
 * the log and not on the wire.
 */
export function relay(
  request: FastifyRequest,
  reply: FastifyReply,
  hop: Hop,
  upstream: UpstreamResponse,
): FastifyReply {
  const parsed = hopsOf(upstream.body);
  if (upstream.status >= 200 && upstream.status < 300 && parsed !== undefined) {
    return reply.code(upstream.status).send({ ...parsed.rest, hops: [hop, ...parsed.hops] });
  }
  if (upstream.status === 400 || upstream.status === 404) {
    return reply.code(upstream.status).send(upstream.body);
  }
  if (
    upstream.status === 403 &&
    (upstream.body as { code?: unknown } | undefined)?.code === 'ERR_POLICY_TENANT'
  ) {
    // The user asked for another tenant's record: theirs to hear, with the same generic body.
    request.log.info(
      { upstreamStatus: 403, reason: 'ERR_POLICY_TENANT' },
      'upstream refused the user',
    );
    return reply.code(403).send(publicErrorBody('ERR_POLICY_TENANT'));
  }
  if (upstream.status === 401 || upstream.status === 403) {
    // The upstream refused this service's own credentials: the registry and the policy disagree,
    // or the token was revoked. An operator must look, so it is an error, not a warning.
    request.log.error({ upstreamStatus: upstream.status }, 'upstream refused our credentials');
    return reply.code(503).send(publicErrorBody('ERR_UNAVAILABLE'));
  }
  request.log.warn({ upstreamStatus: upstream.status }, 'upstream call failed');
  return reply.code(503).send(publicErrorBody('ERR_UNAVAILABLE'));
}

/** The 503 for an upstream that could not be reached at all (or no token could be had for it). */
export function unavailable(
  request: FastifyRequest,
  reply: FastifyReply,
  error: unknown,
): FastifyReply {
  if (isTesseraError(error) && error.code === 'ERR_DELEGATION_REFUSED') {
    // The authority would not let this service act for the user towards that upstream (its
    // error name is in the detail): the user's call is refused, nothing falls back to our token.
    request.log.warn({ err: error.code, detail: error.detail }, 'token exchange refused');
    return reply.code(403).send(publicErrorBody('ERR_DELEGATION_REFUSED'));
  }
  request.log.warn(
    { err: isTesseraError(error) ? error.code : String(error) },
    'upstream call failed',
  );
  return reply.code(503).send(publicErrorBody('ERR_UNAVAILABLE'));
}

/**
 * Starts a Fastify app protected by Tessera: every route, unmatched ones included, goes through
 * the plugin first; `GET /whoami` answers with the verified caller. Logs (and the audit events)
 * go to `logFile` so the console stays readable; replies are indented JSON for reading with curl.
 * `release` runs after the app has closed (the service's outbound connections).
 */
export async function startService(
  name: string,
  options: ServiceOptions,
  routes: (app: FastifyInstance) => void,
  release: () => Promise<void> = () => Promise.resolve(),
): Promise<RunningService> {
  const destination = pino.destination({ dest: options.logFile, sync: true, mkdir: true });
  const logger: FastifyBaseLogger = pino({ name, level: 'info' }, destination);
  const { identity } = options;
  const edge = options.users !== undefined;
  const app = Fastify({
    loggerInstance: logger,
    // One Tessera audit event per request is the request log; Fastify's own two would repeat it.
    logController: new LogController({ disableRequestLogging: true }),
    // null: plain HTTP (the http demo). The edge takes users without certificates; every other
    // service refuses a client without one in the handshake.
    https:
      identity === undefined
        ? null
        : edge
          ? tesseraHttpsOptions(identity, { clientCertificate: 'optional' })
          : tesseraHttpsOptions(identity),
  }) as unknown as FastifyInstance;
  // Renewed SVIDs and bundle changes reach new handshakes without a restart.
  const detach = identity?.attachServer(app.server as unknown as TlsServer);
  const close = async () => {
    detach?.();
    try {
      await app.close();
      await release();
    } finally {
      destination.end();
    }
  };
  try {
    app.setReplySerializer((payload) => `${JSON.stringify(payload, null, 2)}\n`);
    app.setNotFoundHandler((_request, reply) =>
      reply.code(404).send(publicErrorBody('ERR_NOT_FOUND')),
    );
    app.setErrorHandler(
      (error: Error & { statusCode?: number; validation?: unknown }, request, reply) => {
        if (error.statusCode === 429) {
          return reply.code(429).send(publicErrorBody('ERR_RATE_LIMITED'));
        }
        if (error.validation !== undefined || (error.statusCode ?? 500) < 500) {
          request.log.info({ err: error.message }, 'request refused');
          return reply.code(400).send(publicErrorBody('ERR_REQUEST_INVALID'));
        }
        request.log.error({ err: error }, 'request failed');
        return reply.code(500).send(publicErrorBody('ERR_INTERNAL'));
      },
    );
    await app.register(tessera, {
      service: name,
      policy: options.policy,
      authority: {
        url: options.authorityUrl,
        // A fresh client assertion per feed request, signed with the key current at the time.
        credentials: () =>
          mintClientAssertion(
            {
              clientId: serviceSpiffeId(options.policy.trustDomain, name),
              audience: options.authorityUrl.replace(/\/$/, ''),
            },
            { key: options.key.current(), clock: systemClock },
          ),
        ...(options.authorityCa !== undefined ? { ca: options.authorityCa } : {}),
      },
      ...(identity !== undefined ? { mtls: { mode: edge ? 'optional' : 'required' } } : {}),
      ...(options.users !== undefined ? { users: options.users } : {}),
    });
    const { observe } = options;
    if (observe !== undefined) {
      app.addHook('preHandler', (request, _reply, done) => {
        observe(name, request);
        done();
      });
    }
    // The verified caller, never the request headers: what the service knows, not what it was told.
    app.get('/whoami', (request) => ({ service: name, caller: request.caller }));
    routes(app);
    await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    await close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const scheme = identity === undefined ? 'http' : 'https';
  return { name, url: `${scheme}://${options.host}:${port}`, close };
}
