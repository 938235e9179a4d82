import type { FastifyInstance } from 'fastify';
import { sendOAuthError } from './oauth-error.ts';

/**
 * Answers every method but POST on the OAuth endpoints with 405, `Allow: POST` (RFC 9110
 * §15.5.6) and an RFC 6749 §5.2 `invalid_request` body, instead of a 404 in Tessera's own
 * format that hid the endpoint and its error format. An `onRequest` hook rather than routes:
 * it also catches methods Fastify does not route (PROPFIND, ...), which go to the not-found
 * handler, and it answers before any body is read or parsed.
 */
export function refuseOtherMethods(app: FastifyInstance, paths: ReadonlySet<string>): void {
  app.addHook('onRequest', (request, reply, done) => {
    if (request.method === 'POST') {
      done();
      return;
    }
    const url = request.url;
    const query = url.indexOf('?');
    if (!paths.has(query === -1 ? url : url.slice(0, query))) {
      done();
      return;
    }
    reply.header('allow', 'POST');
    void sendOAuthError(reply, 'invalid_request', 'this endpoint accepts only POST', 405);
  });
}
