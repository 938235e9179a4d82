import cluster from 'node:cluster';
import { publicErrorBody } from '@tessera/core';
import type { FastifyInstance } from 'fastify';
import type { AuthorityContext } from '../context.ts';

/** Liveness, readiness (store reachable and an active signing key) and Prometheus metrics. */
export function registerHealthRoutes(app: FastifyInstance, ctx: AuthorityContext): void {
  // In a cluster, which worker answered: a connection stays with one worker, so a health check
  // tells an operator (and the cluster tests) which process serves it. A pid gives nothing away.
  const worker = cluster.isWorker ? String(process.pid) : undefined;
  app.get('/healthz', (_request, reply) => {
    if (worker !== undefined) reply.header('x-tessera-worker', worker);
    return reply.send({ status: 'ok' });
  });

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
