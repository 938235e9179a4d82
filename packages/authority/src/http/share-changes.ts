import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthorityContext } from '../context.ts';

/**
 * An `onSend` hook for routes that change shared state (registry, revocations, signing keys):
 * after a successful change, the other instances of a cluster re-read that state before the
 * caller hears back, so a revocation acknowledged by one worker holds on every worker.
 */
export function shareChanges(ctx: AuthorityContext) {
  return async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (request.method !== 'GET' && request.method !== 'HEAD' && reply.statusCode < 300) {
      await ctx.peers.changed();
    }
    return payload;
  };
}
