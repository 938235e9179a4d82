import type { KeyRotation } from '@tessera/client';
import { publicErrorBody } from '@tessera/core';
import { BILLING } from './billing.ts';
import { idParams, newEventBody, type NewEvent } from './schemas.ts';
import {
  hopOf,
  otherTenant,
  relay,
  startService,
  unavailable,
  type RunningService,
  type ServiceOptions,
} from './service.ts';
import { createUpstreams } from './upstreams.ts';

export const EVENT_SERVICE = 'event-service';

interface TicketedEvent {
  readonly id: string;
  readonly name: string;
  readonly priceCents: number;
  readonly invoiceId: string;
  /** Whose event it is: the user and tenant of the verified token, never a header or the body. */
  readonly user: string;
  readonly tenant: string;
}

/**
 * event-service: `GET /events/:id` and `POST /events` for api-gateway acting for a user. Creating
 * an event bills it: a call to billing `POST /invoices` with a token the authority exchanged for
 * the same user, event-service acting (audience billing, scope `invoices:write`), not the token it
 * was called with — the seed audit found user tokens reused for service calls. An event belongs
 * to the user's tenant, and only that tenant reads it.
 */
export function startEventService(
  options: ServiceOptions & { readonly key: KeyRotation; readonly billingUrl: string },
): Promise<RunningService> {
  const events = new Map<string, TicketedEvent>();
  let lastId = 0;
  const upstreams = createUpstreams({
    self: EVENT_SERVICE,
    key: options.key,
    authorityUrl: options.authorityUrl,
    policy: options.policy,
    identity: options.identity,
    urls: { [BILLING]: options.billingUrl },
  });
  return startService(
    EVENT_SERVICE,
    options,
    (app) => {
      app.get<{ Params: { id: string } }>(
        '/events/:id',
        { schema: { params: idParams } },
        (request, reply) => {
          const event = events.get(request.params.id);
          if (event === undefined) return reply.code(404).send(publicErrorBody('ERR_NOT_FOUND'));
          const hop = hopOf(EVENT_SERVICE, request);
          if (request.caller?.tenant !== event.tenant) {
            return otherTenant(request, reply, { event: event.id, tenant: event.tenant });
          }
          return reply.send({ event, hops: [hop] });
        },
      );

      app.post<{ Body: NewEvent }>(
        '/events',
        { schema: { body: newEventBody } },
        async (request, reply) => {
          const hop = hopOf(EVENT_SERVICE, request);
          const caller = request.caller!;
          // The policy admits only delegated callers here; an event needs a tenant to belong to.
          if (caller.kind !== 'delegated' || caller.tenant === undefined) {
            return otherTenant(request, reply, { event: 'new' });
          }
          // Taken before the billing call, so concurrent requests never share an id.
          const id = `evt-${++lastId}`;
          let billed;
          try {
            billed = await upstreams.call(BILLING, 'POST', '/invoices', {
              eventId: id,
              amountCents: request.body.priceCents,
            });
          } catch (error) {
            return unavailable(request, reply, error);
          }
          if (billed.status !== 201) return relay(request, reply, hop, billed);
          const invoice = (billed.body as { invoice?: { id?: unknown } } | undefined)?.invoice;
          if (typeof invoice?.id !== 'string') {
            return unavailable(request, reply, 'billing answered 201 without an invoice id');
          }
          const event: TicketedEvent = {
            id,
            name: request.body.name,
            priceCents: request.body.priceCents,
            invoiceId: invoice.id,
            user: caller.user,
            tenant: caller.tenant,
          };
          events.set(id, event);
          return relay(request, reply, hop, {
            ...billed,
            body: { event, ...(billed.body as object) },
          });
        },
      );
    },
    () => upstreams.close(),
  );
}
