import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createVerifier,
  generateSigningKey,
  KeySet,
  MemoryRevocationSet,
  mintAccessToken,
  parsePolicy,
  requestContext,
  requestContextWanted,
  SPOOFABLE_HEADERS,
  useRequestContext,
  systemClock,
  type TesseraErrorCode,
} from '@tessera/core';
import Fastify, { type FastifyInstance } from 'fastify';
import { DEFAULT_SPOOFABLE_HEADERS, tessera, type TesseraPluginOptions } from '../src/index.ts';
import { Registry } from 'prom-client';

const ISSUER = 'http://127.0.0.1:7700';
const BILLING = 'spiffe://tessera.local/billing';
const EVENTS = 'spiffe://tessera.local/event-service';
const GATEWAY = 'spiffe://tessera.local/api-gateway';

const policy = parsePolicy(`
version: 1
trustDomain: tessera.local
services:
  api-gateway: {}
  event-service: {}
  billing:
    routes:
      - { method: POST, path: /invoices, allow: [{ service: event-service, scopes: [invoices:write] }] }
      - { method: GET, path: /invoices/:id, allow: [{ service: api-gateway, scopes: [invoices:read] }] }
      - { method: GET, path: /admin/stats, allow: [{ service: api-gateway, scopes: [admin] }] }
      - { method: GET, path: /healthz, public: true }
      - { method: GET, path: /files/*, public: true }
      - { method: GET, path: /whoami, allow: any-authenticated }
`);

const key = generateSigningKey();
const stranger = generateSigningKey();
const keys = new KeySet([key]);

function token(
  subject: string,
  scopes: string[],
  options: { jti?: string; signer?: typeof key; audience?: string } = {},
): string {
  return mintAccessToken(
    {
      issuer: ISSUER,
      subject,
      audience: options.audience ?? BILLING,
      scopes,
      ...(options.jti ? { jti: options.jti } : {}),
    },
    { key: options.signer ?? key, clock: systemClock },
  ).token;
}

interface Harness {
  app: FastifyInstance;
  audit: Record<string, unknown>[];
  revocations: MemoryRevocationSet;
}

async function build(overrides: Partial<TesseraPluginOptions> = {}): Promise<Harness> {
  const audit: Record<string, unknown>[] = [];
  const revocations = new MemoryRevocationSet({ clock: systemClock });
  const app = Fastify({
    logger: {
      level: 'info',
      stream: {
        write: (line: string) => {
          const record = JSON.parse(line) as Record<string, unknown>;
          if (record.event === 'tessera.request') audit.push(record);
        },
      },
    },
  });
  await app.register(tessera, {
    service: 'billing',
    policy,
    verifier: createVerifier({
      issuer: ISSUER,
      audience: BILLING,
      keys,
      clock: systemClock,
      revocations,
    }),
    ...overrides,
  });
  app.post('/invoices', (request) => ({
    handler: 'invoices.create',
    caller: request.caller,
    headers: request.headers,
  }));
  app.get('/invoices/:id', () => ({ handler: 'invoices.read' }));
  app.get('/admin/stats', () => ({ handler: 'admin.stats' }));
  app.get('/healthz', () => ({ handler: 'healthz' }));
  app.get('/files/*', () => ({ handler: 'files' }));
  app.get('/whoami', (request) => ({
    handler: 'whoami',
    caller: request.caller,
    trace: request.traceContext,
    context: requestContext.getStore() ?? null,
  }));
  app.get('/unlisted', () => ({ handler: 'unlisted' }));
  await app.ready();
  return { app, audit, revocations };
}

const eventsWrite = token(EVENTS, ['invoices:write']);
const gatewayRead = token(GATEWAY, ['invoices:read']);

interface Row {
  readonly name: string;
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly headers?: Record<string, string>;
  readonly status: number;
  readonly code?: TesseraErrorCode;
  readonly handler?: string;
}

/** Requests an attacker (or a confused service) could send, with what must happen. One row each. */
const ROWS: readonly Row[] = [
  {
    name: 'no credentials',
    method: 'POST',
    url: '/invoices',
    status: 401,
    code: 'ERR_CREDENTIALS_MISSING',
  },
  {
    name: "the seed audit's x-gateway-internal: true",
    method: 'POST',
    url: '/invoices',
    headers: { 'x-gateway-internal': 'true' },
    status: 401,
    code: 'ERR_CREDENTIALS_MISSING',
  },
  {
    name: 'a shared X-INTERNAL-TOKEN',
    method: 'POST',
    url: '/invoices',
    headers: { 'x-internal-token': 'secret', 'x-service-id': 'event-service' },
    status: 401,
    code: 'ERR_CREDENTIALS_MISSING',
  },
  {
    name: 'x-user-id and x-tenant-id only',
    method: 'GET',
    url: '/whoami',
    headers: { 'x-user-id': 'admin', 'x-tenant-id': 't1' },
    status: 401,
    code: 'ERR_CREDENTIALS_MISSING',
  },
  {
    name: 'a token signed by a stranger',
    method: 'POST',
    url: '/invoices',
    headers: { authorization: `Bearer ${token(EVENTS, ['invoices:write'], { signer: stranger })}` },
    status: 401,
    code: 'ERR_TOKEN_KID_UNKNOWN',
  },
  {
    name: 'a token for another audience',
    method: 'POST',
    url: '/invoices',
    headers: {
      authorization: `Bearer ${token(EVENTS, ['invoices:write'], { audience: GATEWAY })}`,
    },
    status: 401,
    code: 'ERR_TOKEN_AUDIENCE',
  },
  {
    name: 'Basic credentials',
    method: 'POST',
    url: '/invoices',
    headers: { authorization: 'Basic ZXZlbnQ6c2VjcmV0' },
    status: 401,
    code: 'ERR_TOKEN_MALFORMED',
  },
  {
    name: 'a token in the query string',
    method: 'POST',
    url: `/invoices?access_token=${eventsWrite}`,
    status: 401,
    code: 'ERR_CREDENTIALS_LOCATION',
  },
  {
    name: 'a token in a cookie',
    method: 'POST',
    url: '/invoices',
    headers: { cookie: `access_token=${eventsWrite}` },
    status: 401,
    code: 'ERR_CREDENTIALS_LOCATION',
  },
  {
    name: 'the right caller',
    method: 'POST',
    url: '/invoices',
    headers: { authorization: `Bearer ${eventsWrite}` },
    status: 200,
    handler: 'invoices.create',
  },
  {
    name: 'a lower-case bearer scheme',
    method: 'POST',
    url: '/invoices',
    headers: { authorization: `bearer ${eventsWrite}` },
    status: 200,
    handler: 'invoices.create',
  },
  {
    name: 'a caller the route does not list',
    method: 'GET',
    url: '/admin/stats',
    headers: { authorization: `Bearer ${eventsWrite}` },
    status: 403,
    code: 'ERR_POLICY_CALLER',
  },
  {
    name: 'a listed caller without the scope',
    method: 'GET',
    url: '/admin/stats',
    headers: { authorization: `Bearer ${gatewayRead}` },
    status: 403,
    code: 'ERR_POLICY_SCOPE',
  },
  {
    name: 'a route with no policy entry',
    method: 'GET',
    url: '/unlisted',
    headers: { authorization: `Bearer ${gatewayRead}` },
    status: 403,
    code: 'ERR_POLICY_NO_RULE',
  },
  { name: 'a public route', method: 'GET', url: '/healthz', status: 200, handler: 'healthz' },
  {
    name: 'any authenticated caller on /whoami',
    method: 'GET',
    url: '/whoami',
    headers: { authorization: `Bearer ${eventsWrite}` },
    status: 200,
    handler: 'whoami',
  },
  // Path tricks: none may reach the admin handler, which only api-gateway with `admin` may call.
  {
    name: 'a trailing slash',
    method: 'GET',
    url: '/admin/stats/',
    headers: { authorization: `Bearer ${gatewayRead}` },
    status: 404,
  },
  {
    name: 'upper case',
    method: 'GET',
    url: '/ADMIN/stats',
    headers: { authorization: `Bearer ${gatewayRead}` },
    status: 404,
  },
  {
    name: 'a duplicate slash',
    method: 'GET',
    url: '//admin/stats',
    headers: { authorization: `Bearer ${gatewayRead}` },
    status: 404,
  },
  // Resolved to /admin/stats before routing (by the URL parser): the admin rule applies, not /invoices/:id's.
  {
    name: 'dot segments under an allowed route',
    method: 'GET',
    url: '/invoices/../admin/stats',
    headers: { authorization: `Bearer ${gatewayRead}` },
    status: 403,
    code: 'ERR_POLICY_SCOPE',
  },
  {
    name: 'an encoded slash under an allowed route',
    method: 'GET',
    url: '/invoices/1%2F..%2F..%2Fadmin%2Fstats',
    headers: { authorization: `Bearer ${gatewayRead}` },
    status: 200,
    handler: 'invoices.read',
  },
  {
    name: 'encoded dots under a public wildcard',
    method: 'GET',
    url: '/files/..%2F..%2Fadmin%2Fstats',
    status: 200,
    handler: 'files',
  },
  {
    name: 'a path trick without credentials',
    method: 'GET',
    url: '/admin/stats/',
    status: 401,
    code: 'ERR_CREDENTIALS_MISSING',
  },
];

describe('@tessera/fastify: request table', () => {
  for (const row of ROWS) {
    it(`${row.status} for ${row.name}`, async () => {
      const { app, audit } = await build();
      const response = await app.inject({
        method: row.method,
        url: row.url,
        headers: row.headers ?? {},
        ...(row.method === 'POST' ? { payload: {} } : {}),
      });
      assert.equal(response.statusCode, row.status, response.body);
      const body = response.json<Record<string, unknown>>();
      if (row.code !== undefined) {
        assert.equal(body.code, row.code);
        assert.deepEqual(Object.keys(body).sort(), ['code', 'message']);
      }
      if (row.handler !== undefined) assert.equal(body.handler, row.handler);
      if (row.status === 401) {
        const challenge = response.headers['www-authenticate'];
        assert.match(
          String(challenge),
          row.code === 'ERR_CREDENTIALS_MISSING'
            ? /^Bearer realm="tessera"$/
            : /error="invalid_token"/,
        );
      }
      if (row.status === 403)
        assert.match(String(response.headers['www-authenticate']), /error="insufficient_scope"/);
      assert.equal(audit.length, 1, 'exactly one audit event');
      await app.close();
    });
  }
});

describe('@tessera/fastify: behaviour', () => {
  it('removes spoofable identity headers before the handler, even with a valid token', async () => {
    const { app } = await build();
    const response = await app.inject({
      method: 'POST',
      url: '/invoices',
      payload: {},
      headers: {
        authorization: `Bearer ${eventsWrite}`,
        ...Object.fromEntries(SPOOFABLE_HEADERS.map((name) => [name, 'admin'])),
        'x-custom': 'kept',
      },
    });
    const body = response.json<{ headers: Record<string, string>; caller: { spiffeId: string } }>();
    assert.equal(body.caller.spiffeId, EVENTS);
    assert.ok(SPOOFABLE_HEADERS.includes('x-gateway-internal'));
    for (const name of SPOOFABLE_HEADERS) assert.equal(body.headers[name], undefined, name);
    assert.equal(body.headers['x-custom'], 'kept');
    await app.close();
  });

  it("strips core's SPOOFABLE_HEADERS by default, the very array the auditor models", () => {
    // Identity, not equal content: a private copy here would drift from what the auditor
    // believes this plugin removes (packages/auditor/test/spoofable-headers.test.ts).
    assert.equal(DEFAULT_SPOOFABLE_HEADERS, SPOOFABLE_HEADERS);
  });

  it('removes configured headers too', async () => {
    const { app } = await build({ spoofableHeaders: ['x-acme-user'] });
    const response = await app.inject({
      method: 'POST',
      url: '/invoices',
      payload: {},
      headers: { authorization: `Bearer ${eventsWrite}`, 'x-acme-user': 'root' },
    });
    assert.equal(
      response.json<{ headers: Record<string, string> }>().headers['x-acme-user'],
      undefined,
    );
    await app.close();
  });

  it('refuses a revoked token', async () => {
    const { app, revocations } = await build();
    const revoked = token(EVENTS, ['invoices:write'], { jti: 'revoke-me' });
    assert.equal(
      (
        await app.inject({
          method: 'POST',
          url: '/invoices',
          payload: {},
          headers: { authorization: `Bearer ${revoked}` },
        })
      ).statusCode,
      200,
    );
    revocations.revokeToken('revoke-me', Math.floor(Date.now() / 1000) + 300);
    const response = await app.inject({
      method: 'POST',
      url: '/invoices',
      payload: {},
      headers: { authorization: `Bearer ${revoked}` },
    });
    assert.equal(response.statusCode, 401);
    assert.equal(response.json<{ code: string }>().code, 'ERR_TOKEN_REVOKED');
    await app.close();
  });

  it('writes one audit event per request with the documented fields', async () => {
    const { app, audit } = await build();
    const requests = [
      {
        method: 'POST' as const,
        url: '/invoices',
        headers: { authorization: `Bearer ${eventsWrite}`, 'x-correlation-id': 'corr-1' },
      },
      {
        method: 'GET' as const,
        url: '/admin/stats',
        headers: { authorization: `Bearer ${eventsWrite}` },
      },
      { method: 'GET' as const, url: '/healthz', headers: {} },
      { method: 'GET' as const, url: '/nowhere', headers: {} },
    ];
    for (const r of requests)
      await app.inject({ ...r, ...(r.method === 'POST' ? { payload: {} } : {}) });
    assert.equal(audit.length, requests.length);
    const first = audit[0]!;
    for (const field of [
      'caller',
      'actor',
      'jti',
      'route',
      'method',
      'decision',
      'reason',
      'status',
      'durationMs',
      'correlationId',
      'traceId',
    ]) {
      assert.ok(field in first, field);
    }
    assert.equal(first.caller, EVENTS);
    assert.equal(first.route, '/invoices');
    assert.equal(first.decision, 'allow');
    assert.equal(first.correlationId, 'corr-1');
    assert.equal(audit[1]!.decision, 'deny');
    assert.equal(audit[1]!.reason, 'ERR_POLICY_CALLER');
    assert.equal(audit[2]!.reason, 'public');
    assert.equal(audit[3]!.status, 401);
    assert.ok(
      !JSON.stringify(audit).includes(eventsWrite.split('.')[2]!),
      'no token in audit events',
    );
    await app.close();
  });

  const traced = (app: Harness['app']) =>
    app.inject({
      method: 'GET',
      url: '/whoami',
      headers: {
        authorization: `Bearer ${eventsWrite}`,
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        'x-correlation-id': 'corr-9',
      },
    });
  interface TracedBody {
    trace: { traceId: string; parentSpanId: string; correlationId: string };
    context: {
      trace: { traceId: string };
      caller: { spiffeId: string };
      token?: string;
    } | null;
  }

  // These three run in this order: useRequestContext() cannot be undone in a process.
  it('continues the trace into request.traceContext; no AsyncLocalStorage until asked', async () => {
    assert.equal(requestContextWanted(), false, 'nothing in this test file asked before');
    const { app } = await build();
    const response = await traced(app);
    const body = response.json<TracedBody>();
    assert.equal(body.trace.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(body.trace.parentSpanId, '00f067aa0ba902b7');
    assert.equal(body.trace.correlationId, 'corr-9');
    assert.equal(response.headers['x-correlation-id'], 'corr-9');
    assert.equal(body.context, null);
    await app.close();
  });

  it("opens requestContext on every request with requestContext: 'always'", async () => {
    const { app } = await build({ requestContext: 'always' });
    const body = (await traced(app)).json<TracedBody>();
    assert.equal(body.context?.trace.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(body.context.caller.spiffeId, EVENTS);
    // The client's delegate() exchanges the presented token; it must be the verified one.
    assert.equal(body.context.token, eventsWrite);
    await app.close();
  });

  it('opens requestContext once useRequestContext() was called (the client does)', async () => {
    const { app } = await build();
    useRequestContext();
    const body = (await traced(app)).json<TracedBody>();
    assert.equal(body.context?.trace.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(body.context.caller.spiffeId, EVENTS);
    await app.close();
  });

  it('puts its gauges on the registry it is given, or none with metrics: false', async () => {
    const registry = new Registry();
    const { app } = await build({ metrics: registry });
    assert.equal(app.tessera.metrics, registry);
    // A ready verifier: no JWKS or feed of the plugin's own, so only the overall gauge.
    assert.match(await registry.metrics(), /^tessera_degraded 0$/m);
    await app.close();
    const off = await build({ metrics: false });
    assert.equal(off.app.tessera.metrics, undefined);
    await off.app.close();
    await assert.rejects(
      build({ metrics: {} as unknown as false }),
      /metrics is a prom-client Registry/,
    );
  });

  it('refuses an unknown requestContext mode at registration', async () => {
    await assert.rejects(
      build({ requestContext: 'sometimes' as unknown as 'auto' }),
      /requestContext is auto or always/,
    );
  });

  it('rate-limits per verified caller, not per address', async () => {
    const { app } = await build({ rateLimit: { max: 3, timeWindowMs: 60_000 } });
    const call = (t: string) =>
      app.inject({ method: 'GET', url: '/whoami', headers: { authorization: `Bearer ${t}` } });
    for (let i = 0; i < 3; i++) assert.equal((await call(eventsWrite)).statusCode, 200);
    const limited = await call(eventsWrite);
    assert.equal(limited.statusCode, 429);
    assert.equal(limited.json<{ code: string }>().code, 'ERR_RATE_LIMITED');
    assert.equal(
      (await call(gatewayRead)).statusCode,
      200,
      'another caller from the same address is unaffected',
    );
    await app.close();
  });

  it('refuses the removed rateLimit.store at registration, pointing to rateLimit.redis', async () => {
    await assert.rejects(
      build({
        rateLimit: { max: 1, timeWindowMs: 1000, store: Map } as unknown as false,
      }),
      /rateLimit.store was removed; share limits across replicas with rateLimit.redis/,
    );
  });

  it('applies an IP allowlist in addition to authentication', async () => {
    const { app } = await build({
      ipAllowlist: { [EVENTS]: ['10.0.0.0/8'], [GATEWAY]: ['127.0.0.1'] },
    });
    const events = await app.inject({
      method: 'GET',
      url: '/whoami',
      headers: { authorization: `Bearer ${eventsWrite}` },
    });
    assert.equal(events.statusCode, 403);
    assert.equal(events.json<{ code: string }>().code, 'ERR_IP_NOT_ALLOWED');
    const gateway = await app.inject({
      method: 'GET',
      url: '/whoami',
      headers: { authorization: `Bearer ${gatewayRead}` },
    });
    assert.equal(gateway.statusCode, 200);
    const anonymous = await app.inject({ method: 'GET', url: '/whoami' });
    assert.equal(anonymous.statusCode, 401, 'the allowlist never replaces authentication');
    await app.close();
  });

  const BAD_OPTIONS: readonly [string, Partial<TesseraPluginOptions>][] = [
    ['no service', { service: '' }],
    ['a service missing from the policy', { service: 'nobody' }],
    ['both authority and verifier', { authority: { url: ISSUER, credentials: () => 'token' } }],
    ['a bad rate limit', { rateLimit: { max: 0, timeWindowMs: 1000 } }],
    ['a bad IP allowlist', { ipAllowlist: { [EVENTS]: ['not-an-ip'] } }],
    ['a bad stale mode', { staleRevocations: 'maybe' as never }],
  ];
  for (const [name, overrides] of BAD_OPTIONS) {
    it(`refuses to register with ${name}`, async () => {
      await assert.rejects(
        build(overrides),
        (error: unknown) => (error as { code?: string }).code === 'ERR_CONFIG_INVALID',
      );
    });
  }
});
