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
  type TokenExchanger,
  type TokenSource,
  type WorkloadIdentity,
} from '@tessera/client';
import { startIdp } from '@tessera/example-idp';
import { login } from '@tessera/example-idp/login';
import {
  isTesseraError,
  serviceSpiffeId,
  signingKeyFromPrivateKey,
  type SigningKey,
} from '@tessera/core';
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

  /** `service`'s access tokens, obtained (and exchanged) over mTLS with its SVID. */
  async tokens(service: string): Promise<TokenSource & TokenExchanger> {
    await this.as(service);
    const identity = this.#identities.find((i) => i.spiffeId.endsWith(`/${service}`));
    if (identity === undefined) throw new Error('tokens over mTLS need the mTLS demo');
    return identity.tokenSource();
  }

  /**
   * Trusts the demo's bundle and nothing else, presents no certificate: for the admin token, and
   * for end users at the gateway (which takes a bearer token without a client certificate).
   */
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

/** The SPIFFE IDs of the demo's services. */
const ID = {
  gateway: 'spiffe://tessera.local/api-gateway',
  events: 'spiffe://tessera.local/event-service',
  billing: 'spiffe://tessera.local/billing',
} as const;
/** What the gateway asks for in its token to event-service (the policy's allow entries there). */
const GATEWAY_TO_EVENTS = ['events:read', 'events:write', 'invoices:write'];

const claimsOf = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;

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
    /**
     * An end user's request: the IdP's access token as the bearer token, and over mTLS no client
     * certificate (the bundle trusted, nothing presented), as curl or a browser would.
     */
    const asUser = async (token: string, headers: Record<string, string> = {}) => ({
      ...(mtls ? { dispatcher: await client.trustingAuthority() } : {}),
      headers: { authorization: `Bearer ${token}`, ...headers },
    });
    let gateway: string;
    let billing: string;
    let events: string;
    /** Access tokens of the demo's IdP, from a real login (authorization code with PKCE). */
    let alice: string;
    let bob: string;
    const seen: { service: string; headers: IncomingHttpHeaders }[] = [];

    /**
     * The Tessera audit events in a service's log that satisfy `where`, once there are `count` of
     * them (each is written after its response is sent, so wait for it, at most 2 s).
     */
    async function auditEvents(
      service: string,
      where: (event: Record<string, unknown>) => boolean,
      count = 1,
      event = 'tessera.request',
    ): Promise<Record<string, unknown>[]> {
      let found: Record<string, unknown>[] = [];
      await eventually(async () => {
        found = (await readFile(demo.logFile(service), 'utf8'))
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as Record<string, unknown>)
          .filter((e) => (e.event ?? e.msg) === event && where(e));
        return found.length >= count;
      }, 2000);
      assert.equal(found.length, count, `${service}: audit events`);
      return found;
    }

    const adminToken = async () => (await readFile(demo.adminTokenPath, 'utf8')).trim();

    /**
     * `service`'s token source with its registered key: over mTLS through the client's own SVID for
     * it, over plain HTTP with `private_key_jwt` only. It exchanges tokens as the demo's services do.
     */
    async function tokensOf(service: string): Promise<TokenSource & TokenExchanger> {
      return mtls
        ? client.tokens(service)
        : new ClientCredentialsTokenSource({
            authorityUrl: demo.authorityUrl,
            clientId: serviceSpiffeId('tessera.local', service),
            key: await keyOf(demo, service),
          });
    }

    /** A billing token for event-service as itself (no user), signed for with its key. */
    async function eventServiceBillingToken(): Promise<string> {
      return (await tokensOf('event-service')).getToken(ID.billing, ['invoices:write']);
    }

    /**
     * The token event-service holds when it bills alice: alice's IdP token exchanged by the gateway
     * for event-service, then by event-service for billing (`invoices:write`).
     */
    async function aliceBillingTokenOfEventService(): Promise<string> {
      const toEvents = await (
        await tokensOf('api-gateway')
      ).exchangeToken(alice, ID.events, GATEWAY_TO_EVENTS);
      const toBilling = await (
        await tokensOf('event-service')
      ).exchangeToken(toEvents.accessToken, ID.billing, ['invoices:write']);
      return toBilling.accessToken;
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
      alice = (await login(demo.idpUrl, 'alice')).access_token;
      bob = (await login(demo.idpUrl, 'bob')).access_token;
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
      assert.equal(claimsOf(tokens.access_token).tenant_id, 'globex');
    });

    it('runs the chain for alice: gateway → event-service → billing, the actors at every hop, one trace id', async () => {
      const created = await http('POST', `${gateway}/events`, {
        ...(await asUser(alice, { traceparent: EDGE_TRACEPARENT, 'x-correlation-id': 'order-42' })),
        body: { name: 'Tessera Live', priceCents: 4500 },
      });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.headers.get('x-correlation-id'), 'order-42');
      const { event, invoice } = created.json as {
        event: { id: string; invoiceId: string; priceCents: number; user: string; tenant: string };
        invoice: {
          id: string;
          eventId: string;
          amountCents: number;
          user: string;
          tenant: string;
          createdBy: string;
        };
      };
      assert.equal(invoice.id, event.invoiceId);
      assert.equal(invoice.eventId, event.id);
      assert.equal(invoice.amountCents, 4500);
      // Whose they are comes from the verified tokens: alice's tenant at every hop.
      assert.deepEqual([event.user, event.tenant], ['alice', 'acme']);
      assert.deepEqual([invoice.user, invoice.tenant], ['alice', 'acme']);
      assert.equal(invoice.createdBy, ID.events);

      const hops = created.json.hops as Hop[];
      assert.deepEqual(
        hops.map((h) => [h.service, h.caller, h.user, h.tenant, h.actors]),
        [
          ['api-gateway', null, 'alice', 'acme', []],
          ['event-service', ID.gateway, 'alice', 'acme', [ID.gateway]],
          ['billing', ID.events, 'alice', 'acme', [ID.events, ID.gateway]],
        ],
      );
      assert.deepEqual(
        hops.map((h) => h.who),
        [
          'api-gateway: alice@acme (user token)',
          'event-service: alice@acme via api-gateway',
          'billing: alice@acme via event-service ← api-gateway',
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

      const read = await http('GET', `${gateway}/events/${event.id}`, await asUser(alice));
      assert.equal(read.status, 200, read.text);
      assert.deepEqual(read.json.event, event);
      assert.deepEqual(
        (read.json.hops as Hop[]).map((h) => h.who),
        ['api-gateway: alice@acme (user token)', 'event-service: alice@acme via api-gateway'],
      );

      const billed = await http('GET', `${gateway}/invoices/${invoice.id}`, await asUser(alice));
      assert.equal(billed.status, 200, billed.text);
      assert.deepEqual(billed.json.invoice, invoice);
      assert.deepEqual(
        (billed.json.hops as Hop[]).map((h) => [h.service, h.caller, h.who]),
        [
          ['api-gateway', null, 'api-gateway: alice@acme (user token)'],
          ['billing', ID.gateway, 'billing: alice@acme via api-gateway'],
        ],
      );

      // Each service's log line says who acts for whom, and so does its audit event.
      const traceOf = (e: Record<string, unknown>) => e.traceId === TRACE_ID;
      const [audited] = await auditEvents('billing', traceOf);
      assert.equal(audited!.user, 'alice');
      assert.equal(audited!.tenant, 'acme');
      assert.deepEqual(audited!.actors, [ID.events, ID.gateway]);
      await auditEvents(
        'billing',
        (e) => e.reqId === audited!.reqId && e.user === 'alice' && e.tenant === 'acme',
        1,
        'billing: alice@acme via event-service ← api-gateway',
      );
    });

    it('carries a delegated token at every hop, never the user token', async () => {
      seen.length = 0;
      const created = await http('POST', `${gateway}/events`, {
        ...(await asUser(alice, { 'x-correlation-id': 'delegated-check' })),
        body: { name: 'Delegated', priceCents: 10 },
      });
      assert.equal(created.status, 201, created.text);
      const chain = seen.filter((s) => s.headers['x-correlation-id'] === 'delegated-check');
      assert.deepEqual(
        chain.map((s) => s.service),
        ['api-gateway', 'event-service', 'billing'],
      );
      const [edge, ...inside] = chain.map((s) =>
        claimsOf(String(s.headers.authorization).replace(/^Bearer /, '')),
      );
      assert.equal(edge!.iss, demo.idpUrl, 'the user token reaches the gateway only');
      for (const [claims, aud, actors] of [
        [inside[0]!, ID.events, { sub: ID.gateway }],
        [inside[1]!, ID.billing, { sub: ID.events, act: { sub: ID.gateway } }],
      ] as const) {
        assert.equal(claims.iss, demo.authorityUrl);
        assert.equal(claims.aud, aud);
        assert.equal(claims.sub, 'alice');
        assert.equal(claims.tenant_id, 'acme');
        assert.equal(claims.user_iss, demo.idpUrl);
        assert.deepEqual(claims.act, actors);
      }
      assert.equal(inside[1]!.scope, 'invoices:write', 'scopes only narrow along the chain');
    });

    it('starts one trace at the edge when the request brings none', async () => {
      const created = await http('POST', `${gateway}/events`, {
        ...(await asUser(alice)),
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
      const missing = await http('GET', `${gateway}/events/evt-999999`, await asUser(alice));
      assert.equal(missing.status, 404);
      assert.deepEqual(missing.json, { code: 'ERR_NOT_FOUND', message: 'not found' });
    });

    it('refuses anonymous calls at the gateway with 401, on every route', async () => {
      for (const [method, path, body] of [
        ['GET', '/events/evt-1', undefined],
        ['POST', '/events', { name: 'Anonymous', priceCents: 1 }],
        ['GET', '/invoices/inv-1', undefined],
      ] as const) {
        // Over mTLS the gateway lets a client without a certificate finish the handshake (end
        // users have none); then it needs a user token.
        const response = await http(method, `${gateway}${path}`, {
          ...(mtls ? { dispatcher: await client.trustingAuthority() } : {}),
          ...(body !== undefined ? { body } : {}),
        });
        assert.equal(response.status, 401, `${method} ${path}`);
        assert.deepEqual(response.json, {
          code: 'ERR_CREDENTIALS_MISSING',
          message: 'unauthorized',
        });
        assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="tessera"');
      }
    });

    it('refuses forged user tokens and tokens of another issuer with 401', async () => {
      const [header, payload, signature] = alice.split('.') as [string, string, string];
      const claims = claimsOf(alice);
      const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const other = await startIdp({ port: 0 });
      let otherIssuers: string;
      try {
        otherIssuers = (await login(other.issuer, 'alice')).access_token;
      } finally {
        await other.close();
      }
      const attacks: [string, string][] = [
        ['tenant switched', `${header}.${b64({ ...claims, tenant_id: 'globex' })}.${signature}`],
        ['user switched', `${header}.${b64({ ...claims, sub: 'bob' })}.${signature}`],
        [
          'scope added',
          `${header}.${b64({ ...claims, scope: `${String(claims.scope)} admin` })}.${signature}`,
        ],
        [
          'alg none',
          `${b64({ ...(JSON.parse(Buffer.from(header, 'base64url').toString()) as object), alg: 'none' })}.${payload}.`,
        ],
        ['signature cut', `${header}.${payload}.`],
        ['another IdP (same user name, its own keys and issuer)', otherIssuers],
        ['not a JWT', 'alice'],
      ];
      for (const [name, token] of attacks) {
        const response = await http('GET', `${gateway}/events/evt-1`, await asUser(token));
        assert.equal(response.status, 401, name);
        assert.equal(response.json.message, 'unauthorized', name);
        assert.deepEqual(Object.keys(response.json).sort(), ['code', 'message'], name);
      }
    });

    it("refuses alice bob's invoice and event (403, generic body), and names the reason in the log", async () => {
      const created = await http('POST', `${gateway}/events`, {
        ...(await asUser(bob)),
        body: { name: 'Globex offsite', priceCents: 900 },
      });
      assert.equal(created.status, 201, created.text);
      const { event, invoice } = created.json as {
        event: { id: string; tenant: string };
        invoice: { id: string; tenant: string };
      };
      assert.equal(invoice.tenant, 'globex');
      assert.equal(event.tenant, 'globex');

      const own = await http('GET', `${gateway}/invoices/${invoice.id}`, await asUser(bob));
      assert.equal(own.status, 200, 'bob reads his own invoice');

      for (const path of [`/invoices/${invoice.id}`, `/events/${event.id}`]) {
        const stolen = await http('GET', `${gateway}${path}`, {
          ...(await asUser(alice, { 'x-correlation-id': `cross-tenant-${path.split('/')[1]}` })),
        });
        assert.equal(stolen.status, 403, path);
        assert.deepEqual(stolen.json, { code: 'ERR_POLICY_TENANT', message: 'forbidden' });
        assert.ok(!stolen.text.includes('globex'), 'nothing of the record is in the refusal');
      }
      // A spoofed tenant header changes nothing: the tenant comes from the token only.
      const spoofed = await http(
        'GET',
        `${gateway}/invoices/${invoice.id}`,
        await asUser(alice, { 'x-tenant-id': 'globex' }),
      );
      assert.equal(spoofed.status, 403);

      // Twice: the plain attempt and the spoofed header.
      const refusals = await auditEvents(
        'billing',
        (e) => e.invoice === invoice.id && e.callerTenant === 'acme',
        2,
        'record of another tenant refused',
      );
      for (const refusal of refusals) {
        assert.equal(refusal.reason, 'ERR_POLICY_TENANT');
        assert.equal(refusal.tenant, 'globex');
      }
    });

    it('refuses event-service an exchange for an audience the policy does not give it (unauthorized_client)', async () => {
      const gatewayTokens = await tokensOf('api-gateway');
      const eventTokens = await tokensOf('event-service');
      const toEvents = await gatewayTokens.exchangeToken(alice, ID.events, GATEWAY_TO_EVENTS);
      // What event-service may do: act for alice towards billing.
      const toBilling = await eventTokens.exchangeToken(toEvents.accessToken, ID.billing, [
        'invoices:write',
      ]);
      assert.equal(toBilling.scope, 'invoices:write');
      for (const [subject, audience] of [
        [toEvents.accessToken, ID.gateway],
        [toEvents.accessToken, ID.events],
        [alice, ID.gateway],
        [alice, ID.events],
      ] as const) {
        await assert.rejects(
          eventTokens.exchangeToken(subject, audience, []),
          (error: unknown) =>
            isTesseraError(error) &&
            error.code === 'ERR_DELEGATION_REFUSED' &&
            /unauthorized_client|invalid_target/.test(error.message),
          audience,
        );
      }
      // Towards the gateway, which no mayAct entry names for event-service: unauthorized_client.
      await assert.rejects(
        eventTokens.exchangeToken(toEvents.accessToken, ID.gateway, []),
        /unauthorized_client/,
      );
      // Nor may billing act for anyone, nor the gateway exchange a token addressed to event-service.
      await assert.rejects(
        (await tokensOf('billing')).exchangeToken(alice, ID.events, []),
        /unauthorized_client/,
      );
      await assert.rejects(
        gatewayTokens.exchangeToken(toEvents.accessToken, ID.billing, ['invoices:read']),
        /invalid_grant/,
      );
      // The specific reason is in the authority's log, not on the wire.
      const refusals = (await readFile(demo.logFile('authority'), 'utf8'))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((e) => e.msg === 'token exchange refused');
      assert.ok(refusals.some((e) => e.reason === 'may_not_act'));
    });

    it('refuses a service calling a user route without a user (403 over mTLS, 401 over HTTP)', async () => {
      if (mtls) {
        // event-service's certificate alone: a known service, and no user behind the call.
        const response = await http('POST', `${gateway}/events`, {
          ...(await as('event-service')),
          body: { name: 'No user', priceCents: 1 },
        });
        assert.equal(response.status, 403);
        assert.deepEqual(response.json, { code: 'ERR_POLICY_DELEGATION', message: 'forbidden' });
      } else {
        // No service holds a token for the gateway; its own token for billing is not one.
        const response = await http('POST', `${gateway}/events`, {
          headers: { authorization: `Bearer ${await eventServiceBillingToken()}` },
          body: { name: 'No user', priceCents: 1 },
        });
        assert.equal(response.status, 401);
      }
      // Inside, a service's own token (no user) is refused on every business route.
      const token = await eventServiceBillingToken();
      for (const [method, path, body] of [
        ['POST', '/invoices', { eventId: 'evt-1', amountCents: 1 }],
        ['GET', '/invoices/inv-1', undefined],
      ] as const) {
        const response = await http(method, `${billing}${path}`, {
          ...(await as('event-service')),
          headers: { authorization: `Bearer ${token}` },
          ...(body !== undefined ? { body } : {}),
        });
        assert.equal(response.status, 403, `${method} ${path}`);
        assert.deepEqual(response.json, { code: 'ERR_POLICY_DELEGATION', message: 'forbidden' });
      }
    });

    it('refuses x-gateway-internal: true at billing and event-service with {code, message} only', async () => {
      // Over mTLS the certificate names the caller, so the header meets a known service with no
      // user behind it (403); over plain HTTP there is no caller at all (401).
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
          assert.deepEqual(response.json, { code: 'ERR_POLICY_DELEGATION', message: 'forbidden' });
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

    it('refuses event-service acting for alice on a billing route it is not allowed (403), though its token is valid', async () => {
      const token = await aliceBillingTokenOfEventService();
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

    it('names the user, the tenant, the actors and the jti in the audit event of a 403', async () => {
      const token = await aliceBillingTokenOfEventService();
      const { jti } = claimsOf(token) as { jti: string };
      const read = await http('GET', `${billing}/invoices/inv-1`, {
        ...(await as('event-service')),
        headers: { authorization: `Bearer ${token}`, 'x-correlation-id': 'audit-403' },
      });
      assert.equal(read.status, 403);
      const [event] = await auditEvents('billing', (e) => e.correlationId === 'audit-403');
      assert.ok(event !== undefined);
      assert.equal(event.decision, 'deny');
      assert.equal(event.reason, 'ERR_POLICY_CALLER');
      assert.equal(event.caller, 'alice');
      assert.equal(event.actor, ID.events);
      assert.equal(event.user, 'alice');
      assert.equal(event.tenant, 'acme');
      assert.deepEqual(event.actors, [ID.events, ID.gateway]);
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
      const { jti, exp } = claimsOf(token) as { jti: string; exp: number };
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
      assert.equal(caller.spiffeId, ID.events);
      assert.deepEqual(caller.scopes, ['invoices:write']);
      assert.ok(!response.text.includes(canary), 'no request header is echoed');
      assert.ok(!response.text.includes(token.split('.')[2]!), 'the token is not echoed');

      if (mtls) {
        // No certificate, no connection at billing: the TLS handshake is refused before any HTTP.
        await assert.rejects(
          http('GET', `${billing}/whoami`, { dispatcher: await client.trustingAuthority() }),
        );
      }
      // The gateway lets end users through the handshake, and then wants a caller.
      const anonymous = await http('GET', `${gateway}/whoami`, {
        ...(mtls ? { dispatcher: await client.trustingAuthority() } : {}),
      });
      assert.equal(anonymous.status, 401, 'whoami needs a caller, even at the edge');
    });

    it('drops spoofed identity headers before any handler of the chain sees them', async () => {
      seen.length = 0;
      const created = await http('POST', `${gateway}/events`, {
        ...(await asUser(alice, {
          'x-user-id': 'admin',
          'x-tenant-id': 'tenant-of-someone-else',
          'x-gateway-internal': 'true',
          'x-correlation-id': 'spoof-check',
        })),
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
      assert.equal((created.json.invoice as { tenant: string }).tenant, 'acme');
    });

    it('writes one audit event per request to each service log, never a token', async () => {
      const created = await http('POST', `${gateway}/events`, {
        ...(await asUser(alice, { 'x-correlation-id': 'audit-check' })),
        body: { name: 'Audited', priceCents: 7 },
      });
      assert.equal(created.status, 201);
      const traceId = (created.json.hops as Hop[])[0]!.traceId;
      for (const service of ['api-gateway', 'event-service', 'billing']) {
        const events = await auditEvents(service, (e) => e.traceId === traceId);
        assert.equal(events[0]!.decision, 'allow', service);
        assert.equal(events[0]!.user, 'alice', service);
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

    // Last in this suite: it retires event-service's first key, which earlier cases signed with.
    it('rotates a service key: the new key replaces the file (0600) and works, the key before the last is refused, the chain goes on', async () => {
      const agent = mtls ? await client.trustingAuthority() : undefined;
      const tokenWith = (key: SigningKey) =>
        new ClientCredentialsTokenSource({
          authorityUrl: demo.authorityUrl,
          clientId: ID.events,
          key,
          ...(agent !== undefined
            ? {
                fetch: ((input: string | URL, init?: RequestInit) =>
                  undiciFetch(input, {
                    ...(init as Parameters<typeof undiciFetch>[1]),
                    dispatcher: agent,
                  })) as unknown as typeof fetch,
              }
            : {}),
        }).getToken(ID.billing, ['invoices:write']);
      const first = await keyOf(demo, 'event-service');
      await demo.rotateKey('event-service');
      const second = await keyOf(demo, 'event-service');
      assert.notEqual(second.kid, first.kid);
      assert.equal((await stat(demo.keyFile('event-service'))).mode & 0o777, 0o600);
      await tokenWith(second);
      await tokenWith(first);

      await demo.rotateKey('event-service');
      const third = await keyOf(demo, 'event-service');
      assert.notEqual(third.kid, second.kid);
      await tokenWith(third);
      await tokenWith(second);
      await assert.rejects(
        tokenWith(first),
        (error: unknown) => isTesseraError(error) && error.code === 'ERR_CLIENT_AUTH',
      );

      const created = await http('POST', `${gateway}/events`, {
        ...(await asUser(alice)),
        body: { name: 'After key rotation', priceCents: 700 },
      });
      assert.equal(created.status, 201, created.text);
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
        const { access_token: alice } = await login(second.idpUrl, 'alice');
        const created = await http('POST', `${second.urls['api-gateway']}/events`, {
          dispatcher: await client.trustingAuthority(),
          headers: { authorization: `Bearer ${alice}` },
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
