import { publicErrorBody } from '@tessera/core';
import type { FastifyInstance } from 'fastify';
import type { AuthorityContext } from '../context.ts';

/** Liveness, readiness (store reachable and an active signing key) and Prometheus metrics. */
export function registerHealthRoutes(app: FastifyInstance, ctx: AuthorityContext): void {
  app.get('/healthz', (_request, reply) => reply.send({ status: 'ok' }));

  app.get('/readyz', async (request, reply) => {
    try {
      await ctx.store.ping();
      await ctx.keys.signingKey();
      return { status: 'ready' };
    } catch (error) {
      request.log.warn({ err: error }, 'not ready');
      return reply.code(503).send(publicErrorBody('ERR_UNAVAILABLE'));
    }
  });

  // In a cluster, any worker may get the scrape: it answers for all of them.
  app.get('/metrics', async (_request, reply) =>
    reply
      .header('content-type', ctx.metrics.registry.contentType)
      .send(await (ctx.peers.metrics?.() ?? ctx.metrics.registry.metrics())),
  );
}
