/** JSON Schemas of the demo's request shapes, checked by Fastify before any handler runs. */

const ID = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } as const;

export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: ID },
} as const;

export interface NewEvent {
  readonly name: string;
  readonly priceCents: number;
}

export const newEventBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'priceCents'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    priceCents: { type: 'integer', minimum: 0, maximum: 100_000_000 },
  },
} as const;

export interface NewInvoice {
  readonly eventId: string;
  readonly amountCents: number;
}

export const newInvoiceBody = {
  type: 'object',
  additionalProperties: false,
  required: ['eventId', 'amountCents'],
  properties: {
    eventId: ID,
    amountCents: { type: 'integer', minimum: 0, maximum: 100_000_000 },
  },
} as const;
