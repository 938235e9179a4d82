import type { ServerResponse } from 'node:http';
import { publicErrorBody } from '@tessera/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { shareChanges } from '../http/share-changes.ts';
import type { AuthorityContext } from '../context.ts';
import type { FormParameters } from '../http/form.ts';
import { clientSource } from '../client-auth/failures.ts';
import { sendOAuthError } from '../http/oauth-error.ts';
import {
  authenticateFeedClient,
  FeedAuthError,
  revokesFeedClient,
  type FeedClient,
} from '../revocation/subscriber-auth.ts';
import type { RevocationRecord, ServiceRecord } from '../store/types.ts';
import { isTokenActive } from '../tokens/inspect.ts';
import { isAdmin } from './admin.ts';
import { authenticateOrReply, readForm } from './token.ts';

/** Most SSE subscribers one instance serves; more get 503 rather than exhausting sockets. */
const MAX_STREAM_SUBSCRIBERS = 1000;
/**
 * A subscriber that stops reading while events keep coming would make the authority buffer them
 * without end; past this many unsent bytes its stream is cut (it reconnects with its cursor).
 */
const MAX_STREAM_BACKLOG_BYTES = 1024 * 1024;

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
      // RFC 8705 §3.2: a resource server that introspects learns the binding too.
      ...(claims.cnf !== undefined ? { cnf: claims.cnf } : {}),
    });
  });

  void app.register((feed, _options, done) => {
    registerFeedRoutes(feed, ctx, streams);
    done();
  });
}

/** Who asked, set by the feed's `onRequest` hook for its handlers. */
const feedClients = new WeakMap<FastifyRequest, FeedClient>();

function feedClientOf(request: FastifyRequest): FeedClient {
  const client = feedClients.get(request);
  // The hook ran first or the request never got here; reaching this is a wiring bug.
  if (client === undefined) throw new Error('revocation feed request without a client');
  return client;
}

/**
 * `GET /v1/revocations` and `GET /v1/revocations/stream`, in a scope of their own whose
 * `onRequest` hook authenticates the caller before anything else about the request is looked
 * at. Refusals are 401 with a generic body; the reason goes to the log, to
 * `tessera_authority_failures_total` and to the aggregated refusal rows (never one audit row per
 * request), and counts against the source's failure budget.
 */
function registerFeedRoutes(
  app: FastifyInstance,
  ctx: AuthorityContext,
  streams: Set<ServerResponse>,
): void {
  const { maxStreamsPerClient, heartbeatMs, maxStreamMs } = ctx.settings.revocationFeed;
  /** Open streams per client SPIFFE ID, in this process (a cluster worker counts its own). */
  const openStreams = new Map<string, number>();

  app.addHook('onRequest', async (request, reply) => {
    // The same per-source budget of failed client authentication as the token endpoint: a
    // source that keeps failing stops costing signature checks here too.
    const source = clientSource(request);
    const retryAfter = ctx.unauthenticated.throttle(source, 'revocations');
    if (retryAfter > 0) {
      await reply
        .code(429)
        .header('retry-after', String(retryAfter))
        .send(publicErrorBody('ERR_RATE_LIMITED'));
      return;
    }
    try {
      feedClients.set(request, await authenticateFeedClient(ctx, request));
    } catch (error) {
      if (!(error instanceof FeedAuthError)) throw error;
      ctx.unauthenticated.refused(source, 'revocations', error.reason);
      request.log.warn(
        {
          reason: error.reason,
          ...(error.clientAuthReason !== undefined
            ? { clientAuthReason: error.clientAuthReason }
            : {}),
        },
        'revocation feed: authentication failed',
      );
      // RFC 6750 §3: no error attribute when no credentials were presented at all.
      await reply
        .code(401)
        .header(
          'www-authenticate',
          error.reason === 'missing'
            ? 'Bearer realm="tessera"'
            : 'Bearer realm="tessera", error="invalid_token"',
        )
        .header('cache-control', 'no-store')
        .send(publicErrorBody('ERR_UNAUTHENTICATED'));
    }
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
    const client = feedClientOf(request);
    const since = parseSince((request.query as Record<string, unknown>).since);
    if (since === undefined) return reply.code(400).send(publicErrorBody('ERR_REQUEST_INVALID'));
    const open = openStreams.get(client.clientId) ?? 0;
    if (open >= maxStreamsPerClient) {
      ctx.metrics.failures.inc({ endpoint: 'revocations', reason: 'too_many_streams' });
      request.log.warn({ clientId: client.clientId, open }, 'revocation feed: stream cap reached');
      return reply.code(429).header('retry-after', '5').send(publicErrorBody('ERR_RATE_LIMITED'));
    }
    if (ctx.revocations.subscribers >= MAX_STREAM_SUBSCRIBERS) {
      return reply.code(503).header('retry-after', '5').send(publicErrorBody('ERR_UNAVAILABLE'));
    }
    openStreams.set(client.clientId, open + 1);
    reply.hijack();
    const raw = reply.raw;
    streams.add(raw);
    raw.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // A stream lives no longer than the credential that opened it, nor than maxStreamMs: a
    // credential that expired, or whose service was disabled, must not keep a feed open.
    const deadline = Math.min(client.expiresAtMs, ctx.clock.now() + maxStreamMs);
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      raw.end();
    };
    const write = (text: string) => {
      if (ended) return;
      if (raw.writableLength > MAX_STREAM_BACKLOG_BYTES) {
        request.log.warn({ clientId: client.clientId }, 'revocation feed: subscriber not reading');
        ended = true;
        raw.destroy();
        return;
      }
      raw.write(text);
    };
    const send = (record: RevocationRecord) => {
      write(
        `id: ${record.id}\nevent: revocation\ndata: ${JSON.stringify(publicRecord(record))}\n\n`,
      );
      if (revokesFeedClient(record, client)) end();
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
    // The deadline is read on the injected clock at every heartbeat (tests move it), and a timer
    // ends the stream on time in between.
    const heartbeat = setInterval(() => {
      if (ctx.clock.now() >= deadline) end();
      else write(': keep-alive\n\n');
    }, heartbeatMs);
    heartbeat.unref();
    const lifetime = setTimeout(end, Math.max(0, deadline - ctx.clock.now()));
    lifetime.unref();
    request.raw.on('close', () => {
      streams.delete(raw);
      clearInterval(heartbeat);
      clearTimeout(lifetime);
      unsubscribe();
      const left = (openStreams.get(client.clientId) ?? 1) - 1;
      if (left > 0) openStreams.set(client.clientId, left);
      else openStreams.delete(client.clientId);
    });
    write(`retry: 1000\n\n`);
    for (const record of await ctx.revocations.list(since)) {
      if (record.id > lastSent) {
        lastSent = record.id;
        send(record);
      }
    }
  });
}
