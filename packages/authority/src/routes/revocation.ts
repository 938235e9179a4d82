import type { ServerResponse } from 'node:http';
import { publicErrorBody } from '@tessera/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { shareChanges } from '../http/share-changes.ts';
import type { AuthorityContext } from '../context.ts';
import type { FormParameters } from '../http/form.ts';
import { sendOAuthError } from '../http/oauth-error.ts';
import type { RevocationRecord, ServiceRecord } from '../store/types.ts';
import { isTokenActive } from '../tokens/inspect.ts';
import { isAdmin } from './admin.ts';
import { authenticateOrReply, readForm } from './token.ts';

/** Most SSE subscribers one instance serves; more get 503 rather than exhausting sockets. */
const MAX_STREAM_SUBSCRIBERS = 1000;
const HEARTBEAT_MS = 15_000;

function publicRecord(record: RevocationRecord) {
  return {
    id: record.id,
    kind: record.kind,
    value: record.value,
    ...(record.issuedAtOrBefore !== null ? { issued_at_or_before: record.issuedAtOrBefore } : {}),
    expires_at: record.expiresAt,
  };
}

function parseSince(value: unknown): number | undefined {
  if (value === undefined) return 0;
  if (typeof value !== 'string' || !/^\d{1,15}$/.test(value)) return undefined;
  return Number(value);
}

/**
 * Who is introspecting: a client authenticated by `private_key_jwt`, or an admin presenting the
 * admin bearer token. Both at once is refused (RFC 6749 §2.3: one authentication method per
 * request). Returns undefined when it already replied.
 */
async function introspectionCaller(
  ctx: AuthorityContext,
  request: FastifyRequest,
  parameters: FormParameters,
  reply: FastifyReply,
): Promise<ServiceRecord | 'admin' | undefined> {
  if (request.headers.authorization === undefined) {
    return authenticateOrReply(ctx, parameters, reply, 'introspect');
  }
  if (parameters.has('client_assertion') || parameters.has('client_assertion_type')) {
    ctx.metrics.failures.inc({ endpoint: 'introspect', reason: 'several_auth_methods' });
    void sendOAuthError(reply, 'invalid_request', 'use one client authentication method');
    return undefined;
  }
  if (isAdmin(request, ctx.adminTokenHash)) return 'admin';
  ctx.metrics.failures.inc({ endpoint: 'introspect', reason: 'admin_token_invalid' });
  reply.log.warn({ endpoint: 'introspect' }, 'introspection: admin token refused');
  void sendOAuthError(reply, 'invalid_client', 'client authentication failed');
  return undefined;
}

/** RFC 7009 revocation, RFC 7662 introspection, and the revocation list and SSE feed. */
export function registerRevocationRoutes(app: FastifyInstance, ctx: AuthorityContext): void {
  // A stream never finishes by itself (the heartbeat keeps it busy), so close() would wait for
  // every subscriber to hang up, which verifiers never do. Close them first; they reconnect.
  const streams = new Set<ServerResponse>();
  app.addHook('preClose', (done) => {
    for (const stream of streams) stream.destroy();
    done();
  });

  app.post('/oauth2/revoke', { onSend: shareChanges(ctx) }, async (request, reply) => {
    const parameters = readForm(request, reply);
    if (parameters === undefined) return reply;
    const client = await authenticateOrReply(ctx, parameters, reply, 'revoke');
    if (client === undefined) return reply;
    const token = parameters.get('token');
    if (token === undefined) return sendOAuthError(reply, 'invalid_request', 'token is required');
    const hint = parameters.get('token_type_hint');
    if (hint !== undefined && hint !== 'access_token') {
      return sendOAuthError(reply, 'unsupported_token_type', 'only access tokens can be revoked');
    }
    const claims = await ctx.readIssuedToken(token);
    // RFC 7009 §2.2: an invalid or unknown token is answered 200 all the same.
    if (claims === undefined || ctx.clock.now() / 1000 >= claims.exp) return reply.code(200).send();
    if (claims.client_id !== client.spiffeId) {
      // §2.1: a client may only revoke tokens issued to it.
      return sendOAuthError(
        reply,
        'unauthorized_client',
        'the token was not issued to this client',
      );
    }
    await ctx.revocations.add({
      kind: 'jti',
      value: claims.jti,
      issuedAtOrBefore: null,
      expiresAt: claims.exp,
    });
    await ctx.audit({
      type: 'revocation.added',
      actor: client.spiffeId,
      data: { kind: 'jti', jti: claims.jti, exp: claims.exp },
    });
    return reply.code(200).send();
  });

  app.post('/oauth2/introspect', async (request, reply) => {
    const parameters = readForm(request, reply);
    if (parameters === undefined) return reply;
    const caller = await introspectionCaller(ctx, request, parameters, reply);
    if (caller === undefined) return reply;
    const token = parameters.get('token');
    if (token === undefined) return sendOAuthError(reply, 'invalid_request', 'token is required');
    reply.header('cache-control', 'no-store');
    const claims = await ctx.readIssuedToken(token);
    // RFC 7662 §2.2: anything not currently valid is just inactive, with no further detail.
    // §4: the server decides who may learn about a token. Only the resource server the token
    // was issued for (its audience) or an admin; to anyone else a live token looks exactly like
    // an unknown one, so introspection tells no other service who calls whom with which scopes.
    if (
      claims === undefined ||
      !isTokenActive(claims, ctx) ||
      (caller !== 'admin' && claims.aud !== caller.spiffeId)
    ) {
      return reply.send({ active: false });
    }
    return reply.send({
      active: true,
      token_type: 'Bearer',
      iss: claims.iss,
      sub: claims.sub,
      client_id: claims.client_id,
      aud: claims.aud,
      iat: claims.iat,
      exp: claims.exp,
      jti: claims.jti,
      ...(claims.scope !== undefined ? { scope: claims.scope } : {}),
      ...(claims.act !== undefined ? { act: claims.act } : {}),
    });
  });

  app.get('/v1/revocations', async (request, reply) => {
    const since = parseSince((request.query as Record<string, unknown>).since);
    if (since === undefined) return reply.code(400).send(publicErrorBody('ERR_REQUEST_INVALID'));
    const records = await ctx.revocations.list(since);
    return reply.header('cache-control', 'no-store').send({
      cursor: records.at(-1)?.id ?? since,
      revocations: records.map(publicRecord),
    });
  });

  // No automatic HEAD route: a HEAD response carries no events and Node never flushes its
  // headers, so the request hung, holding a subscriber slot, until the client gave up.
  app.get('/v1/revocations/stream', { exposeHeadRoute: false }, async (request, reply) => {
    const since = parseSince((request.query as Record<string, unknown>).since);
    if (since === undefined) return reply.code(400).send(publicErrorBody('ERR_REQUEST_INVALID'));
    if (ctx.revocations.subscribers >= MAX_STREAM_SUBSCRIBERS) {
      return reply.code(503).header('retry-after', '5').send(publicErrorBody('ERR_UNAVAILABLE'));
    }
    reply.hijack();
    const raw = reply.raw;
    streams.add(raw);
    raw.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const send = (record: RevocationRecord) => {
      raw.write(
        `id: ${record.id}\nevent: revocation\ndata: ${JSON.stringify(publicRecord(record))}\n\n`,
      );
    };
    // Subscribe before reading the backlog so nothing added in between is lost; the client
    // de-duplicates on id (and the ids only grow).
    let lastSent = since;
    const unsubscribe = ctx.revocations.subscribe((record) => {
      if (record.id > lastSent) {
        lastSent = record.id;
        send(record);
      }
    });
    const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    request.raw.on('close', () => {
      streams.delete(raw);
      clearInterval(heartbeat);
      unsubscribe();
    });
    raw.write(`retry: 1000\n\n`);
    for (const record of await ctx.revocations.list(since)) {
      if (record.id > lastSent) {
        lastSent = record.id;
        send(record);
      }
    }
  });
}
