import {
  createVerifier,
  evaluate,
  isPublicRoute,
  isTesseraError,
  publicErrorBody,
  requestContext,
  requestContextWanted,
  systemClock,
  TesseraError,
  traceContextFromHeaders,
  VerifiedTokenCache,
  type AccessTokenVerifier,
  type Caller,
  type Clock,
  type Policy,
  type RequestContext,
  type TesseraErrorCode,
  type TraceContext,
} from '@tessera/core';
import rateLimit, { type FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Registry } from 'prom-client';
import { authorityAuthorization, type AuthorityCredentials } from './authority-credentials.ts';
import { registerPluginMetrics } from './metrics.ts';
import { RemoteJwks } from './remote-jwks.ts';
import { RevocationSync } from './revocation-sync.ts';
import { isAllowedAddress, parseAllowlist, type ParsedAllowlist } from './ip-allowlist.ts';

/** Headers that, in the audited platform, were trusted to say who the caller is. Never again. */
export const DEFAULT_SPOOFABLE_HEADERS: readonly string[] = Object.freeze([
  'x-gateway-internal',
  'x-internal-token',
  'x-internal-service',
  'x-user-id',
  'x-tenant-id',
  'x-service-id',
  'x-service-name',
  'x-forwarded-user',
  'x-authenticated-user',
]);

export interface TesseraPluginOptions {
  /** This service's name in the policy (its SPIFFE ID is `spiffe://<trustDomain>/<service>`). */
  readonly service: string;
  readonly policy: Policy;
  /** Where to fetch keys and revocations. Either this or `verifier`. */
  readonly authority?: {
    /** Base URL of the authority; also the token issuer unless `issuer` says otherwise. */
    readonly url: string;
    readonly issuer?: string;
    /**
     * Required: how this service authenticates to the revocation feed. Its registered private
     * key (`{ privateKey }`: a fresh client assertion per request) or a function returning an
     * access token for the authority. See {@link AuthorityCredentials}.
     */
    readonly credentials: AuthorityCredentials;
  };
  /** A ready verifier (tests, or keys from elsewhere). Revocation freshness is then the caller's business. */
  readonly verifier?: AccessTokenVerifier;
  readonly clock?: Clock;
  /** Identity headers removed before any handler sees them. Default {@link DEFAULT_SPOOFABLE_HEADERS}. */
  readonly spoofableHeaders?: readonly string[];
  /**
   * What happens when the revocation feed has been silent longer than its stale limit (60 s):
   * `fail-closed` (default) refuses every request with `ERR_REVOCATIONS_STALE` until it is back;
   * `serve-stale` keeps verifying against the last known revocations and logs a warning.
   */
  readonly staleRevocations?: 'fail-closed' | 'serve-stale';
  /**
   * Per-caller rate limit (keyed on the verified SPIFFE ID), or `false`. Default 1000 requests per
   * second per caller, counted in memory (`@fastify/rate-limit`'s LRU of 5,000 keys). Counters
   * can live elsewhere, shared by every replica: `redis` takes an ioredis client, `store` any
   * `@fastify/rate-limit` store class.
   */
  readonly rateLimit?:
    | false
    | {
        readonly max: number;
        readonly timeWindowMs: number;
        readonly store?: FastifyRateLimitStoreCtor;
        /** An ioredis client (`@fastify/rate-limit`'s Redis store). */
        readonly redis?: unknown;
      };
  /** Optional extra check: callers listed here may only come from these addresses/CIDRs. */
  readonly ipAllowlist?: Readonly<Record<string, readonly string[]>>;
  /** Where audit events go. Default: the request logger. */
  readonly auditLogger?: FastifyBaseLogger;
  /** Verified-token cache bounds. */
  readonly cache?: { readonly maxEntries?: number; readonly maxBytes?: number };
  /**
   * When to open `requestContext` (the AsyncLocalStorage the client's `trace` interceptor reads):
   * `auto` (default) once anything in the process has asked for it with `useRequestContext()`,
   * which `trace()` does; `always` on every request. `request.traceContext` is set either way.
   */
  readonly requestContext?: 'auto' | 'always';
  /**
   * Where the plugin's gauges go (`tessera_degraded`, `tessera_jwks_stale`,
   * `tessera_revocations_stale`, their ages, `tessera_revocations_streaming`), or `false`.
   * Default: a registry of its own, `app.tessera.metrics`, to merge into the one `/metrics`
   * serves (`Registry.merge`) or to serve beside it.
   */
  readonly metrics?: Registry | false;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified caller; null on public routes and refused requests. Set only by Tessera. */
    caller: Caller | null;
    /** This request's W3C trace context and correlation id (continued or started by Tessera). */
    traceContext: TraceContext | null;
  }
  interface FastifyInstance {
    /** Tessera's runtime state, for health checks and metrics. */
    tessera: TesseraRuntime;
  }
}

/** What the plugin can tell about its own health. */
export interface TesseraRuntime {
  /** True when keys or revocations are older than their stale limits. */
  degraded(): boolean;
  readonly jwks?: RemoteJwks;
  readonly revocations?: RevocationSync;
  /** The registry holding the plugin's gauges, unless `metrics: false`. */
  readonly metrics?: Registry;
}

const STATE = Symbol('tessera.state');

/** Per-request bookkeeping for the audit event; a class so every request has one shape. */
class RequestState {
  decision: 'allow' | 'deny' = 'deny';
  reason: TesseraErrorCode | 'public' | 'ok' = 'ERR_CREDENTIALS_MISSING';
  /** The verified caller, kept for the audit event even when policy refuses it (a 403). */
  caller: Caller | null = null;
  constructor(
    readonly startedAt: number,
    readonly trace: TraceContext,
    /** The matched route pattern, read once (Fastify builds `routeOptions` on every access). */
    readonly route: string | undefined,
  ) {}
}

type StatefulRequest = FastifyRequest & { [STATE]?: RequestState };

function optionsError(detail: string): TesseraError {
  return new TesseraError('ERR_CONFIG_INVALID', `@tessera/fastify: ${detail}`);
}

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** RFC 6750 §2.2/§2.3: tokens in a form body or the query string are refused, and so are cookies. */
function credentialsInWrongPlace(request: FastifyRequest): boolean {
  const url = request.raw.url ?? '';
  const query = url.indexOf('?');
  if (query !== -1 && /(?:^|&)access_token=/i.test(url.slice(query + 1))) return true;
  const cookie = request.headers.cookie;
  return (
    typeof cookie === 'string' && /(?:^|;\s*)(access_token|token|authorization)=/i.test(cookie)
  );
}

function tesseraPlugin(
  app: FastifyInstance,
  options: TesseraPluginOptions,
  done: (error?: Error) => void,
): void {
  try {
    register(app, options);
    done();
  } catch (error) {
    done(error as Error);
  }
}

function register(app: FastifyInstance, options: TesseraPluginOptions): void {
  // Options may come from JavaScript callers or config files: check what the types promise.
  const raw = options as Partial<Record<keyof TesseraPluginOptions, unknown>>;
  if (typeof raw.service !== 'string' || raw.service === '') {
    throw optionsError('service is required');
  }
  if (typeof raw.policy !== 'object' || raw.policy === null) {
    throw optionsError('policy is required (parsePolicy)');
  }
  const { policy, service } = options;
  const serviceEntry = policy.services.find((s) => s.name === service);
  if (serviceEntry === undefined) throw optionsError(`service "${service}" is not in the policy`);
  if ((options.authority === undefined) === (options.verifier === undefined)) {
    throw optionsError('give exactly one of authority and verifier');
  }
  const clock = options.clock ?? systemClock;
  const staleMode = raw.staleRevocations ?? 'fail-closed';
  if (staleMode !== 'fail-closed' && staleMode !== 'serve-stale') {
    throw optionsError('staleRevocations is fail-closed or serve-stale');
  }
  const spoofable = (options.spoofableHeaders ?? DEFAULT_SPOOFABLE_HEADERS).map((h) =>
    h.toLowerCase(),
  );
  const allowlist: ParsedAllowlist | undefined =
    options.ipAllowlist === undefined ? undefined : parseAllowlist(options.ipAllowlist);
  const auditLogger = options.auditLogger;
  const contextMode = raw.requestContext ?? 'auto';
  if (contextMode !== 'auto' && contextMode !== 'always') {
    throw optionsError('requestContext is auto or always');
  }
  const contextAlways = contextMode === 'always';

  let verifier: AccessTokenVerifier;
  let jwks: RemoteJwks | undefined;
  let revocations: RevocationSync | undefined;
  const { authority, verifier: givenVerifier } = options;
  if (givenVerifier !== undefined) {
    verifier = givenVerifier;
  } else if (authority !== undefined) {
    const issuer = authority.issuer ?? authority.url.replace(/\/$/, '');
    const tokenCache = new VerifiedTokenCache(options.cache ?? {});
    const remoteKeys = new RemoteJwks({
      url: new URL('/.well-known/jwks.json', authority.url).toString(),
      clock,
      // A key that left the JWKS (an emergency `keys rotate --revoke-previous`) must take the
      // tokens it signed with it, including those already verified and cached.
      onKeysRemoved: (kids) => {
        tokenCache.clear();
        app.log.warn({ kids }, 'tessera: signing keys withdrawn; verified-token cache cleared');
      },
      onError: (err) => {
        app.log.warn({ err: String(err) }, 'tessera: JWKS fetch failed; using cached keys');
      },
    });
    const authorization = authorityAuthorization(
      (authority as { credentials?: unknown }).credentials,
      { clientId: serviceEntry.spiffeId, issuer, clock },
    );
    const sync = new RevocationSync({
      authorityUrl: authority.url,
      clock,
      authorization,
      onError: (err) => {
        app.log.warn({ err: String(err) }, 'tessera: revocation feed unavailable');
      },
      onStateChange: (state) => {
        app.log.info({ state }, 'tessera: revocation feed state');
      },
    });
    verifier = createVerifier({
      issuer,
      audience: serviceEntry.spiffeId,
      keys: remoteKeys,
      clock,
      revocations: sync.revocations,
      trustDomain: policy.trustDomain,
      cache: tokenCache,
    });
    // The JWKS is refetched when its max-age (at most 5 min) has passed, so withdrawn keys stop
    // verifying within one cache lifetime; the timer only checks, fetching is rare.
    let refresher: NodeJS.Timeout | undefined;
    app.addHook('onReady', async () => {
      await remoteKeys.refresh();
      await sync.start();
      refresher = setInterval(() => {
        if (remoteKeys.isDue()) void remoteKeys.refresh();
      }, 1000);
      refresher.unref();
    });
    app.addHook('onClose', (_instance, closed) => {
      clearInterval(refresher);
      sync.stop();
      closed();
    });
    jwks = remoteKeys;
    revocations = sync;
  } else {
    throw optionsError('give exactly one of authority and verifier');
  }

  if (raw.metrics !== undefined && raw.metrics !== false && !(raw.metrics instanceof Registry)) {
    throw optionsError('metrics is a prom-client Registry or false');
  }
  const metrics = options.metrics === false ? undefined : (options.metrics ?? new Registry());
  const runtime: TesseraRuntime = {
    degraded: () => (jwks?.isStale() ?? false) || (revocations?.isStale() ?? false),
    ...(jwks !== undefined ? { jwks } : {}),
    ...(revocations !== undefined ? { revocations } : {}),
    ...(metrics !== undefined ? { metrics } : {}),
  };
  if (metrics !== undefined) registerPluginMetrics(metrics, runtime);
  app.decorate('tessera', runtime);
  app.decorateRequest('caller', null);
  app.decorateRequest('traceContext', null);

  function refuse(state: RequestState, reply: FastifyReply, code: TesseraErrorCode): void {
    state.decision = 'deny';
    state.reason = code;
    const error = new TesseraError(code);
    if (error.status === 401) {
      // RFC 6750 §3: no error attribute when no credentials were presented at all.
      reply.header(
        'www-authenticate',
        code === 'ERR_CREDENTIALS_MISSING'
          ? 'Bearer realm="tessera"'
          : 'Bearer realm="tessera", error="invalid_token"',
      );
    } else if (error.status === 403) {
      reply.header('www-authenticate', 'Bearer realm="tessera", error="insufficient_scope"');
    }
    void reply.code(error.status).send(publicErrorBody(code));
  }

  /**
   * Continues into the handler, inside a `requestContext` when anything reads one (the client's
   * `trace` interceptor, or `useRequestContext()`): on Node 20 an AsyncLocalStorage in use puts
   * an async hook on every promise, which a service that makes no outbound calls need not pay.
   */
  function proceed(
    request: FastifyRequest,
    state: RequestState,
    caller: Caller | null,
    done: () => void,
  ): void {
    request.caller = caller;
    state.decision = 'allow';
    if (contextAlways || requestContextWanted()) {
      const context: RequestContext =
        caller === null ? { trace: state.trace } : { trace: state.trace, caller };
      requestContext.run(context, done);
    } else {
      done();
    }
  }

  /** Policy, then the optional address check, for a verified caller. */
  function authorize(
    request: FastifyRequest,
    reply: FastifyReply,
    state: RequestState,
    caller: Caller,
    done: () => void,
  ): void {
    state.caller = caller;
    // An unmatched route (404) needs a valid token like any other, but there is no rule to apply.
    const route = state.route;
    if (route !== undefined) {
      const decision = evaluate(policy, caller, service, request.method, route);
      if (!decision.allow) {
        refuse(state, reply, decision.code);
        return;
      }
    }
    if (allowlist !== undefined && !isAllowedAddress(allowlist, caller.spiffeId, request.ip)) {
      refuse(state, reply, 'ERR_IP_NOT_ALLOWED');
      return;
    }
    state.reason = 'ok';
    proceed(request, state, caller, done);
  }

  /** A `kid` we have not seen: the authority may have rotated. Refetch (rate-limited), retry once. */
  function verifyAfterKeyRefresh(
    keys: RemoteJwks,
    token: string,
    request: FastifyRequest,
    reply: FastifyReply,
    state: RequestState,
    done: () => void,
  ): void {
    keys.refreshForUnknownKid().then(
      () => {
        let caller: Caller;
        try {
          caller = verifier.verify(token);
        } catch (error) {
          refuse(state, reply, isTesseraError(error) ? error.code : 'ERR_INTERNAL');
          return;
        }
        authorize(request, reply, state, caller, done);
      },
      () => {
        refuse(state, reply, 'ERR_TOKEN_KID_UNKNOWN');
      },
    );
  }

  /** Whether a route pattern and method are public, remembered: patterns are a fixed set. */
  const publicRoutes = new Map<string, Map<string, boolean>>();
  function isPublic(method: string, route: string): boolean {
    let byMethod = publicRoutes.get(route);
    if (byMethod === undefined) {
      byMethod = new Map();
      publicRoutes.set(route, byMethod);
    }
    let known = byMethod.get(method);
    if (known === undefined) {
      known = isPublicRoute(policy, service, method, route);
      byMethod.set(method, known);
    }
    return known;
  }

  // The hot path: every request of the app passes here, so no closures or throwaway objects.
  app.addHook('onRequest', (request: StatefulRequest, reply, done) => {
    const headers = request.headers;
    for (const name of spoofable) if (name in headers) Reflect.deleteProperty(headers, name);
    const trace = traceContextFromHeaders(headers);
    // Authorization is decided on the route pattern Fastify matched, never the raw URL.
    const route = request.routeOptions.url;
    const state = new RequestState(clock.now(), trace, route);
    request[STATE] = state;
    request.traceContext = trace;
    reply.header('x-correlation-id', trace.correlationId);

    if (route !== undefined && isPublic(request.method, route)) {
      state.reason = 'public';
      proceed(request, state, null, done);
      return;
    }
    if (credentialsInWrongPlace(request)) {
      refuse(state, reply, 'ERR_CREDENTIALS_LOCATION');
      return;
    }
    const header = headers.authorization;
    const match = typeof header === 'string' ? BEARER.exec(header) : null;
    if (match === null) {
      refuse(
        state,
        reply,
        typeof header === 'string' ? 'ERR_TOKEN_MALFORMED' : 'ERR_CREDENTIALS_MISSING',
      );
      return;
    }
    if (revocations?.isStale() === true) {
      if (staleMode === 'fail-closed') {
        refuse(state, reply, 'ERR_REVOCATIONS_STALE');
        return;
      }
      request.log.warn(
        'tessera: revocation state is stale; serving (staleRevocations: serve-stale)',
      );
    }
    const token = match[1] ?? '';
    let caller: Caller;
    try {
      caller = verifier.verify(token);
    } catch (error) {
      if (!isTesseraError(error)) throw error;
      if (error.code === 'ERR_TOKEN_KID_UNKNOWN' && jwks !== undefined) {
        verifyAfterKeyRefresh(jwks, token, request, reply, state, done);
      } else {
        refuse(state, reply, error.code);
      }
      return;
    }
    authorize(request, reply, state, caller, done);
  });

  // Exactly one audit event per request, allowed or denied, after the response is sent.
  app.addHook('onResponse', (request: StatefulRequest, reply, done) => {
    const state = request[STATE];
    if (state !== undefined) {
      const caller = state.caller;
      const status = reply.statusCode;
      (auditLogger ?? request.log).info(
        {
          event: 'tessera.request',
          caller:
            caller === null ? null : caller.kind === 'delegated' ? caller.user : caller.spiffeId,
          actor: caller?.kind === 'delegated' ? caller.spiffeId : null,
          jti: caller?.jti ?? null,
          route: state.route ?? null,
          method: request.method,
          decision: state.decision === 'allow' && status < 400 ? 'allow' : 'deny',
          reason: state.reason,
          status,
          durationMs: clock.now() - state.startedAt,
          correlationId: state.trace.correlationId,
          traceId: state.trace.traceId,
        },
        'tessera request',
      );
    }
    done();
  });

  if (options.rateLimit !== false) {
    const limit = options.rateLimit ?? { max: 1000, timeWindowMs: 1000 };
    if (
      !Number.isSafeInteger(limit.max) ||
      limit.max < 1 ||
      !Number.isSafeInteger(limit.timeWindowMs) ||
      limit.timeWindowMs < 1
    ) {
      throw optionsError('rateLimit needs positive integers max and timeWindowMs');
    }
    if (limit.store !== undefined && typeof limit.store !== 'function') {
      throw optionsError('rateLimit.store is a @fastify/rate-limit store class');
    }
    if (limit.redis !== undefined && (typeof limit.redis !== 'object' || limit.redis === null)) {
      throw optionsError('rateLimit.redis is an ioredis client');
    }
    void app.register(rateLimit, {
      global: true,
      ...(limit.store !== undefined ? { store: limit.store } : {}),
      ...(limit.redis !== undefined ? { redis: limit.redis } : {}),
      // After authentication: the key is the verified caller, never a header it could vary.
      hook: 'preHandler',
      max: limit.max,
      timeWindow: limit.timeWindowMs,
      keyGenerator: (request) => request.caller?.spiffeId ?? `ip:${request.ip}`,
      errorResponseBuilder: () => ({ ...publicErrorBody('ERR_RATE_LIMITED'), statusCode: 429 }),
      addHeadersOnExceeding: {
        'x-ratelimit-limit': false,
        'x-ratelimit-remaining': false,
        'x-ratelimit-reset': false,
      },
    });
  }
}

/**
 * Tessera for Fastify. One registration protects the whole app: every request is authenticated
 * (bearer access token, verified locally) and authorized on its matched route pattern against
 * the policy, deny by default; spoofable identity headers are dropped; each request produces
 * exactly one audit event.
 *
 * @example
 * ```ts
 * await app.register(tessera, {
 *   service: 'billing',
 *   policy: parsePolicy(readFileSync('policy.yaml', 'utf8')),
 *   authority: {
 *     url: 'http://127.0.0.1:7700',
 *     // The key registered for billing: the revocation feed needs a credential.
 *     credentials: { privateKey: createPrivateKey(readFileSync('billing.key', 'utf8')) },
 *   },
 * });
 * app.get('/whoami', (request) => request.caller);
 * ```
 */
export const tessera = fp(tesseraPlugin, { fastify: '5.x', name: '@tessera/fastify' });
