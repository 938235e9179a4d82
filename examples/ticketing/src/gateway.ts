import type { KeyRotation } from '@tessera/client';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BILLING } from './billing.ts';
import { EVENT_SERVICE } from './event-service.ts';
import { idParams, newEventBody, type NewEvent } from './schemas.ts';
import {
  hopOf,
  relay,
  startService,
  unavailable,
  type RunningService,
  type ServiceOptions,
} from './service.ts';
import { createUpstreams, type UpstreamResponse } from './upstreams.ts';

export const API_GATEWAY = 'api-gateway';

/**
 * api-gateway, the edge: its routes require an end user (`user: required`, `{ users: true }` in
 * the policy), who calls with an access token of the demo's OpenID provider, verified by the
 * plugin's `users` option. Behind it, each call goes out with a token the authority exchanged for
 * that user and that upstream, api-gateway acting (RFC 8693) — never the user's own token, never
 * an `x-gateway-internal` marker for anyone to copy — and the trace context of the inbound request.
 */
export function startGateway(
  options: ServiceOptions & {
    readonly key: KeyRotation;
    readonly eventServiceUrl: string;
    readonly billingUrl: string;
  },
): Promise<RunningService> {
  const upstreams = createUpstreams({
    self: API_GATEWAY,
    key: options.key,
    authorityUrl: options.authorityUrl,
    policy: options.policy,
    identity: options.identity,
    urls: { [EVENT_SERVICE]: options.eventServiceUrl, [BILLING]: options.billingUrl },
  });
  const forward = async (
    request: FastifyRequest,
    reply: FastifyReply,
    call: () => Promise<UpstreamResponse>,
  ) => {
    const hop = hopOf(API_GATEWAY, request);
    let upstream: UpstreamResponse;
    try {
      upstream = await call();
    } catch (error) {
      return unavailable(request, reply, error);
    }
    return relay(request, reply, hop, upstream);
  };
  return startService(
    API_GATEWAY,
    options,
    (app) => {
      app.get<{ Params: { id: string } }>(
        '/events/:id',
        { schema: { params: idParams } },
        (request, reply) =>
          forward(request, reply, () =>
            upstreams.call(EVENT_SERVICE, 'GET', `/events/${request.params.id}`),
          ),
      );
      app.post<{ Body: NewEvent }>(
        '/events',
        { schema: { body: newEventBody } },
        (request, reply) =>
          forward(request, reply, () =>
            upstreams.call(EVENT_SERVICE, 'POST', '/events', request.body),
          ),
      );
      app.get<{ Params: { id: string } }>(
        '/invoices/:id',
        { schema: { params: idParams } },
        (request, reply) =>
          forward(request, reply, () =>
            upstreams.call(BILLING, 'GET', `/invoices/${request.params.id}`),
          ),
      );
    },
    () => upstreams.close(),
  );
}
