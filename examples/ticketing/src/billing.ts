import { publicErrorBody } from '@tessera/core';
import { idParams, newInvoiceBody, type NewInvoice } from './schemas.ts';
import { hopOf, startService, type RunningService, type ServiceOptions } from './service.ts';

export const BILLING = 'billing';

interface Invoice {
  readonly id: string;
  readonly eventId: string;
  readonly amountCents: number;
  readonly status: 'open';
  /** The verified caller that created it: from its token, never from a header. */
  readonly createdBy: string;
}

/**
 * billing: `POST /invoices` for event-service (`invoices:write`), `GET /invoices/:id` for
 * api-gateway only (`invoices:read`). In the audited platform any caller that sent
 * `x-gateway-internal: true` got in; here every route needs a token for this audience that the
 * policy accepts.
 */
export function startBilling(options: ServiceOptions): Promise<RunningService> {
  const invoices = new Map<string, Invoice>();
  return startService(BILLING, options, (app) => {
    app.post<{ Body: NewInvoice }>(
      '/invoices',
      { schema: { body: newInvoiceBody } },
      (request, reply) => {
        const invoice: Invoice = {
          id: `inv-${invoices.size + 1}`,
          eventId: request.body.eventId,
          amountCents: request.body.amountCents,
          status: 'open',
          createdBy: request.caller!.spiffeId ?? request.caller!.user,
        };
        invoices.set(invoice.id, invoice);
        // Money changes hands: record what was created and by whom, beside the plugin's event.
        request.log.info(
          {
            invoice: invoice.id,
            eventId: invoice.eventId,
            amountCents: invoice.amountCents,
            createdBy: invoice.createdBy,
          },
          'invoice created',
        );
        return reply.code(201).send({ invoice, hops: [hopOf(BILLING, request)] });
      },
    );

    app.get<{ Params: { id: string } }>(
      '/invoices/:id',
      { schema: { params: idParams } },
      (request, reply) => {
        const invoice = invoices.get(request.params.id);
        if (invoice === undefined) return reply.code(404).send(publicErrorBody('ERR_NOT_FOUND'));
        return reply.send({ invoice, hops: [hopOf(BILLING, request)] });
      },
    );
  });
}
