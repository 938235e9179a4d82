import {
  admitsUsers,
  assertSecureUrl,
  createUserTokenVerifier,
  createVerifier,
  KeySet,
  parseUserJwks,
  evaluate,
  httpStatusFor,
  isPublicRoute,
  isTesseraError,
  publicErrorBody,
  requestContext,
  requestContextWanted,
  SPOOFABLE_HEADERS,
  systemClock,
  TesseraError,
  traceContextFromHeaders,
  VerifiedTokenCache,
  type AccessTokenVerifier,
  type Caller,
  type KeyResolver,
  type UserTokenAlgorithm,
  type UserTokenVerifier,
  type UserVerificationKey,
  type Clock,
  type Policy,
  type RequestContext,
  type RevocationSet,
  type RouteParams,
  type TesseraErrorCode,
  type X509SvidInfo,
  type TraceContext,
} from '@tessera/core';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Registry } from 'prom-client';
import { authorityAuthorization, type AuthorityCredentials } from './authority-credentials.ts';
import { auditLine, type AuditSink } from './audit-event.ts';
import { VerificationFailureBudget } from './failure-budget.ts';
import { registerPluginMetrics } from './metrics.ts';
import {
  ADMITTED,
  RateLimiter,
  UNAVAILABLE,
  type RedisClientLike,
  type RedisLimiterOptions,
  type RedisUnavailableMode,
} from './rate-limit.ts';
import { RemoteJwks } from './remote-jwks.ts';
import { RevocationSync } from './revocation-sync.ts';
import { authorityFetch } from './authority-fetch.ts';
import { isAllowedAddress, parseAllowlist, type ParsedAllowlist } from './ip-allowlist.ts';
import {
  FORWARDED_CLIENT_CERT,
  ForwardedClientCert,
  type ForwardedClientCertOptions,
} from './forwarded-client-cert.ts';
import { PeerIdentityCache, type PeerIdentity } from './peer-identity.ts';

/**
 * Headers that, in the audited platform, were trusted to say who the caller is. Never again.
 * The same array as `@tessera/core`'s `SPOOFABLE_HEADERS`, which the auditor reads too.
 */
export const DEFAULT_SPOOFABLE_HEADERS: readonly string[] = SPOOFABLE_HEADERS;

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
    /**
     * For an `https://` authority whose certificate comes from the trust domain's CA: the CA
     * bundle (PEM, `DATA_DIR/bundle.pem` in dev), or a function returning the current one (read
     * for each new connection, so a rotated bundle is picked up). The JWKS and the revocation feed
     * are then fetched trusting only it, and the authority's certificate must carry `spiffeId`.
     * Without it, the system's CAs and the host name are checked, as for any HTTPS URL.
     */
    readonly ca?: string | (() => string);
    /** The authority's SPIFFE ID, checked with `ca`. Default `spiffe://<trust domain>/tessera-authority`. */
    readonly spiffeId?: string;
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
   * Per-caller rate limit, or `false`. Default 1000 requests per second per caller. Counted after
   * authorization, in fixed windows keyed on the verified SPIFFE ID, synchronously in the plugin's
   * `onRequest` hook (a bounded map of `maxKeys` callers, default 10,000); refused requests get
   * 429 `ERR_RATE_LIMITED` with `Retry-After`. Public routes are limited per source address with
   * the same numbers, in a map of their own. `redis` (an ioredis client) shares the limit across
   * replicas, local first: see the README for the over-admission bound and `redisUnavailable`.
   */
  readonly rateLimit?: false | RateLimitOptions;
  /**
   * The budget for failed token verifications per source address (`request.ip`), or `false`.
   * Default 100 failures per 60 s. Past it, that source's bearer tokens are refused with 401
   * `ERR_VERIFY_BUDGET` without being verified until the window ends, so a flood of forged
   * signatures under a real `kid` costs bounded CPU. At most `maxSources` (default 10,000)
   * sources are tracked; beyond them, new failing sources share one more budget of `max`.
   */
  readonly verifyFailureBudget?:
    false | { readonly max: number; readonly timeWindowMs: number; readonly maxSources?: number };
  /**
   * Optional extra check: callers listed here (by service name or SPIFFE ID; each must be a
   * service of the policy) may only come from these addresses/CIDRs. Compared with
   * `request.ip`, which Fastify's `trustProxy` decides: see the README before setting it.
   */
  readonly ipAllowlist?: Readonly<Record<string, readonly string[]>>;
  /** Where audit events go through a logger (pino). Default: the request logger. */
  readonly auditLogger?: FastifyBaseLogger;
  /**
   * Where audit events go as hand-serialized JSON lines with the same fields (and pino's
   * `level`, `time`, `pid`, `hostname`, `msg`), bypassing a logger: `auditFileDestination(path)`
   * or any `{ write(line) }`. The fastest way to audit. `false` writes no audit events at all
   * (for a service that audits elsewhere). Not together with `auditLogger`.
   */
  readonly auditDestination?: AuditSink | false;
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
  /**
   * Mutual TLS: callers identified by their client certificate (an X.509-SVID) on the request's
   * TLS connection. Serve the app with {@link tesseraHttpsOptions}. Without this option a client
   * certificate identifies nobody, but a certificate-bound token still needs its certificate.
   */
  readonly mtls?: MtlsOptions;
  /**
   * End users at the edge: tokens of this external OpenID issuer are verified directly, on the
   * routes whose policy entry admits users (`allow: [{ users: true }]`), and become
   * `kind: 'user'` callers. Everywhere else, and for every other token, nothing changes.
   */
  readonly users?: UsersOptions;
}

/** The external OpenID provider whose tokens identify end users at the edge. */
export interface UsersOptions {
  /** The provider's issuer identifier (`iss`), compared exactly. */
  readonly issuer: string;
  /** The audience its tokens must carry for this service (`aud`, or one member of it). */
  readonly audience: string;
  /**
   * The provider's keys: its `jwks_uri` (https, or http to a loopback address), fetched and
   * cached, refetched on an unknown `kid` at most once per `jwksCooldownMs`; or a fixed
   * {@link KeySet} / JWKS document.
   */
  readonly jwks: string | KeySet<UserVerificationKey> | { readonly keys: readonly unknown[] };
  /**
   * Accepted algorithms, a non-empty subset of RS256/384/512, PS256/384/512, ES256/384/512 and
   * EdDSA. Default RS256, ES256 and EdDSA. The key decides too: an RSA key (2048 bits or more)
   * only verifies RS and PS, a P-256 key only ES256, and a JWK's own `alg` binds it to that one.
   */
  readonly algorithms?: readonly UserTokenAlgorithm[];
  /** The claim naming the user's tenant. Default `tenant_id`. */
  readonly tenantClaim?: string;
  /** Least time between two fetches for unknown `kid`s. Default 30 s. */
  readonly jwksCooldownMs?: number;
}

/**
 * How the plugin reads client certificates. The certificate is parsed once per TLS connection
 * (`parseX509Svid`, strict: exactly one URI SAN, a workload SPIFFE ID in the trust domain, not a
 * CA); its expiry and revocation (serial, or a disabled service) are checked on every request.
 * A certificate caller is a `service` caller with no scopes (scopes come only from tokens) and an
 * empty `jti`; the same policy applies. A bearer token sent over the same connection is verified
 * as usual, must name the certificate's SPIFFE ID, and becomes the caller (its scopes, its user).
 */
export interface MtlsOptions {
  /**
   * `required`: every request to a non-public route needs a trusted client certificate (401
   * `ERR_CERT_MISSING` otherwise). `optional`: a client certificate, when presented, must be a
   * valid X.509-SVID and identifies the caller; without one, a bearer token does, as without mTLS.
   */
  readonly mode: 'required' | 'optional';
  /** The trust domain client certificates must belong to. Default: the policy's. */
  readonly trustDomain?: string;
  /**
   * Where certificate revocations are looked up when the plugin is given a `verifier` (with
   * `authority`, the revocation feed is used and this must not be set). Without either, only
   * expiry limits a certificate.
   */
  readonly revocations?: RevocationSet;
  /**
   * Accept `x-forwarded-client-cert` (Envoy's format, `Cert=` URL-encoded PEM) from these
   * proxies only. Without this option the header is always dropped unread.
   */
  readonly forwardedClientCert?: ForwardedClientCertOptions;
}

export interface RateLimitOptions {
  readonly max: number;
  readonly timeWindowMs: number;
  /** Most callers (and, separately, public-route sources) held in memory. Default 10,000. */
  readonly maxKeys?: number;
  /** An ioredis client (or anything with ioredis's `eval`): the limit becomes global. */
  readonly redis?: RedisClientLike;
  /** Prefix of the Redis keys. Default `tessera:rl:<service>:`. */
  readonly redisKeyPrefix?: string;
  /** Most admissions one replica makes per caller between reconciliations. Default `min(max, 100)`. */
  readonly redisSyncEvery?: number;
  /** Unreconciled admissions are pushed at least this often. Default 100 ms. */
  readonly redisSyncIntervalMs?: number;
  /** While Redis cannot be reached: `local-only` (default) or `fail-closed` (503). */
  readonly redisUnavailable?: RedisUnavailableMode;
}

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The verified caller; null on public routes and refused requests. Set only by Tessera.
     * `kind` says whether a service calls as itself, for a user (`user`, `tenant`, `actors`), or
     * an end user calls the edge directly (`users` option).
     */
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
  /** The external issuer's JWKS, when `users.jwks` is a URL. */
  readonly userJwks?: RemoteJwks<UserVerificationKey>;
  readonly revocations?: RevocationSync;
  /** The registry holding the plugin's gauges, unless `metrics: false`. */
  readonly metrics?: Registry;
  /** The per-caller rate limiter, unless `rateLimit: false`. */
  readonly rateLimiter?: RateLimiter;
  /** The failed-verification budget, unless `verifyFailureBudget: false`. */
  readonly failureBudget?: VerificationFailureBudget;
}

const STATE = Symbol('tessera.state');

/** Per-request bookkeeping for the audit event; a class so every request has one shape. */
class RequestState {
  decision: 'allow' | 'deny' = 'deny';
  reason: TesseraErrorCode | 'public' | 'ok' = 'ERR_CREDENTIALS_MISSING';
  /** The verified caller, kept for the audit event even when policy refuses it (a 403). */
  caller: Caller | null = null;
  /** The client certificate's identity, once read (mTLS mode, or a bound token). */
  peer: PeerIdentity | undefined = undefined;
  /** The presented bearer token, for `requestContext.token` (the client exchanges it). */
  token: string | undefined = undefined;
  constructor(
    readonly startedAt: number,
    readonly trace: TraceContext,
    /** The matched route pattern, read once (Fastify builds `routeOptions` on every access). */
    readonly route: string | undefined,
  ) {}
}

type StatefulRequest = FastifyRequest & { [STATE]?: RequestState };

/**
 * Checks `keys` every second and refetches it once its max-age has passed, so withdrawn keys stop
 * verifying within one cache lifetime; fetching is rare. The timer does not keep the process up.
 */
function refreshWhenDue(keys: Pick<RemoteJwks, 'isDue' | 'refresh'>): NodeJS.Timeout {
  const timer = setInterval(() => {
    if (keys.isDue()) void keys.refresh();
  }, 1000);
  timer.unref();
  return timer;
}

function optionsError(detail: string): TesseraError {
  return new TesseraError('ERR_CONFIG_INVALID', `@tessera/fastify: ${detail}`);
}

/**
 * The token of an `Authorization: Bearer <token>` value (scheme case-insensitive, RFC 6750 §2.1),
 * or undefined. Its characters are not checked here: a cache hit is a string that was verified
 * before, and a miss goes through the verifier's strict base64url parse. Scanning a 600-character
 * token with a regular expression on every request cost more than the cached verification.
 */
function bearerToken(header: string): string | undefined {
  if (header.length < 8 || header.charCodeAt(6) !== 0x20) return undefined;
  if (header.slice(0, 6).toLowerCase() !== 'bearer') return undefined;
  let start = 7;
  while (header.charCodeAt(start) === 0x20) start++;
  let end = header.length;
  while (end > start && header.charCodeAt(end - 1) === 0x20) end--;
  if (start === end) return undefined;
  const token = header.slice(start, end);
  return token.includes(' ') ? undefined : token;
}

const QUERY_TOKEN = /(?:^|&)access_token(?:=|&|$)/i;

/** The query string as the query parser will see it: `%61ccess_token` is `access_token` there. */
function decodedQuery(query: string): string {
  if (!query.includes('%')) return query;
  try {
    return decodeURIComponent(query);
  } catch {
    return query;
  }
}

/** RFC 6750 §2.3: tokens in the query string are refused, and so are credential cookies. */
function credentialsInWrongPlace(request: FastifyRequest): boolean {
  const url = request.raw.url ?? '';
  const query = url.indexOf('?');
  if (query !== -1 && QUERY_TOKEN.test(decodedQuery(url.slice(query + 1)))) return true;
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
  // The JWKS and the revocation feed are fetched from this origin (the plugin reads no RFC 8414
  // metadata): over plain http on the network, anyone on the path could hand it their own keys.
  if (options.authority !== undefined) {
    assertSecureUrl(
      (options.authority as { url?: unknown }).url,
      '@tessera/fastify: authority.url',
    );
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
    options.ipAllowlist === undefined
      ? undefined
      : parseAllowlist(options.ipAllowlist, policy.services);
  const contextMode = raw.requestContext ?? 'auto';
  if (contextMode !== 'auto' && contextMode !== 'always') {
    throw optionsError('requestContext is auto or always');
  }
  const contextAlways = contextMode === 'always';
  const mtls = mtlsSettings(options, policy.trustDomain);
  // Read for bound tokens in every mode: a token bound to a certificate needs that certificate.
  const peers = new PeerIdentityCache(mtls?.trustDomain ?? policy.trustDomain);

  let verifier: AccessTokenVerifier;
  let jwks: RemoteJwks | undefined;
  let revocations: RevocationSync | undefined;
  const { authority, verifier: givenVerifier } = options;
  if (givenVerifier !== undefined) {
    verifier = givenVerifier;
  } else if (authority !== undefined) {
    const issuer = authority.issuer ?? authority.url.replace(/\/$/, '');
    const tokenCache = new VerifiedTokenCache(options.cache ?? {});
    const trusted = authorityTrust(authority, policy.trustDomain);
    const remoteKeys = new RemoteJwks({
      url: new URL('/.well-known/jwks.json', authority.url).toString(),
      clock,
      ...(trusted === undefined ? {} : { fetch: trusted.fetch }),
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
      ...(trusted === undefined ? {} : { fetch: trusted.fetch }),
      onError: (err) => {
        app.log.warn({ err: String(err) }, 'tessera: revocation feed unavailable');
      },
      onStateChange: (state) => {
        app.log.info({ state }, 'tessera: revocation feed state');
      },
      // Emergency withdrawal pushed by the authority: within the feed's latency, not at the
      // next JWKS fetch (up to its max-age). Cached tokens carry no kid, so all are re-verified.
      onKeyWithdrawn: (kid, untilSeconds) => {
        remoteKeys.withdraw(kid, untilSeconds);
        tokenCache.clear();
        app.log.warn({ kid }, 'tessera: signing key withdrawn; verified-token cache cleared');
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
    let refresher: NodeJS.Timeout | undefined;
    app.addHook('onReady', async () => {
      await remoteKeys.refresh();
      await sync.start();
      refresher = refreshWhenDue(remoteKeys);
    });
    app.addHook('onClose', (_instance, closed) => {
      clearInterval(refresher);
      sync.stop();
      if (trusted === undefined) closed();
      else
        trusted.close().then(
          () => {
            closed();
          },
          () => {
            closed();
          },
        );
    });
    jwks = remoteKeys;
    revocations = sync;
  } else {
    throw optionsError('give exactly one of authority and verifier');
  }

  const edgeUsers = usersSettings(options, clock, app);
  const userVerifier = edgeUsers?.verifier;
  const userJwks = edgeUsers?.jwks;
  if (userJwks !== undefined) {
    let userRefresher: NodeJS.Timeout | undefined;
    app.addHook('onReady', async () => {
      await userJwks.refresh();
      userRefresher = refreshWhenDue(userJwks);
    });
    app.addHook('onClose', (_instance, closed) => {
      clearInterval(userRefresher);
      closed();
    });
  }

  if (mtls?.revocations !== undefined && revocations !== undefined) {
    throw optionsError('mtls.revocations is for a given verifier; with authority the feed is used');
  }
  const certificateRevocations = mtls?.revocations ?? revocations?.revocations;

  if (raw.metrics !== undefined && raw.metrics !== false && !(raw.metrics instanceof Registry)) {
    throw optionsError('metrics is a prom-client Registry or false');
  }
  const audit = auditOutput(options);
  const callerLimit = callerRateLimiter(options, app);
  const rateLimiter = callerLimit?.limiter;
  // Public routes are limited per source in a map of their own: a flood of unauthenticated
  // sources must never evict a verified caller's bucket.
  const sourceLimiter =
    callerLimit === undefined
      ? undefined
      : new RateLimiter({
          max: callerLimit.max,
          timeWindowMs: callerLimit.timeWindowMs,
          maxKeys: callerLimit.maxKeys,
        });
  const failureBudget = verificationFailureBudget(options);
  const metrics = options.metrics === false ? undefined : (options.metrics ?? new Registry());
  const runtime: TesseraRuntime = {
    degraded: () =>
      (jwks?.isStale() ?? false) ||
      (revocations?.isStale() ?? false) ||
      (userJwks?.isStale() ?? false),
    ...(jwks !== undefined ? { jwks } : {}),
    ...(userJwks !== undefined ? { userJwks } : {}),
    ...(revocations !== undefined ? { revocations } : {}),
    ...(metrics !== undefined ? { metrics } : {}),
    ...(rateLimiter !== undefined ? { rateLimiter } : {}),
    ...(failureBudget !== undefined ? { failureBudget } : {}),
  };
  if (metrics !== undefined) registerPluginMetrics(metrics, runtime);
  app.decorate('tessera', runtime);
  app.decorateRequest('caller', null);
  app.decorateRequest('traceContext', null);
  if (rateLimiter !== undefined) {
    app.addHook('onClose', (_instance, closed) => {
      rateLimiter.close();
      closed();
    });
  }

  function refuse(state: RequestState, reply: FastifyReply, code: TesseraErrorCode): void {
    state.decision = 'deny';
    state.reason = code;
    const status = httpStatusFor(code);
    if (status === 401) {
      // RFC 6750 §3: no error attribute when no credentials were presented at all.
      reply.header(
        'www-authenticate',
        code === 'ERR_CREDENTIALS_MISSING'
          ? 'Bearer realm="tessera"'
          : 'Bearer realm="tessera", error="invalid_token"',
      );
    } else if (status === 403) {
      reply.header('www-authenticate', 'Bearer realm="tessera", error="insufficient_scope"');
    } else if (status === 400) {
      // RFC 6750 §3.1: more than one method of presenting a token is an invalid_request.
      reply.header('www-authenticate', 'Bearer realm="tessera", error="invalid_request"');
    }
    void reply.code(status).send(publicErrorBody(code));
  }

  /** 429 with `Retry-After` (RFC 9110 §10.2.3, whole seconds), or 503 when Redis is required. */
  function refuseLimited(state: RequestState, reply: FastifyReply, verdict: number): void {
    if (verdict === UNAVAILABLE) {
      refuse(state, reply, 'ERR_UNAVAILABLE');
      return;
    }
    reply.header('retry-after', Math.ceil(verdict / 1000));
    refuse(state, reply, 'ERR_RATE_LIMITED');
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
        caller === null
          ? { trace: state.trace }
          : state.token === undefined
            ? { trace: state.trace, caller }
            : { trace: state.trace, caller, token: state.token };
      requestContext.run(context, done);
    } else {
      done();
    }
  }

  /** Policy, the optional address check, then the caller's rate limit, for a verified caller. */
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
      const decision = evaluate(
        policy,
        caller,
        service,
        request.method,
        route,
        request.params as RouteParams,
      );
      if (!decision.allow) {
        refuse(state, reply, decision.code);
        return;
      }
    }
    // The allowlist names services; an end user has no workload identity to look up.
    if (
      allowlist !== undefined &&
      caller.spiffeId !== undefined &&
      !isAllowedAddress(allowlist, caller.spiffeId, request.ip)
    ) {
      refuse(state, reply, 'ERR_IP_NOT_ALLOWED');
      return;
    }
    if (rateLimiter !== undefined) {
      // Keyed on the verified identity, never on anything the request could vary.
      const verdict = rateLimiter.take(
        caller.spiffeId ?? `user ${caller.issuer} ${caller.user}`,
        state.startedAt,
      );
      if (verdict !== ADMITTED) {
        refuseLimited(state, reply, verdict);
        return;
      }
    }
    state.reason = 'ok';
    proceed(request, state, caller, done);
  }

  /**
   * RFC 8705 §3: a token bound to a certificate (`cnf.x5t#S256`) is accepted only over a connection
   * that presented that certificate, in every mode. In mTLS mode a token sent with a certificate
   * must also name the certificate's identity: one caller per request, never two.
   */
  function admitToken(
    request: FastifyRequest,
    reply: FastifyReply,
    state: RequestState,
    caller: Caller,
    done: () => void,
  ): void {
    const bound = caller.certificateThumbprint;
    if (bound !== undefined || mtls !== undefined) {
      const peer = state.peer ?? peers.of(request.raw.socket);
      if (
        (bound !== undefined && peer.thumbprint !== bound) ||
        (mtls !== undefined &&
          peer.caller !== undefined &&
          peer.caller.spiffeId !== caller.spiffeId)
      ) {
        state.caller = caller;
        refuse(state, reply, 'ERR_TOKEN_BINDING');
        return;
      }
    }
    authorize(request, reply, state, caller, done);
  }

  /** The client identity: the connection's certificate, or one a listed proxy forwarded. */
  function peerOf(socket: Socket, forwarded: string | string[] | undefined): PeerIdentity {
    const peer = peers.of(socket);
    const proxies = mtls?.forwarded;
    if (forwarded === undefined || proxies?.isTrustedProxy(socket, peer) !== true) return peer;
    return proxies.identity(forwarded);
  }

  /** Checked per request, not per connection: a connection may outlive its certificate's validity or standing. */
  function certificateRefusal(svid: X509SvidInfo, nowMs: number): TesseraErrorCode | undefined {
    const now = nowMs / 1000;
    if (now < svid.notBefore || now > svid.notAfter) return 'ERR_SVID_EXPIRED';
    if (
      certificateRevocations?.isCertificateRevoked(
        svid.serialNumber,
        svid.spiffeId.uri,
        svid.notBefore,
      ) === true
    )
      return 'ERR_SVID_REVOKED';
    return undefined;
  }

  /** True when stale revocations refuse the request (fail-closed); serve-stale only warns. */
  function refusedAsStale(
    request: FastifyRequest,
    reply: FastifyReply,
    state: RequestState,
  ): boolean {
    if (revocations?.isStale() !== true) return false;
    if (staleMode === 'fail-closed') {
      refuse(state, reply, 'ERR_REVOCATIONS_STALE');
      return true;
    }
    request.log.warn('tessera: revocation state is stale; serving (staleRevocations: serve-stale)');
    return false;
  }

  /** A failed verification: counted against the source's budget, then refused. */
  function refuseUnverified(
    request: FastifyRequest,
    reply: FastifyReply,
    state: RequestState,
    code: TesseraErrorCode,
  ): void {
    failureBudget?.fail(request.ip, state.startedAt);
    refuse(state, reply, code);
  }

  /** A `kid` we have not seen: the issuer may have rotated. Refetch (rate-limited), retry once. */
  function verifyAfterKeyRefresh(
    keys: Pick<RemoteJwks, 'refreshForUnknownKid'>,
    verify: (token: string) => Caller,
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
          caller = verify(token);
        } catch (error) {
          refuseUnverified(
            request,
            reply,
            state,
            isTesseraError(error) ? error.code : 'ERR_INTERNAL',
          );
          return;
        }
        admitToken(request, reply, state, caller, done);
      },
      () => {
        refuseUnverified(request, reply, state, 'ERR_TOKEN_KID_UNKNOWN');
      },
    );
  }

  const verifyService = (token: string): Caller => verifier.verify(token);
  const verifyUser =
    userVerifier === undefined ? undefined : (token: string): Caller => userVerifier.verify(token);

  /** Whether a route admits end users, remembered like {@link isPublic}. */
  const userRoutes = new Map<string, boolean>();
  function isUserRoute(method: string, route: string): boolean {
    const key = `${method} ${route}`;
    let known = userRoutes.get(key);
    if (known === undefined) {
      known = admitsUsers(policy, service, method, route);
      userRoutes.set(key, known);
    }
    return known;
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
    // Never visible to handlers; read only from a listed proxy (mtls.forwardedClientCert).
    let forwarded: string | string[] | undefined;
    if (FORWARDED_CLIENT_CERT in headers) {
      forwarded = headers[FORWARDED_CLIENT_CERT];
      Reflect.deleteProperty(headers, FORWARDED_CLIENT_CERT);
    }
    const trace = traceContextFromHeaders(headers);
    // Authorization is decided on the route pattern Fastify matched, never the raw URL.
    const route = request.routeOptions.url;
    const state = new RequestState(clock.now(), trace, route);
    request[STATE] = state;
    request.traceContext = trace;
    reply.header('x-correlation-id', trace.correlationId);

    if (route !== undefined && isPublic(request.method, route)) {
      if (sourceLimiter !== undefined) {
        const verdict = sourceLimiter.take(request.ip, state.startedAt);
        if (verdict !== ADMITTED) {
          refuseLimited(state, reply, verdict);
          return;
        }
      }
      state.reason = 'public';
      proceed(request, state, null, done);
      return;
    }
    if (credentialsInWrongPlace(request)) {
      refuse(state, reply, 'ERR_CREDENTIALS_LOCATION');
      return;
    }
    const header = headers.authorization;
    if (mtls !== undefined) {
      const peer = peerOf(request.raw.socket, forwarded);
      state.peer = peer;
      const svid = peer.svid;
      if (svid === undefined) {
        // Optional mode without a certificate: a bearer token identifies the caller, as without mTLS.
        if (peer.refusal !== 'ERR_CERT_MISSING' || mtls.required) {
          refuse(state, reply, peer.refusal ?? 'ERR_SVID_INVALID');
          return;
        }
      } else {
        if (refusedAsStale(request, reply, state)) return;
        const refusal = certificateRefusal(svid, state.startedAt);
        if (refusal !== undefined) {
          // Known but refused: the audit event names whose certificate it was.
          state.caller = peer.caller ?? null;
          refuse(state, reply, refusal);
          return;
        }
        if (header === undefined && peer.caller !== undefined) {
          authorize(request, reply, state, peer.caller, done);
          return;
        }
      }
    }
    if (header === undefined) {
      refuse(state, reply, 'ERR_CREDENTIALS_MISSING');
      return;
    }
    // Node keeps the first of several Authorization headers; which one a proxy or handler
    // reads is then anyone's guess, so more than one is refused (RFC 6750 §3.1).
    if (typeof header !== 'string' || authorizationHeaders(request.raw.rawHeaders) !== 1) {
      refuse(state, reply, 'ERR_CREDENTIALS_DUPLICATE');
      return;
    }
    const token = bearerToken(header);
    if (token === undefined) {
      refuse(state, reply, 'ERR_TOKEN_MALFORMED');
      return;
    }
    state.token = token;
    // A certificate caller's request was checked above (one warning per request in serve-stale).
    if (state.peer?.svid === undefined && refusedAsStale(request, reply, state)) return;
    if (failureBudget?.exhausted(request.ip, state.startedAt) === true) {
      refuse(state, reply, 'ERR_VERIFY_BUDGET');
      return;
    }
    // Only on routes that admit end users, and only for a token naming the external issuer:
    // the service-token path pays one branch. The unverified `iss` only picks the verifier;
    // each verifier checks everything itself against its own keys.
    const asUser =
      userVerifier !== undefined &&
      route !== undefined &&
      isUserRoute(request.method, route) &&
      unverifiedIssuer(token) === userVerifier.issuer;
    const verify = asUser && verifyUser !== undefined ? verifyUser : verifyService;
    const keys = asUser ? userJwks : jwks;
    let caller: Caller;
    try {
      caller = verify(token);
    } catch (error) {
      if (!isTesseraError(error)) throw error;
      if (error.code === 'ERR_TOKEN_KID_UNKNOWN' && keys !== undefined) {
        verifyAfterKeyRefresh(keys, verify, token, request, reply, state, done);
      } else {
        refuseUnverified(request, reply, state, error.code);
      }
      return;
    }
    admitToken(request, reply, state, caller, done);
  });

  // RFC 6750 §2.2: a form-encoded `access_token` next to a bearer header is a second credential.
  // Bodies are parsed after `onRequest`, so this is a route hook, only on methods with a body.
  app.addHook('onRoute', (routeOptions) => {
    const methods = Array.isArray(routeOptions.method)
      ? routeOptions.method
      : [routeOptions.method];
    if (!methods.some((m) => m !== 'GET' && m !== 'HEAD')) return;
    const existing = routeOptions.preValidation;
    const hooks =
      existing === undefined ? [] : Array.isArray(existing) ? [...existing] : [existing];
    routeOptions.preValidation = [refuseBodyCredential, ...hooks];
  });
  function refuseBodyCredential(
    request: StatefulRequest,
    reply: FastifyReply,
    done: () => void,
  ): void {
    const state = request[STATE];
    const body = request.body;
    if (
      state !== undefined &&
      state.caller !== null &&
      typeof body === 'object' &&
      body !== null &&
      Object.hasOwn(body, 'access_token') &&
      isFormEncoded(request.headers['content-type'])
    ) {
      request.caller = null;
      refuse(state, reply, 'ERR_CREDENTIALS_DUPLICATE');
      return;
    }
    done();
  }

  // Exactly one audit event per request, allowed or denied, after the response is sent.
  if (audit !== false) {
    app.addHook('onResponse', (request: StatefulRequest, reply, done) => {
      const state = request[STATE];
      if (state !== undefined) {
        const caller = state.caller;
        const status = reply.statusCode;
        const now = clock.now();
        const event = {
          event: 'tessera.request',
          // Who the request is for: the user when there is one, else the calling service.
          caller:
            caller === null ? null : caller.kind === 'service' ? caller.spiffeId : caller.user,
          actor: caller?.kind === 'delegated' ? caller.spiffeId : null,
          user: caller === null || caller.kind === 'service' ? null : caller.user,
          tenant: caller?.tenant ?? null,
          actors: caller?.kind === 'delegated' ? caller.actors : null,
          // A certificate caller has no jti.
          jti: caller === null || caller.jti === '' ? null : caller.jti,
          route: state.route ?? null,
          method: request.method,
          decision:
            state.decision === 'allow' && status < 400 ? ('allow' as const) : ('deny' as const),
          reason: state.reason,
          status,
          durationMs: now - state.startedAt,
          correlationId: state.trace.correlationId,
          traceId: state.trace.traceId,
        };
        if (audit.sink !== undefined) audit.sink.write(auditLine(now, event));
        else (audit.logger ?? request.log).info(event, 'tessera request');
      }
      done();
    });
  }
}

/**
 * The `iss` of a compact JWS payload, unverified: it only chooses which verifier checks the token.
 * Undefined for anything that is not a three-segment token with a JSON object payload.
 */
function unverifiedIssuer(token: string): string | undefined {
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  if (first === -1 || second === -1) return undefined;
  try {
    const claims: unknown = JSON.parse(
      Buffer.from(token.slice(first + 1, second), 'base64url').toString('utf8'),
    );
    const iss =
      typeof claims === 'object' && claims !== null ? (claims as { iss?: unknown }).iss : undefined;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}

interface UsersSettings {
  readonly verifier: UserTokenVerifier;
  readonly jwks: RemoteJwks<UserVerificationKey> | undefined;
}

function usersSettings(
  options: TesseraPluginOptions,
  clock: Clock,
  app: FastifyInstance,
): UsersSettings | undefined {
  // Options may come from JavaScript callers or config files: check what the types promise.
  const given = options.users as Partial<Record<keyof UsersOptions, unknown>> | null | undefined;
  if (given === undefined) return undefined;
  if (typeof given !== 'object' || given === null) throw optionsError('users is an object');
  const { issuer, audience, jwks: source } = given;
  if (typeof issuer !== 'string' || issuer === '') throw optionsError('users.issuer is required');
  if (typeof audience !== 'string' || audience === '')
    throw optionsError('users.audience is required');
  const cooldownMs = given.jwksCooldownMs ?? 30_000;
  if (!positiveInteger(cooldownMs))
    throw optionsError('users.jwksCooldownMs is a positive integer');
  let keys: KeyResolver<UserVerificationKey>;
  let jwks: RemoteJwks<UserVerificationKey> | undefined;
  if (typeof source === 'string') {
    // The keys decide who is a user: over plain http on the network, anyone on the path could
    // hand the edge their own.
    const url = assertSecureUrl(source, '@tessera/fastify: users.jwks');
    jwks = new RemoteJwks<UserVerificationKey>({
      url: url.toString(),
      // A provider's set, not Tessera's: its encryption keys and unused key types are skipped.
      parse: parseUserJwks,
      clock,
      cooldownMs,
      onError: (err) => {
        app.log.warn({ err: String(err) }, 'tessera: user JWKS fetch failed; using cached keys');
      },
    });
    keys = jwks;
  } else if (source instanceof KeySet) {
    keys = source as KeySet<UserVerificationKey>;
  } else if (typeof source === 'object' && source !== null) {
    keys = parseUserJwks(source);
  } else {
    throw optionsError('users.jwks is a JWKS URL, a KeySet or a JWKS document');
  }
  try {
    const verifier = createUserTokenVerifier({
      issuer,
      audience,
      keys,
      clock,
      ...(given.algorithms === undefined
        ? {}
        : { algorithms: given.algorithms as readonly UserTokenAlgorithm[] }),
      ...(given.tenantClaim === undefined ? {} : { tenantClaim: given.tenantClaim as string }),
      ...(options.cache === undefined ? {} : { cache: new VerifiedTokenCache(options.cache) }),
    });
    return { verifier, jwks };
  } catch (error) {
    if (isTesseraError(error) && error.code === 'ERR_CONFIG_INVALID')
      throw optionsError(error.detail ?? 'users is invalid');
    throw error;
  }
}

/** Counts `Authorization` fields in Node's raw header list (names at even indices). */
function authorizationHeaders(raw: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name?.length === 13 && name.toLowerCase() === 'authorization') count++;
  }
  return count;
}

function isFormEncoded(contentType: string | undefined): boolean {
  return (
    contentType?.trimStart().toLowerCase().startsWith('application/x-www-form-urlencoded') === true
  );
}

type AuditOutput = false | { readonly sink?: AuditSink; readonly logger?: FastifyBaseLogger };

function auditOutput(options: TesseraPluginOptions): AuditOutput {
  const { auditLogger, auditDestination } = options;
  if (auditDestination === undefined)
    return auditLogger === undefined ? {} : { logger: auditLogger };
  if (auditLogger !== undefined)
    throw optionsError('give at most one of auditLogger and auditDestination');
  if (auditDestination === false) return false;
  if (typeof auditDestination !== 'object' || typeof auditDestination.write !== 'function') {
    throw optionsError('auditDestination has a write(line) method, or is false');
  }
  return { sink: auditDestination };
}

const DEFAULT_MAX_KEYS = 10_000;

function positiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

interface CallerLimit {
  readonly limiter: RateLimiter;
  readonly max: number;
  readonly timeWindowMs: number;
  readonly maxKeys: number;
}

function callerRateLimiter(
  options: TesseraPluginOptions,
  app: FastifyInstance,
): CallerLimit | undefined {
  if (options.rateLimit === false) return undefined;
  // Options may come from JavaScript callers or config files: check what the types promise.
  const limit = (options.rateLimit ?? { max: 1000, timeWindowMs: 1000 }) as Partial<
    Record<keyof RateLimitOptions | 'store', unknown>
  >;
  const { max, timeWindowMs } = limit;
  if (!positiveInteger(max) || !positiveInteger(timeWindowMs)) {
    throw optionsError('rateLimit needs positive integers max and timeWindowMs');
  }
  if (limit.store !== undefined) {
    throw optionsError(
      'rateLimit.store was removed; share limits across replicas with rateLimit.redis',
    );
  }
  const maxKeys = limit.maxKeys ?? DEFAULT_MAX_KEYS;
  if (!positiveInteger(maxKeys)) throw optionsError('rateLimit.maxKeys is a positive integer');
  const client = limit.redis as RedisClientLike | null | undefined;
  let redis: RedisLimiterOptions | undefined;
  if (client !== undefined) {
    if (typeof client !== 'object' || client === null || typeof client.eval !== 'function') {
      throw optionsError('rateLimit.redis is an ioredis client');
    }
    const syncEvery = limit.redisSyncEvery ?? Math.min(max, 100);
    const syncIntervalMs = limit.redisSyncIntervalMs ?? 100;
    const whenUnavailable = limit.redisUnavailable ?? 'local-only';
    const keyPrefix = limit.redisKeyPrefix ?? `tessera:rl:${options.service}:`;
    if (!positiveInteger(syncEvery) || !positiveInteger(syncIntervalMs)) {
      throw optionsError('rateLimit.redisSyncEvery and redisSyncIntervalMs are positive integers');
    }
    if (whenUnavailable !== 'local-only' && whenUnavailable !== 'fail-closed') {
      throw optionsError('rateLimit.redisUnavailable is local-only or fail-closed');
    }
    if (typeof keyPrefix !== 'string') throw optionsError('rateLimit.redisKeyPrefix is a string');
    redis = {
      client,
      keyPrefix,
      syncEvery,
      syncIntervalMs,
      whenUnavailable,
      onAvailabilityChange: (available, error) => {
        if (available) {
          app.log.info('tessera: rate-limit Redis available again; limits are global');
        } else {
          app.log.warn(
            { err: String(error), redisUnavailable: whenUnavailable },
            whenUnavailable === 'local-only'
              ? 'tessera: rate-limit Redis unavailable; limiting per replica'
              : 'tessera: rate-limit Redis unavailable; refusing callers (fail-closed)',
          );
        }
      },
    };
  }
  const limiter = new RateLimiter({
    max,
    timeWindowMs,
    maxKeys,
    ...(redis !== undefined ? { redis } : {}),
  });
  return { limiter, max, timeWindowMs, maxKeys };
}

/** The authority's trust options, checked; undefined without `authority.ca`. */
function authorityTrust(
  authority: NonNullable<TesseraPluginOptions['authority']>,
  trustDomain: string,
): ReturnType<typeof authorityFetch> | undefined {
  const { ca, spiffeId } = authority as { ca?: unknown; spiffeId?: unknown };
  if (ca === undefined) {
    if (spiffeId !== undefined) throw optionsError('authority.spiffeId needs authority.ca');
    return undefined;
  }
  if (typeof ca !== 'function' && (typeof ca !== 'string' || !ca.includes('-----BEGIN'))) {
    throw optionsError('authority.ca is a PEM bundle or a function returning one');
  }
  if (!authority.url.startsWith('https://')) {
    throw optionsError('authority.ca is for an https:// authority');
  }
  const expected = spiffeId ?? `spiffe://${trustDomain}/tessera-authority`;
  if (typeof expected !== 'string' || !expected.startsWith(`spiffe://${trustDomain}/`)) {
    throw optionsError(`authority.spiffeId is a SPIFFE ID in ${trustDomain}`);
  }
  return authorityFetch({ ca: ca as string | (() => string), spiffeId: expected, trustDomain });
}

interface MtlsSettings {
  readonly required: boolean;
  readonly trustDomain: string;
  readonly revocations: RevocationSet | undefined;
  readonly forwarded: ForwardedClientCert | undefined;
}

function mtlsSettings(
  options: TesseraPluginOptions,
  policyTrustDomain: string,
): MtlsSettings | undefined {
  // Options may come from JavaScript callers or config files: check what the types promise.
  const given = options.mtls as Partial<Record<keyof MtlsOptions, unknown>> | null | undefined;
  if (given === undefined) return undefined;
  if (typeof given !== 'object' || given === null) throw optionsError('mtls is an object');
  if (given.mode !== 'required' && given.mode !== 'optional') {
    throw optionsError('mtls.mode is required or optional');
  }
  const trustDomain = given.trustDomain ?? policyTrustDomain;
  if (typeof trustDomain !== 'string' || !/^[a-z0-9._-]+$/.test(trustDomain)) {
    throw optionsError('mtls.trustDomain is a trust domain name');
  }
  const revocations = given.revocations as RevocationSet | undefined;
  if (
    revocations !== undefined &&
    typeof (revocations as Partial<RevocationSet>).isCertificateRevoked !== 'function'
  ) {
    throw optionsError('mtls.revocations is a RevocationSet');
  }
  const forwarded =
    given.forwardedClientCert === undefined
      ? undefined
      : new ForwardedClientCert(
          given.forwardedClientCert as ForwardedClientCertOptions,
          trustDomain,
        );
  return { required: given.mode === 'required', trustDomain, revocations, forwarded };
}

function verificationFailureBudget(
  options: TesseraPluginOptions,
): VerificationFailureBudget | undefined {
  const given = options.verifyFailureBudget;
  if (given === false) return undefined;
  const budget = given ?? { max: 100, timeWindowMs: 60_000 };
  const maxSources = budget.maxSources ?? DEFAULT_MAX_KEYS;
  if (
    !positiveInteger(budget.max) ||
    !positiveInteger(budget.timeWindowMs) ||
    !positiveInteger(maxSources)
  ) {
    throw optionsError('verifyFailureBudget needs positive integers max, timeWindowMs, maxSources');
  }
  return new VerificationFailureBudget({
    max: budget.max,
    timeWindowMs: budget.timeWindowMs,
    maxSources,
  });
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
