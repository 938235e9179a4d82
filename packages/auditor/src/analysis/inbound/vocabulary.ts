/**
 * Names the inbound analysis recognises beyond the shared vocabulary in `../names.ts`: HTTP
 * framework methods, logger methods, JWT claims and proxy libraries (public-by-nature paths are
 * in `public-routes.ts`).
 */

/** Route-registering methods shared by Fastify and Express instances. */
export const ROUTE_METHODS: ReadonlySet<string> = new Set([
  'get',
  'post',
  'put',
  'delete',
  'del',
  'patch',
  'head',
  'options',
  'all',
]);

/** State-changing HTTP methods: the "sensitive operations" of SE16. */
export const MUTATING_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Fastify hooks that run before the handler and can refuse a request. */
export const AUTH_HOOK_NAMES: ReadonlySet<string> = new Set([
  'onRequest',
  'preParsing',
  'preValidation',
  'preHandler',
]);

/** Methods of a logger that write an entry. */
export const LOG_METHODS: ReadonlySet<string> = new Set([
  'trace',
  'debug',
  'info',
  'warn',
  'warning',
  'error',
  'fatal',
  'log',
  'notice',
  'crit',
  'critical',
  'alert',
  'emerg',
  'http',
  'verbose',
  'silly',
  'audit',
]);

/** The last name of a receiver that is a logger: `request.log`, `this.logger`, `auditLog`. */
export const LOGGER_RECEIVER = /^(log|logger|_log|_logger|console|audit|auditlog|.*logger|.*log)$/i;

/** Log fields that identify the calling service or principal (SE13, SE21). */
export const IDENTITY_LOG_FIELD =
  /^(caller|callerid|caller_?service|calling_?service|service|service_?id|service_?name|source_?service|client_?id|clientid|sub|subject|spiffe_?id|spiffeid|principal|azp|actor|identity|issuer|from_?service|caller_?spiffe_?id)$/i;

/** Log fields that name an end user rather than a service (SE13). */
export const USER_LOG_FIELD = /^(user_?id|userid|uid|user|username|user_?name)$/i;

/** Log fields that carry a correlation or trace id (SE14). */
export const CORRELATION_LOG_FIELD =
  /^(correlation_?id|correlationid|request_?id|requestid|req_?id|reqid|trace_?id|traceid|traceparent|x-correlation-id|x-request-id|span_?id)$/i;

/** Identity claims that name the caller in a verified token (SE8, SV9). */
export const IDENTITY_CLAIMS: ReadonlySet<string> = new Set([
  'sub',
  'azp',
  'client_id',
  'clientId',
  'spiffeId',
  'caller',
  'act',
]);

/** Claims or properties that carry a tenant (PH4). */
export const TENANT_NAME = /^(tenant|tenant_?id|tenantid|org_?id|organization_?id|account_?id)$/i;

/** Request headers that name a tenant (PH4). */
export const TENANT_HEADER =
  /^x-(tenant|tenant-id|org-id|organization-id|account-id|org|organization)$/;

/** Claims or properties that carry authorisation scopes (SE9). */
export const SCOPE_NAME = /^(scope|scopes|scp|permissions?|roles?|grants?|entitlements?)$/i;

/** A function name that performs an authorisation decision (SE9): `requireScope`, `checkVenueAccess`. */
export const AUTHZ_FUNCTION =
  /^(authori[sz]e\w*|can[A-Z]\w*|(require|check|has|ensure|assert|verify|must|enforce|is)\w*(Scope|Permission|Role|Authori[sz]|Access|Allowed|Grant|Polic|Entitle|scope|permission|role|access)\w*)$/;

/** A function or decorator name that suggests authentication when its body is not in the project. */
export const AUTH_FUNCTION_NAME =
  /(authenticat|authori[sz]|auth(guard|middleware|hook)?$|^auth|verify(jwt|token|request|signature|caller|service)|require(auth|token|service|internal|user|login|jwt)|check(auth|token|jwt)|jwt(auth|guard|verify|check)|protect|guard|bearer|api-?key|validate(token|jwt|request|caller))/i;

/** Modules that proxy requests to upstreams, making the service a gateway (PH1–PH3, PH5). */
export const PROXY_MODULES: ReadonlySet<string> = new Set([
  '@fastify/http-proxy',
  '@fastify/reply-from',
  'fastify-http-proxy',
  'fastify-reply-from',
  'http-proxy-middleware',
  'express-http-proxy',
  'http-proxy',
  'node-http-proxy',
  'koa-proxies',
  'koa-proxy',
  'koa-better-http-proxy',
  'hono/proxy',
]);

/** Frameworks the analysis does not model, so their services are reported as not analysable. */
export const UNMODELLED_FRAMEWORKS: ReadonlyMap<string, string> = new Map([
  ['@hapi/hapi', 'hapi'],
  ['hapi', 'hapi'],
  ['restify', 'restify'],
  ['@trpc/server', 'tRPC'],
]);

/**
 * Server frameworks whose entry point is `listen()` or `serve()` on something other than an
 * Express or Fastify app: the unmodelled ones, NestJS, Koa and Hono.
 */
export const SERVER_FRAMEWORK_MODULES: ReadonlySet<string> = new Set([
  ...UNMODELLED_FRAMEWORKS.keys(),
  '@nestjs/core',
  'koa',
  'hono',
  '@hono/node-server',
]);

/** Middleware that logs every request with its status code (SE15, SE21). */
export const REQUEST_LOGGER_MODULES: readonly string[] = [
  'pino-http',
  'morgan',
  'express-winston',
  'express-pino-logger',
  'koa-pino-logger',
  'koa-logger',
  'koa-morgan',
  'hono/logger',
  'hono-pino',
  'nestjs-pino',
];

/** Loggers that write one JSON object per line by default (SE17). */
export const STRUCTURED_LOGGER_MODULES: ReadonlySet<string> = new Set([
  'pino',
  'pino-http',
  'express-pino-logger',
  'koa-pino-logger',
  'hono-pino',
  'nestjs-pino',
  'winston',
  'express-winston',
  'bunyan',
  'roarr',
]);

/** Request loggers whose default output is a plain text line (morgan's Apache formats) (SE17). */
export const TEXT_REQUEST_LOGGER_MODULES: ReadonlySet<string> = new Set([
  'morgan',
  'koa-morgan',
  'koa-logger',
  'hono/logger',
]);

/** Logging libraries or transports that ship logs off the host (SE17). */
export const CENTRAL_LOG_TARGET =
  /(loki|elastic|logstash|datadog|logtail|papertrail|splunk|cloudwatch|stackdriver|google-cloud\/logging|newrelic|sentry|seq|graylog|gelf|syslog|fluent|kinesis|opentelemetry|otlp|axiom|betterstack|logdna|mezmo|sumo|honeycomb|loggly|http)/i;

/** Constant-time comparison helpers other than `crypto.timingSafeEqual`. */
export const CONSTANT_TIME_MODULES: ReadonlySet<string> = new Set([
  'tsscmp',
  'secure-compare',
  'safe-compare',
  'scmp',
  'buffer-equal-constant-time',
  'timing-safe-equal',
]);

/** Strong HMAC digests (SV14). */
export const STRONG_HMAC =
  /^(sha-?(256|384|512)|sha512-256|sha3-(256|384|512)|blake2b512|blake2s256)$/i;

/** Header names that carry request signatures or their timestamps (SV14–SV17). */
export const SIGNATURE_HEADER = /signature|x-hub-signature|x-signature|x-hmac|digest/i;
export const TIMESTAMP_NAME =
  /(timestamp|^ts$|^x-date$|^date$|signed_?at|issued_?at|request_?time)/i;
