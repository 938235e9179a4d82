/**
 * The ticketing demo's chain, api-gateway → event-service → billing, run as its own process
 * (`spawnBenchChild`, pinned to one CPU), one process per variant, all three services in it as
 * `npm start` runs them. The runner's `start` says which variant:
 *
 * - `tessera`: the demo's wiring. The services are registered with the authority from the demo's
 *   `policy.yaml` (`grantsFromPolicy`, `registerServices`), each is protected by the plugin
 *   (`authority: { url }`: keys from the JWKS, revocations over SSE, the verified-token cache
 *   with its defaults; the gateway also verifies the users' tokens of the authority process's
 *   stub IdP, `users`) and calls the next with the demo's `createUpstreams`
 *   (`ClientCredentialsTokenSource` + `createServiceDispatcher({ delegate: true })`: a token
 *   exchanged for the user per hop, cached per user, trace context continued).
 * - `noauth`: the same routes, schemas, payloads and reply serializer, plain Fastify and plain
 *   undici calls (an `Agent`, no interceptors), no plugin.
 *
 * The demo's `startService` always registers the plugin, with the default rate limit (1,000
 * requests per second per caller, which this load exceeds from one caller) and a synchronous
 * log file; so the apps are built here with the demo's route logic, schemas and helpers, and
 * the logger settings every bench app has (see bench/README.md): Fastify's per-request logging
 * off, `warn` and above counted, the plugin's audit events to a real file per service through
 * `auditFileDestination` (one write per event-loop turn).
 */
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { pino } from 'pino';
import { Agent, request as undiciRequest } from 'undici';
import {
  generateSigningKey,
  parsePolicy,
  type Policy,
  publicErrorBody,
  type SigningKey,
} from '@tessera/core';
import { auditFileDestination, tessera } from '@tessera/fastify';
import { BILLING } from '../../examples/ticketing/src/billing.ts';
import { EVENT_SERVICE } from '../../examples/ticketing/src/event-service.ts';
import { API_GATEWAY } from '../../examples/ticketing/src/gateway.ts';
import { grantsFromPolicy, registerServices } from '../../examples/ticketing/src/registration.ts';
import {
  idParams,
  newEventBody,
  newInvoiceBody,
  type NewEvent,
  type NewInvoice,
} from '../../examples/ticketing/src/schemas.ts';
import { hopOf, unavailable } from '../../examples/ticketing/src/service.ts';
import {
  createUpstreams,
  type UpstreamResponse,
  type Upstreams,
} from '../../examples/ticketing/src/upstreams.ts';
import { serveParent } from '../authority/child-process.ts';
import type {
  ChainAuthority,
  ChainClosed,
  ChainRequest,
  ChainStarted,
  ChildReady,
} from './messages.ts';

const HOST = '127.0.0.1';
/** The demo's policy file (read directly: `main.ts` would load the authority package too). */
const POLICY_FILE = new URL('../../examples/ticketing/policy.yaml', import.meta.url);
/**
 * The plugin's default is 1,000 requests per second per caller (and per address on the gateway's
 * public routes): the load, from one address and one gateway, would be refused with 429. High
 * enough never to trigger, still evaluated on every request, as for `fastify.protected`.
 */
const RATE_LIMIT = { max: 1_000_000_000, timeWindowMs: 1000 };

const policy: Policy = parsePolicy(await readFile(POLICY_FILE, 'utf8'));

const dir = await mkdtemp(join(tmpdir(), 'tessera-bench-demo-'));
// `close` removes it; this covers an exit without one (the runner went away), and the runner
// removes it too (a child killed on a timeout runs no exit handler).
process.once('exit', () => {
  rmSync(dir, { recursive: true, force: true });
});
const auditFiles = [API_GATEWAY, EVENT_SERVICE, BILLING].map((name) => join(dir, `${name}.log`));
const audit = new Map(
  [API_GATEWAY, EVENT_SERVICE, BILLING].map((name, i) => [
    name,
    pino({ name, level: 'info' }, auditFileDestination(auditFiles[i]!)),
  ]),
);

let warnLines = 0;
let lastWarnLine: string | undefined;

/** What differs between the variants; everything else is the same code. */
interface Wiring {
  /** Registers authentication on the app (or nothing). */
  protect(app: FastifyInstance, service: string): Promise<void>;
  /** This hop, as the service reports it in `hops`. */
  hop(service: string, request: FastifyRequest): object;
  /** The verified caller's SPIFFE ID; null without authentication. */
  callerOf(request: FastifyRequest): string | null;
  /** The outbound client of `self` for the services in `urls`. */
  upstreams(self: string, urls: Readonly<Record<string, string>>): Upstreams;
}

/** The demo's `createUpstreams` without Tessera: a plain undici `Agent`, no token, no trace. */
function plainUpstreams(urls: Readonly<Record<string, string>>): Upstreams {
  const agent = new Agent();
  return {
    async call(service, method, path, body) {
      const base = urls[service];
      if (base === undefined) throw new Error(`no upstream ${service}`);
      const response = await undiciRequest(new URL(path, base), {
        dispatcher: agent,
        method,
        ...(body !== undefined
          ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }
          : {}),
      });
      const text = await response.body.text();
      let parsed: unknown;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: response.statusCode, body: parsed };
    },
    close: () => agent.close(),
  };
}

function noauthWiring(): Wiring {
  return {
    protect: () => Promise.resolve(),
    hop: (service) => ({ service, caller: null }),
    callerOf: () => null,
    upstreams: (_self, urls) => plainUpstreams(urls),
  };
}

/** The demo's wiring: registered services, the plugin on each, tokens from the authority. */
async function tesseraWiring(authority: ChainAuthority): Promise<Wiring> {
  const keys = new Map<string, SigningKey>(
    policy.services.map((service) => [service.name, generateSigningKey('ES256')]),
  );
  await registerServices({
    authorityUrl: authority.url,
    admin: { token: authority.adminToken },
    grants: grantsFromPolicy(policy),
    keys,
  });
  return {
    protect: async (app, service) => {
      await app.register(tessera, {
        service,
        policy,
        authority: {
          url: authority.url,
          issuer: authority.issuer,
          credentials: { privateKey: keys.get(service)!.privateKey },
        },
        auditLogger: audit.get(service)!,
        rateLimit: RATE_LIMIT,
        // The edge verifies the users' own tokens, as the demo's gateway verifies its IdP's.
        ...(service === API_GATEWAY
          ? {
              users: {
                issuer: authority.demoUsers.issuer,
                audience: authority.demoUsers.audience,
                jwks: `${authority.demoUsers.issuer}/jwks`,
                algorithms: ['ES256' as const],
                tenantClaim: 'tenant_id',
              },
            }
          : {}),
      });
    },
    hop: hopOf,
    callerOf: (request) => request.caller?.spiffeId ?? null,
    upstreams: (self, urls) =>
      createUpstreams({ self, key: keys.get(self)!, authorityUrl: authority.url, policy, urls }),
  };
}

function hopsOf(body: unknown): { rest: Record<string, unknown>; hops: unknown[] } | undefined {
  if (typeof body !== 'object' || body === null || !('hops' in body)) return undefined;
  const { hops, ...rest } = body as Record<string, unknown>;
  return Array.isArray(hops) ? { rest, hops } : undefined;
}

/** The demo's `relay` (service.ts), for a hop of either variant. */
function relay(
  request: FastifyRequest,
  reply: FastifyReply,
  hop: object,
  upstream: UpstreamResponse,
): FastifyReply {
  const parsed = hopsOf(upstream.body);
  if (upstream.status >= 200 && upstream.status < 300 && parsed !== undefined) {
    return reply.code(upstream.status).send({ ...parsed.rest, hops: [hop, ...parsed.hops] });
  }
  if (upstream.status === 400 || upstream.status === 404) {
    return reply.code(upstream.status).send(upstream.body);
  }
  request.log.warn({ upstreamStatus: upstream.status }, 'upstream call failed');
  return reply.code(503).send(publicErrorBody('ERR_UNAVAILABLE'));
}

/** An app with the demo's serializer and error handling, and the bench's logger settings. */
async function startService(
  name: string,
  wiring: Wiring,
  routes: (app: FastifyInstance) => void,
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: {
      level: 'warn',
      stream: {
        write(line: string) {
          warnLines++;
          lastWarnLine = line;
        },
      },
    },
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.setReplySerializer((payload) => `${JSON.stringify(payload, null, 2)}\n`);
  app.setNotFoundHandler((_request, reply) =>
    reply.code(404).send(publicErrorBody('ERR_NOT_FOUND')),
  );
  app.setErrorHandler(
    (error: Error & { statusCode?: number; validation?: unknown }, request, reply) => {
      if (error.statusCode === 429) {
        return reply.code(429).send(publicErrorBody('ERR_RATE_LIMITED'));
      }
      if (error.validation !== undefined || (error.statusCode ?? 500) < 500) {
        request.log.info({ err: error.message }, 'request refused');
        return reply.code(400).send(publicErrorBody('ERR_REQUEST_INVALID'));
      }
      request.log.error({ err: error }, 'request failed');
      return reply.code(500).send(publicErrorBody('ERR_INTERNAL'));
    },
  );
  await wiring.protect(app, name);
  app.get('/whoami', (request) => ({ service: name, caller: wiring.callerOf(request) }));
  routes(app);
  await app.listen({ host: HOST, port: 0 });
  return app;
}

function urlOf(app: FastifyInstance): string {
  const address = app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no listening address');
  return `http://${HOST}:${address.port}`;
}

/** billing, as in the demo's billing.ts. */
function startBilling(wiring: Wiring): Promise<FastifyInstance> {
  const invoices = new Map<string, object>();
  return startService(BILLING, wiring, (app) => {
    app.post<{ Body: NewInvoice }>(
      '/invoices',
      { schema: { body: newInvoiceBody } },
      (request, reply) => {
        const invoice = {
          id: `inv-${invoices.size + 1}`,
          eventId: request.body.eventId,
          amountCents: request.body.amountCents,
          status: 'open',
          createdBy: wiring.callerOf(request),
        };
        invoices.set(invoice.id, invoice);
        return reply.code(201).send({ invoice, hops: [wiring.hop(BILLING, request)] });
      },
    );
    app.get<{ Params: { id: string } }>(
      '/invoices/:id',
      { schema: { params: idParams } },
      (request, reply) => {
        const invoice = invoices.get(request.params.id);
        if (invoice === undefined) return reply.code(404).send(publicErrorBody('ERR_NOT_FOUND'));
        return reply.send({ invoice, hops: [wiring.hop(BILLING, request)] });
      },
    );
  });
}

/** event-service, as in the demo's event-service.ts: creating an event bills it. */
function startEventService(wiring: Wiring, upstreams: Upstreams): Promise<FastifyInstance> {
  const events = new Map<string, object>();
  let lastId = 0;
  return startService(EVENT_SERVICE, wiring, (app) => {
    app.get<{ Params: { id: string } }>(
      '/events/:id',
      { schema: { params: idParams } },
      (request, reply) => {
        const event = events.get(request.params.id);
        if (event === undefined) return reply.code(404).send(publicErrorBody('ERR_NOT_FOUND'));
        return reply.send({ event, hops: [wiring.hop(EVENT_SERVICE, request)] });
      },
    );
    app.post<{ Body: NewEvent }>(
      '/events',
      { schema: { body: newEventBody } },
      async (request, reply) => {
        const hop = wiring.hop(EVENT_SERVICE, request);
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
        const event = {
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
  });
}

/** api-gateway, as in the demo's gateway.ts: routes for users, each forwarded upstream. */
function startGateway(wiring: Wiring, upstreams: Upstreams): Promise<FastifyInstance> {
  const forward = async (
    request: FastifyRequest,
    reply: FastifyReply,
    call: () => Promise<UpstreamResponse>,
  ) => {
    const hop = wiring.hop(API_GATEWAY, request);
    let upstream: UpstreamResponse;
    try {
      upstream = await call();
    } catch (error) {
      return unavailable(request, reply, error);
    }
    return relay(request, reply, hop, upstream);
  };
  return startService(API_GATEWAY, wiring, (app) => {
    app.get<{ Params: { id: string } }>(
      '/events/:id',
      { schema: { params: idParams } },
      (request, reply) =>
        forward(request, reply, () =>
          upstreams.call(EVENT_SERVICE, 'GET', `/events/${request.params.id}`),
        ),
    );
    app.post<{ Body: NewEvent }>('/events', { schema: { body: newEventBody } }, (request, reply) =>
      forward(request, reply, () => upstreams.call(EVENT_SERVICE, 'POST', '/events', request.body)),
    );
    app.get<{ Params: { id: string } }>(
      '/invoices/:id',
      { schema: { params: idParams } },
      (request, reply) =>
        forward(request, reply, () =>
          upstreams.call(BILLING, 'GET', `/invoices/${request.params.id}`),
        ),
    );
  });
}

interface Running {
  readonly apps: FastifyInstance[];
  readonly upstreams: Upstreams[];
}

let running: Running | undefined;

async function start(wiring: Wiring): Promise<ChainStarted> {
  const started: Running = { apps: [], upstreams: [] };
  running = started;
  const billing = await startBilling(wiring);
  started.apps.push(billing);
  const toBilling = wiring.upstreams(EVENT_SERVICE, { [BILLING]: urlOf(billing) });
  started.upstreams.push(toBilling);
  const events = await startEventService(wiring, toBilling);
  started.apps.push(events);
  const fromGateway = wiring.upstreams(API_GATEWAY, {
    [EVENT_SERVICE]: urlOf(events),
    [BILLING]: urlOf(billing),
  });
  started.upstreams.push(fromGateway);
  const gateway = await startGateway(wiring, fromGateway);
  started.apps.push(gateway);
  return {
    gateway: urlOf(gateway),
    eventService: urlOf(events),
    billing: urlOf(billing),
    trustDomain: policy.trustDomain,
  };
}

async function close(): Promise<ChainClosed> {
  try {
    // The edge first, as the demo closes in reverse start order.
    for (const app of [...(running?.apps ?? [])].reverse()) await app.close();
    for (const upstreams of running?.upstreams ?? []) await upstreams.close();
    await Promise.all(
      [...audit.values()].map(
        (logger) =>
          new Promise<void>((resolve) => {
            logger.flush(() => {
              resolve();
            });
          }),
      ),
    );
    let auditBytes = 0;
    for (const file of auditFiles) auditBytes += (await stat(file)).size;
    return { auditBytes, warnLines, lastWarnLine };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const ready: ChildReady = { pid: process.pid, dir };

serveParent<ChainRequest>(
  ready,
  async (request): Promise<ChainStarted | ChainClosed> => {
    switch (request.type) {
      case 'start':
        if (running !== undefined) throw new Error('already started');
        return start(
          request.variant === 'tessera' ? await tesseraWiring(request.authority) : noauthWiring(),
        );
      case 'close':
        return close();
    }
  },
  (request) => request.type === 'close',
);
