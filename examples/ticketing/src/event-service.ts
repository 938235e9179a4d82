import { publicErrorBody, type SigningKey } from '@tessera/core';
import { BILLING } from './billing.ts';
import { idParams, newEventBody, type NewEvent } from './schemas.ts';
import {
  hopOf,
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
}

/**
 * event-service: `GET /events/:id` and `POST /events` for api-gateway. Creating an event bills
 * it: a call to billing `POST /invoices` with event-service's own token (audience billing, scope
 * `invoices:write`), not the token it was called with — the seed audit found user tokens reused
 * for service calls.
 */
export function startEventService(
  options: ServiceOptions & { readonly key: SigningKey; readonly billingUrl: string },
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
          return reply.send({ event, hops: [hopOf(EVENT_SERVICE, request)] });
        },
      );

      app.post<{ Body: NewEvent }>(
        '/events',
        { schema: { body: newEventBody } },
        async (request, reply) => {
          const hop = hopOf(EVENT_SERVICE, request);
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
