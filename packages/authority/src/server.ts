import { publicErrorBody } from '@tessera/core';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { AuthorityContext } from './context.ts';
import { registerFormParser } from './http/form.ts';
import { refuseOtherMethods } from './http/method-not-allowed.ts';
import { sendOAuthError } from './http/oauth-error.ts';
import { registerAdminRoutes } from './routes/admin.ts';
import { registerBundleRoutes } from './routes/bundle.ts';
import { registerSvidRoute, SVID_ENDPOINT_PATH } from './routes/svid.ts';
import { registerDiscoveryRoutes } from './routes/discovery.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerRevocationRoutes } from './routes/revocation.ts';
import { registerServiceKeysRoute } from './routes/service-keys.ts';
import { registerTokenRoute } from './routes/token.ts';
import {
  secureContextOptions,
  TLS_SERVER_OPTIONS,
  type ServerCredentials,
} from './tls/server-credentials.ts';

/** Paths whose failures must be RFC 6749 §5.2 JSON rather than Tessera's `{ code, message }`. */
const OAUTH_PATHS = new Set([
  '/oauth2/token',
  '/oauth2/revoke',
  '/oauth2/introspect',
  SVID_ENDPOINT_PATH,
]);

/**
 * Builds the authority's HTTP server over an already-wired context. Every response body on an
 * error path is generic: specifics go to the log (with tokens, assertions and keys redacted).
 */
export function buildAuthorityServer(
  ctx: AuthorityContext,
  tls?: ServerCredentials,
): FastifyInstance {
  const app = Fastify({
    ...(tls !== undefined
      ? { https: { ...secureContextOptions(tls), ...TLS_SERVER_OPTIONS } }
      : {}),
    loggerInstance: ctx.logger,
    bodyLimit: ctx.settings.bodyLimitBytes,
    // Request ids for correlation; never taken from the client.
    genReqId: () => crypto.randomUUID(),
    // One line per request is the metrics' job; logs carry refusals and failures.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  });
  registerFormParser(app);
  refuseOtherMethods(app, OAUTH_PATHS);

  app.setNotFoundHandler((_request, reply) =>
    reply.code(404).send(publicErrorBody('ERR_NOT_FOUND')),
  );

  app.setErrorHandler((error: { statusCode?: number; code?: string }, request, reply) => {
    const status =
      typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500
        ? error.statusCode
        : 500;
    if (status === 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ code: error.code, status }, 'request refused');
    ctx.metrics.failures.inc({
      endpoint: request.routeOptions.url ?? 'unmatched',
      reason: status === 500 ? 'internal' : (error.code ?? 'bad_request'),
    });
    if (status < 500 && OAUTH_PATHS.has(request.routeOptions.url ?? '')) {
      return sendOAuthError(reply, 'invalid_request', 'the request is malformed', status);
    }
    return reply
      .code(status)
      .send(
        publicErrorBody(
          status === 500
            ? 'ERR_INTERNAL'
            : status === 404
              ? 'ERR_NOT_FOUND'
              : 'ERR_REQUEST_INVALID',
        ),
      );
  });

  app.addHook('onResponse', async (request, reply) => {
    ctx.metrics.requestDuration.observe(
      {
        route: request.routeOptions.url ?? 'unmatched',
        method: request.method,
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  registerDiscoveryRoutes(app, ctx);
  registerTokenRoute(app, ctx);
  registerSvidRoute(app, ctx);
  registerServiceKeysRoute(app, ctx);
  registerBundleRoutes(app, ctx);
  registerRevocationRoutes(app, ctx);
  registerAdminRoutes(app, ctx);
  registerHealthRoutes(app, ctx);
  return app;
}
