import { publicErrorBody } from '@tessera/core';
import { idParams, newInvoiceBody, type NewInvoice } from './schemas.ts';
import {
  hopOf,
  otherTenant,
  startService,
  type RunningService,
  type ServiceOptions,
} from './service.ts';

export const BILLING = 'billing';

interface Invoice {
  readonly id: string;
  readonly eventId: string;
  readonly amountCents: number;
  readonly status: 'open';
  /** The user it bills and their tenant: from the verified token, never from a header or body. */
  readonly user: string;
  readonly tenant: string;
  /** The service that created it for the user (the nearest actor of its token). */
  readonly createdBy: string;
}

/**
 * billing: `POST /invoices` for event-service (`invoices:write`), `GET /invoices/:id` for
 * api-gateway only (`invoices:read`), both only for a user (delegated tokens). In the audited
 * platform any caller that sent `x-gateway-internal: true` got in; here every route needs a token
 * for this audience that the policy accepts. An invoice belongs to the tenant of the user it was
 * created for, and only that tenant reads it (checked here: the policy's `tenant` rule compares
 * with a path parameter, and the tenant is in the invoice).
 */
export function startBilling(options: ServiceOptions): Promise<RunningService> {
  const invoices = new Map<string, Invoice>();
  return startService(BILLING, options, (app) => {
    app.post<{ Body: NewInvoice }>(
      '/invoices',
      { schema: { body: newInvoiceBody } },
      (request, reply) => {
        const caller = request.caller!;
        // The policy admits only delegated callers here; a tenant is required to own an invoice.
        if (caller.kind !== 'delegated' || caller.tenant === undefined) {
          return otherTenant(request, reply, { invoice: 'new' });
        }
        const invoice: Invoice = {
          id: `inv-${invoices.size + 1}`,
          eventId: request.body.eventId,
          amountCents: request.body.amountCents,
          status: 'open',
          user: caller.user,
          tenant: caller.tenant,
          createdBy: caller.spiffeId,
        };
        invoices.set(invoice.id, invoice);
        // Money changes hands: record what was created and by whom, beside the plugin's event.
        request.log.info(
          {
            invoice: invoice.id,
            eventId: invoice.eventId,
            amountCents: invoice.amountCents,
            user: invoice.user,
            tenant: invoice.tenant,
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
        const hop = hopOf(BILLING, request);
        if (request.caller?.tenant !== invoice.tenant) {
          return otherTenant(request, reply, { invoice: invoice.id, tenant: invoice.tenant });
        }
        return reply.send({ invoice, hops: [hop] });
      },
    );
  });
}
