import assert from 'node:assert/strict';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '@tessera/authority/testing';
import {
  ClientCredentialsTokenSource,
  createServiceMap,
  createWorkloadIdentity,
  type TokenSource,
  type WorkloadIdentity,
} from '@tessera/client';
import { login } from '@tessera/example-idp/login';
import { serviceSpiffeId, signingKeyFromPrivateKey, type SigningKey } from '@tessera/core';
import { eventually } from '@tessera/core/testing';
import { Agent, fetch as undiciFetch, type Dispatcher } from 'undici';
import type { DemoTransport } from '../src/config.ts';
import { startDemo, type RunningDemo } from '../src/main.ts';
import type { Hop } from '../src/service.ts';

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

/**
 * One request. Over mTLS, `dispatcher` presents a client SVID (see `DemoClient`); without one the
 * TLS handshake itself is refused, which `fetch` reports as an error.
 */
async function http(
  method: string,
  url: string,
  options: { headers?: Record<string, string>; body?: unknown; dispatcher?: Dispatcher } = {},
): Promise<Reply> {
  const response = await undiciFetch(url, {
    method,
    headers: {
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...options.headers,
    },
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    ...(options.dispatcher !== undefined ? { dispatcher: options.dispatcher } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers as unknown as Headers,
    text,
    json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
  };
}

const keyOf = async (demo: RunningDemo, service: string): Promise<SigningKey> =>
  signingKeyFromPrivateKey(
    createPrivateKey(await readFile(demo.keyFile(service), 'utf8')),
    'ES256',
  );

/**
 * A caller outside the demo. Over mTLS it holds an SVID of its own for `service` (from the
 * authority, with that service's registered key) and checks each demo service's SPIFFE ID;
 * over plain HTTP it sends nothing but what the test gives.
 */
class DemoClient {
  readonly #identities: WorkloadIdentity[] = [];
  readonly #dispatchers = new Map<string, Dispatcher>();
  #authority: Agent | undefined;

  constructor(readonly demo: RunningDemo) {}

  /** The dispatcher presenting `service`'s SVID; undefined over plain HTTP. */
  async as(service: string): Promise<Dispatcher | undefined> {
    const { demo } = this;
    if (demo.transport === 'http') return undefined;
    const known = this.#dispatchers.get(service);
    if (known !== undefined) return known;
    const identity = await createWorkloadIdentity({
      authority: { url: demo.authorityUrl, ca: await readFile(demo.bundlePath!, 'utf8') },
      spiffeId: serviceSpiffeId('tessera.local', service),
      credentials: { key: await keyOf(demo, service) },
    });
    this.#identities.push(identity);
    const services = createServiceMap(
      Object.fromEntries(Object.entries(demo.urls).map(([name, url]) => [name, { url }])),
      { trustDomain: 'tessera.local' },
    );
    const dispatcher = identity.dispatcher({ services });
    this.#dispatchers.set(service, dispatcher);
    return dispatcher;
  }

  /** `service`'s access tokens, obtained over mTLS with its SVID. */
  async tokens(service: string): Promise<TokenSource> {
    await this.as(service);
    const identity = this.#identities.find((i) => i.spiffeId.endsWith(`/${service}`));
    if (identity === undefined) throw new Error('tokens over mTLS need the mTLS demo');
    return identity.tokenSource();
  }

  /** Trusts the demo's bundle and nothing else, presents no certificate: for the admin token. */
  async trustingAuthority(): Promise<Dispatcher> {
    this.#authority ??= new Agent({
      connect: { ca: await readFile(this.demo.bundlePath!, 'utf8') },
    });
    return this.#authority;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#dispatchers.values()].map((d) => d.close()));
    await this.#authority?.close();
    await Promise.all(this.#identities.map((i) => i.close()));
  }
}

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const EDGE_TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

/** Who calls the demo from outside over mTLS: any SVID of the trust domain gets through the handshake. */
const OUTSIDE = 'event-service';

const TRANSPORTS: readonly { transport: DemoTransport; title: string }[] = [
  { transport: 'mtls', title: 'mutual TLS (the default)' },
  { transport: 'http', title: 'plain HTTP (TESSERA_DEMO_TRANSPORT=http)' },
];

for (const { transport, title } of TRANSPORTS)
  describe(`the ticketing demo over ${title}`, () => {
    const mtls = transport === 'mtls';
    let dataDir: string;
    let demo: RunningDemo;
    let client: DemoClient;
    /** The dispatcher presenting `service`'s SVID (mTLS), or none (plain HTTP). */
    const as = async (service: string) => {
      const dispatcher = await client.as(service);
      return dispatcher === undefined ? {} : { dispatcher };
    };
    let gateway: string;
    let billing: string;
    let events: string;
    const seen: { service: string; headers: IncomingHttpHeaders }[] = [];

    /**
     * The Tessera audit events in a service's log that satisfy `where`, once there are `count` of
     * them (each is written after its response is sent, so wait for it, at most 2 s).
     */
    async function auditEvents(
      service: string,
      where: (event: Record<string, unknown>) => boolean,
      count = 1,
    ): Promise<Record<string, unknown>[]> {
      let found: Record<string, unknown>[] = [];
      await eventually(async () => {
        found = (await readFile(demo.logFile(service), 'utf8'))
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as Record<string, unknown>)
          .filter((e) => e.event === 'tessera.request' && where(e));
        return found.length >= count;
      }, 2000);
      assert.equal(found.length, count, `${service}: audit events`);
      return found;
    }

    const adminToken = async () => (await readFile(demo.adminTokenPath, 'utf8')).trim();

    /**
     * A billing token for event-service, from the authority, signed for with event-service's key
     * (over mTLS, through the client's own event-service SVID).
     */
    async function eventServiceBillingToken(): Promise<string> {
      const tokens = mtls
        ? await client.tokens('event-service')
        : new ClientCredentialsTokenSource({
            authorityUrl: demo.authorityUrl,
            clientId: 'spiffe://tessera.local/event-service',
            key: await keyOf(demo, 'event-service'),
          });
      return tokens.getToken('spiffe://tessera.local/billing', ['invoices:write']);
    }

    before(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'tessera-ticketing-'));
      demo = await startDemo({
        dataDir,
        ports: { authority: await freePort(), gateway: 0, eventService: 0, billing: 0, idp: 0 },
        quiet: true,
        transport,
        observe: (service, request) => {
          seen.push({ service, headers: { ...request.headers } });
        },
      });
      client = new DemoClient(demo);
      gateway = demo.urls['api-gateway'];
      events = demo.urls['event-service'];
      billing = demo.urls.billing;
    });
    after(async () => {
      await client.close();
      await demo.close();
      await rm(dataDir, { recursive: true, force: true });
    });

    it(`serves every hop over ${mtls ? 'https' : 'http'}`, () => {
      const scheme = mtls ? 'https:' : 'http:';
      for (const url of [demo.authorityUrl, gateway, events, billing]) {
        assert.equal(new URL(url).protocol, scheme, url);
      }
    });

    it('runs the user IdP on loopback plain HTTP, and a user can log in', async () => {
      assert.match(demo.idpUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
      const response = await fetch(`${demo.idpUrl}/.well-known/openid-configuration`, {
        signal: AbortSignal.timeout(5000),
      });
      assert.equal(response.status, 200);
      assert.equal(((await response.json()) as { issuer: string }).issuer, demo.idpUrl);
      const tokens = await login(demo.idpUrl, 'bob');
      assert.equal(tokens.token_type, 'Bearer');
    });

    it('runs the chain gateway → event-service → billing, one trace id and correlation id at every hop', async () => {
      const created = await http('POST', `${gateway}/events`, {
        ...(await as(OUTSIDE)),
        headers: { traceparent: EDGE_TRACEPARENT, 'x-correlation-id': 'order-42' },
        body: { name: 'Tessera Live', priceCents: 4500 },
      });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.headers.get('x-correlation-id'), 'order-42');
      const { event, invoice } = created.json as {
        event: { id: string; invoiceId: string; priceCents: number };
        invoice: { id: string; eventId: string; amountCents: number; createdBy: string };
      };
      assert.equal(invoice.id, event.invoiceId);
      assert.equal(invoice.eventId, event.id);
      assert.equal(invoice.amountCents, 4500);
      assert.equal(invoice.createdBy, 'spiffe://tessera.local/event-service');

      const hops = created.json.hops as Hop[];
      assert.deepEqual(
        hops.map((h) => [h.service, h.caller]),
        [
          ['api-gateway', null],
          ['event-service', 'spiffe://tessera.local/api-gateway'],
          ['billing', 'spiffe://tessera.local/event-service'],
        ],
      );
      for (const hop of hops) {
        assert.equal(hop.traceId, TRACE_ID, hop.service);
        assert.equal(hop.correlationId, 'order-42', hop.service);
      }
      // Each hop is a child span of the one that called it.
      assert.equal(hops[0]!.parentSpanId, '00f067aa0ba902b7');
      assert.equal(hops[1]!.parentSpanId, hops[0]!.spanId);
      assert.equal(hops[2]!.parentSpanId, hops[1]!.spanId);
      assert.equal(new Set(hops.map((h) => h.spanId)).size, 3);

      const read = await http('GET', `${gateway}/events/${event.id}`, await as(OUTSIDE));
      assert.equal(read.status, 200, read.text);
      assert.deepEqual(read.json.event, event);
      assert.deepEqual(
        (read.json.hops as Hop[]).map((h) => h.service),
        ['api-gateway', 'event-service'],
      );

      const billed = await http('GET', `${gateway}/invoices/${invoice.id}`, await as(OUTSIDE));
      assert.equal(billed.status, 200, billed.text);
      assert.deepEqual(billed.json.invoice, invoice);
      assert.deepEqual(
        (billed.json.hops as Hop[]).map((h) => [h.service, h.caller]),
        [
          ['api-gateway', null],
          ['billing', 'spiffe://tessera.local/api-gateway'],
        ],
      );
    });

    it('starts one trace at the edge when the request brings none', async () => {
      const created = await http('POST', `${gateway}/events`, {
        ...(await as(OUTSIDE)),
        body: { name: 'No trace yet', priceCents: 100 },
      });
      assert.equal(created.status, 201, created.text);
      const hops = created.json.hops as Hop[];
      assert.equal(hops.length, 3);
      assert.equal(new Set(hops.map((h) => h.traceId)).size, 1);
      assert.equal(new Set(hops.map((h) => h.correlationId)).size, 1);
      assert.equal(hops[0]!.parentSpanId, null);
    });

    it('relays a 404 from upstream as a 404, with only code and message', async () => {
      const missing = await http('GET', `${gateway}/events/evt-999999`, await as(OUTSIDE));
      assert.equal(missing.status, 404);
      assert.deepEqual(missing.json, { code: 'ERR_NOT_FOUND', message: 'not found' });
    });

    it('refuses x-gateway-internal: true at billing and event-service with {code, message} only', async () => {
      // Over mTLS the certificate names the caller, so the header meets a known service that the
      // route does not allow (403); over plain HTTP there is no caller at all (401).
      for (const [url, body, caller] of [
        [`${billing}/invoices`, { eventId: 'evt-1', amountCents: 1 }, 'api-gateway'],
        [`${events}/events`, { name: 'Free tickets', priceCents: 0 }, 'billing'],
      ] as const) {
        const response = await http('POST', url, {
          ...(await as(caller)),
          headers: { 'x-gateway-internal': 'true', 'x-internal-token': 'shared-secret' },
          body,
        });
        if (mtls) {
          assert.equal(response.status, 403, url);
          assert.deepEqual(response.json, { code: 'ERR_POLICY_CALLER', message: 'forbidden' });
        } else {
          assert.equal(response.status, 401, url);
          assert.deepEqual(response.json, {
            code: 'ERR_CREDENTIALS_MISSING',
            message: 'unauthorized',
          });
          assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="tessera"');
        }
      }
    });

    it('refuses event-service on a billing route it is not allowed (403), though its token is valid', async () => {
      const token = await eventServiceBillingToken();
      const created = await http('POST', `${billing}/invoices`, {
        ...(await as('event-service')),
        headers: { authorization: `Bearer ${token}` },
        body: { eventId: 'evt-1', amountCents: 1 },
      });
      assert.equal(created.status, 201, 'the same token is good where the policy allows it');
      const read = await http('GET', `${billing}/invoices/inv-1`, {
        ...(await as('event-service')),
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(read.status, 403);
      assert.deepEqual(read.json, { code: 'ERR_POLICY_CALLER', message: 'forbidden' });
    });

    it('names the refused caller and its jti in the audit event of a 403', async () => {
      const token = await eventServiceBillingToken();
      const { jti } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
        jti: string;
      };
      const read = await http('GET', `${billing}/invoices/inv-1`, {
        ...(await as('event-service')),
        headers: { authorization: `Bearer ${token}`, 'x-correlation-id': 'audit-403' },
      });
      assert.equal(read.status, 403);
      const [event] = await auditEvents('billing', (e) => e.correlationId === 'audit-403');
      assert.ok(event !== undefined);
      assert.equal(event.decision, 'deny');
      assert.equal(event.reason, 'ERR_POLICY_CALLER');
      assert.equal(event.caller, 'spiffe://tessera.local/event-service');
      assert.equal(event.jti, jti);
    });

    it('refuses a revoked token within a second', async () => {
      const token = await eventServiceBillingToken();
      const certificate = await as('event-service');
      const whoami = () =>
        http('GET', `${billing}/whoami`, {
          ...certificate,
          headers: { authorization: `Bearer ${token}` },
        });
      assert.equal((await whoami()).status, 200);
      const { jti, exp } = JSON.parse(
        Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'),
      ) as { jti: string; exp: number };
      const revoked = await http('POST', `${demo.authorityUrl}/v1/admin/revocations`, {
        ...(mtls ? { dispatcher: await client.trustingAuthority() } : {}),
        headers: { authorization: `Bearer ${await adminToken()}` },
        body: { jti, exp },
      });
      assert.equal(revoked.status, 201);
      const took = await eventually(async () => {
        const response = await whoami();
        return response.status === 401 && response.json.code === 'ERR_TOKEN_REVOKED';
      }, 1000);
      assert.ok(took < 1000);
    });

    it('answers /whoami with the verified caller, never with the request headers', async () => {
      const token = await eventServiceBillingToken();
      const canary = `canary-${randomBytes(8).toString('hex')}`;
      const response = await http('GET', `${billing}/whoami`, {
        ...(await as('event-service')),
        headers: { authorization: `Bearer ${token}`, 'x-canary': canary, 'x-user-id': canary },
      });
      assert.equal(response.status, 200);
      const { service, caller } = response.json as {
        service: string;
        caller: { kind: string; spiffeId: string; scopes: string[]; jti: string };
      };
      assert.equal(service, 'billing');
      assert.equal(caller.kind, 'service');
      assert.equal(caller.spiffeId, 'spiffe://tessera.local/event-service');
      assert.deepEqual(caller.scopes, ['invoices:write']);
      assert.ok(!response.text.includes(canary), 'no request header is echoed');
      assert.ok(!response.text.includes(token.split('.')[2]!), 'the token is not echoed');

      if (mtls) {
        // No certificate, no connection: the TLS handshake is refused before any HTTP.
        await assert.rejects(http('GET', `${gateway}/whoami`));
      } else {
        const anonymous = await http('GET', `${gateway}/whoami`);
        assert.equal(anonymous.status, 401, 'whoami needs a caller, even at the edge');
      }
    });

    it('drops spoofed identity headers before any handler of the chain sees them', async () => {
      seen.length = 0;
      const created = await http('POST', `${gateway}/events`, {
        ...(await as(OUTSIDE)),
        headers: {
          'x-user-id': 'admin',
          'x-tenant-id': 'tenant-of-someone-else',
          'x-gateway-internal': 'true',
          'x-correlation-id': 'spoof-check',
        },
        body: { name: 'Spoofed', priceCents: 1 },
      });
      assert.equal(created.status, 201, created.text);
      const chain = seen.filter((s) => s.headers['x-correlation-id'] === 'spoof-check');
      assert.deepEqual(
        chain.map((s) => s.service),
        ['api-gateway', 'event-service', 'billing'],
      );
      for (const { service, headers } of chain) {
        for (const name of ['x-user-id', 'x-tenant-id', 'x-gateway-internal']) {
          assert.equal(headers[name], undefined, `${service} saw ${name}`);
        }
      }
      assert.ok(!created.text.includes('tenant-of-someone-else'));
    });

    it('writes one audit event per request to each service log, never a token', async () => {
      const created = await http('POST', `${gateway}/events`, {
        ...(await as(OUTSIDE)),
        headers: { 'x-correlation-id': 'audit-check' },
        body: { name: 'Audited', priceCents: 7 },
      });
      assert.equal(created.status, 201);
      const traceId = (created.json.hops as Hop[])[0]!.traceId;
      for (const service of ['api-gateway', 'event-service', 'billing']) {
        const events = await auditEvents(service, (e) => e.traceId === traceId);
        assert.equal(events[0]!.decision, 'allow', service);
        const text = await readFile(demo.logFile(service), 'utf8');
        assert.doesNotMatch(text, /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/, `${service} log holds no JWT`);
      }
    });

    it(`registered the services as ${mtls ? 'the launcher, over mTLS' : 'the admin token'}, per the authority's audit log`, async () => {
      const listed = await http('GET', `${demo.authorityUrl}/v1/admin/audit?limit=1000`, {
        ...(mtls ? { dispatcher: await client.trustingAuthority() } : {}),
        headers: { authorization: `Bearer ${await adminToken()}` },
      });
      assert.equal(listed.status, 200, listed.text);
      const registered = (listed.json.records as { type: string; actor: string; data: unknown }[])
        .filter((r) => r.type === 'service.registered')
        .map((r) => [(r.data as { name: string }).name, r.actor]);
      // Over mTLS the actor is the launcher's SPIFFE ID from its client certificate: the launcher
      // never sent the static admin token.
      const actor = mtls ? 'spiffe://tessera.local/ticketing-launcher' : 'admin';
      assert.deepEqual(registered, [
        ['api-gateway', actor],
        ['event-service', actor],
        ['billing', actor],
      ]);
    });

    it('keeps each service key in <dataDir>/keys with mode 0600', async () => {
      for (const service of ['api-gateway', 'event-service', 'billing']) {
        const { mode } = await stat(demo.keyFile(service));
        assert.equal(mode & 0o777, 0o600, service);
      }
    });
  });

describe('restarting the demo', () => {
  it('reuses the keys and registers again without a change, and the chain still works', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tessera-ticketing-'));
    const ports = { authority: await freePort(), gateway: 0, eventService: 0, billing: 0, idp: 0 };
    try {
      const first = await startDemo({ dataDir, ports, quiet: true });
      const keyBefore = await readFile(first.keyFile('event-service'), 'utf8');
      await first.close();
      const second = await startDemo({ dataDir, ports, quiet: true });
      const client = new DemoClient(second);
      try {
        assert.equal(await readFile(second.keyFile('event-service'), 'utf8'), keyBefore);
        const created = await http('POST', `${second.urls['api-gateway']}/events`, {
          ...{ dispatcher: (await client.as(OUTSIDE))! },
          body: { name: 'After restart', priceCents: 1 },
        });
        assert.equal(created.status, 201, created.text);
      } finally {
        await client.close();
        await second.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
