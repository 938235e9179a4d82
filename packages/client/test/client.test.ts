import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  generateSigningKey,
  requestContext,
  TesseraError,
  traceContextFromHeaders,
} from '@tessera/core';
import { ManualClock } from '@tessera/core/testing';
import { AsyncLocalStorage } from 'node:async_hooks';
import * as otel from '@opentelemetry/api';
import { Agent, request } from 'undici';
import {
  auth,
  circuitBreakerPerUpstream,
  CircuitOpenError,
  ClientCredentialsTokenSource,
  createServiceMap,
  retry,
  timeout,
  trace,
  type TokenSource,
} from '../src/index.ts';

const AUTHORITY = 'http://127.0.0.1:7700';
const CLIENT = 'spiffe://tessera.local/event-service';
const key = generateSigningKey();

/**
 * A fake authority behind an injected fetch: counts token requests, can be made to fail. Every
 * call reaching it, failed or not, is recorded in `attempts` with the clock's time.
 */
function fakeAuthority(clock: ManualClock, lifetime = 300) {
  const state = { tokenRequests: 0, down: false, issued: 0, attempts: [] as number[] };
  const fetchFake = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : input.toString();
    state.attempts.push(clock.now());
    if (state.down) throw new TypeError('fetch failed');
    if (url.endsWith('/.well-known/oauth-authorization-server')) {
      return Response.json({ issuer: AUTHORITY, token_endpoint: `${AUTHORITY}/oauth2/token` });
    }
    state.tokenRequests++;
    const form = new URLSearchParams(typeof init?.body === 'string' ? init.body : '');
    assert.equal(form.get('grant_type'), 'client_credentials');
    assert.equal(
      form.get('client_assertion_type'),
      'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    );
    await new Promise((resolve) => setImmediate(resolve));
    state.issued++;
    return Response.json({
      access_token: `token-${state.issued}-for-${form.get('audience')}`,
      token_type: 'Bearer',
      expires_in: lifetime,
    });
  }) as typeof fetch;
  const source = new ClientCredentialsTokenSource({
    authorityUrl: AUTHORITY,
    clientId: CLIENT,
    key,
    clock,
    fetch: fetchFake,
    random: () => 0.5,
  });
  return { state, source };
}

describe('ClientCredentialsTokenSource', () => {
  it('100 concurrent callers share one token request', async () => {
    const clock = new ManualClock(1_795_435_200_000);
    const { state, source } = fakeAuthority(clock);
    const tokens = await Promise.all(
      Array.from({ length: 100 }, () =>
        source.getToken('spiffe://tessera.local/billing', ['invoices:write']),
      ),
    );
    assert.equal(state.tokenRequests, 1);
    assert.equal(new Set(tokens).size, 1);
    await source.getToken('spiffe://tessera.local/billing', ['invoices:write']);
    assert.equal(state.tokenRequests, 1, 'cached');
    await source.getToken('spiffe://tessera.local/gateway', []);
    assert.equal(state.tokenRequests, 2, 'one token per audience');
  });

  it('refreshes ahead of expiry in the background, serving the current token meanwhile', async () => {
    const clock = new ManualClock(1_795_435_200_000);
    const { state, source } = fakeAuthority(clock);
    const first = await source.getToken('spiffe://tessera.local/billing', []);
    // random() = 0.5 and refreshAhead 0.2: refresh at 70 % of 300 s = 210 s.
    clock.advance(200_000);
    assert.equal(await source.getToken('spiffe://tessera.local/billing', []), first);
    assert.equal(state.tokenRequests, 1);
    clock.advance(15_000);
    assert.equal(
      await source.getToken('spiffe://tessera.local/billing', []),
      first,
      'still the current token while refreshing',
    );
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(state.tokenRequests, 2);
    assert.notEqual(await source.getToken('spiffe://tessera.local/billing', []), first);
  });

  it('keeps serving the cached token while the authority is down, never an expired one', async () => {
    const clock = new ManualClock(1_795_435_200_000);
    const { state, source } = fakeAuthority(clock);
    const first = await source.getToken('spiffe://tessera.local/billing', []);
    state.down = true;
    clock.advance(250_000);
    assert.equal(await source.getToken('spiffe://tessera.local/billing', []), first);
    clock.advance(50_001);
    await assert.rejects(
      source.getToken('spiffe://tessera.local/billing', []),
      (error: unknown) => {
        assert.ok(error instanceof TesseraError);
        assert.equal(error.code, 'ERR_UNAVAILABLE');
        assert.ok(!error.message.includes(first));
        return true;
      },
    );
    state.down = false;
    clock.advance(10_000); // past the backoff
    assert.notEqual(await source.getToken('spiffe://tessera.local/billing', []), first);
  });

  it('backs off between failed attempts instead of hammering the authority', async () => {
    const clock = new ManualClock(1_795_435_200_000);
    const { state, source } = fakeAuthority(clock);
    state.down = true;
    const started = clock.now();
    // A caller asking every 10 ms for a minute, all refused: without backoff, 6,000 attempts.
    for (let elapsed = 0; elapsed < 60_000; elapsed += 10) {
      await assert.rejects(source.getToken('spiffe://tessera.local/billing', []), {
        code: 'ERR_UNAVAILABLE',
      });
      clock.advance(10);
    }
    // random() = 0.5: half of 200 ms doubled per failure, capped at half of 10 s.
    const gaps = state.attempts.slice(1).map((at, i) => at - state.attempts[i]!);
    assert.equal(state.attempts[0], started);
    assert.deepEqual(gaps, [100, 200, 400, 800, 1600, 3200, ...Array<number>(10).fill(5000)]);
    assert.equal(state.tokenRequests, 0);

    // The authority is back: the next attempt the schedule allows succeeds and resets it.
    state.down = false;
    clock.advance(5000);
    await source.getToken('spiffe://tessera.local/billing', []);
    assert.equal(state.tokenRequests, 1);
  });
});

describe('createServiceMap', () => {
  it('refuses plain http to a non-loopback host unless development mode says so', () => {
    assert.throws(
      () =>
        createServiceMap(
          { billing: { url: 'http://billing.internal:7703' } },
          { trustDomain: 'tessera.local' },
        ),
      {
        code: 'ERR_CONFIG_INSECURE',
      },
    );
    assert.equal(
      createServiceMap(
        { billing: { url: 'http://billing.internal:7703' } },
        { trustDomain: 'tessera.local', allowInsecureHttp: true },
      ).size,
      1,
    );
    assert.equal(
      createServiceMap(
        { billing: { url: 'https://billing.internal' } },
        { trustDomain: 'tessera.local' },
      ).size,
      1,
    );
  });
  it('refuses bad URLs, schemes and duplicate origins', () => {
    assert.throws(
      () => createServiceMap({ a: { url: 'nope' } }, { trustDomain: 'tessera.local' }),
      { code: 'ERR_CONFIG_INVALID' },
    );
    assert.throws(
      () => createServiceMap({ a: { url: 'ftp://127.0.0.1' } }, { trustDomain: 'tessera.local' }),
      { code: 'ERR_CONFIG_INSECURE' },
    );
    assert.throws(
      () =>
        createServiceMap(
          { a: { url: 'http://127.0.0.1:1' }, b: { url: 'http://127.0.0.1:1/x' } },
          { trustDomain: 'tessera.local' },
        ),
      { code: 'ERR_CONFIG_INVALID' },
    );
  });
});

describe('interceptors over real HTTP', () => {
  let server: Server;
  let origin: string;
  const seen: IncomingHttpHeaders[] = [];
  let script: number[] = [];
  let hang = false;

  before(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers);
      if (hang) return; // never answers: the timeout must fire
      const status = script.shift() ?? 200;
      if (status === 503) res.setHeader('retry-after', '0');
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  const fixedTokens: TokenSource = {
    getToken: (audience) => Promise.resolve(`service-token-for-${audience}`),
  };

  async function call(
    dispatcher: ReturnType<Agent['compose']>,
    method = 'GET',
    headers: Record<string, string> = {},
  ) {
    const response = await request(`${origin}/x`, { dispatcher, method, headers });
    await response.body.text();
    return response.statusCode;
  }

  it('auth attaches the service token for mapped origins only, replacing any forwarded one', async () => {
    seen.length = 0;
    const services = createServiceMap(
      { billing: { url: origin, scopes: ['invoices:write'] } },
      { trustDomain: 'tessera.local' },
    );
    const dispatcher = new Agent().compose(auth({ tokens: fixedTokens, services }));
    await call(dispatcher, 'GET', { authorization: 'Bearer users-own-token' });
    assert.equal(seen[0]!.authorization, 'Bearer service-token-for-spiffe://tessera.local/billing');
    const unmapped = new Agent().compose(
      auth({
        tokens: fixedTokens,
        services: createServiceMap({}, { trustDomain: 'tessera.local' }),
      }),
    );
    await call(unmapped);
    assert.equal(seen[1]!.authorization, undefined, 'no credentials to an unknown origin');
  });

  it('auth fails the request (without the token) when no token can be had', async () => {
    const services = createServiceMap(
      { billing: { url: origin } },
      { trustDomain: 'tessera.local' },
    );
    const failing: TokenSource = {
      getToken: () => Promise.reject(new TesseraError('ERR_UNAVAILABLE', 'authority down')),
    };
    await assert.rejects(call(new Agent().compose(auth({ tokens: failing, services }))), {
      code: 'ERR_UNAVAILABLE',
    });
  });

  it('trace continues the inbound trace and correlation id, or starts new ones', async () => {
    seen.length = 0;
    const dispatcher = new Agent().compose(trace());
    const inbound = traceContextFromHeaders({
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      'x-correlation-id': 'corr-7',
    });
    await requestContext.run({ trace: inbound }, () => call(dispatcher));
    assert.equal(seen[0]!.traceparent, `00-4bf92f3577b34da6a3ce929d0e0e4736-${inbound.spanId}-01`);
    assert.equal(seen[0]!['x-correlation-id'], 'corr-7');
    await call(dispatcher);
    assert.match(String(seen[1]!.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.notEqual(String(seen[1]!.traceparent).slice(3, 35), '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.match(String(seen[1]!['x-correlation-id']), /^[0-9a-f-]{36}$/);
  });

  it('lets an active OpenTelemetry SDK write the trace headers through its propagator', async () => {
    // A minimal SDK: a context manager on AsyncLocalStorage and the W3C propagator's output.
    const storage = new AsyncLocalStorage<otel.Context>();
    const manager: otel.ContextManager = {
      active: () => storage.getStore() ?? otel.ROOT_CONTEXT,
      with: (ctx, fn, thisArg, ...args) => storage.run(ctx, () => fn.call(thisArg, ...args)),
      bind: (_ctx, target) => target,
      enable() {
        return this;
      },
      disable() {
        return this;
      },
    };
    const propagator: otel.TextMapPropagator = {
      inject(ctx, carrier, setter) {
        const span = otel.trace.getSpanContext(ctx);
        if (span !== undefined)
          setter.set(carrier, 'traceparent', `00-${span.traceId}-${span.spanId}-01`);
      },
      extract: (ctx) => ctx,
      fields: () => ['traceparent'],
    };
    otel.context.setGlobalContextManager(manager);
    otel.propagation.setGlobalPropagator(propagator);
    try {
      seen.length = 0;
      const span = otel.trace.wrapSpanContext({
        traceId: 'aaaabbbbccccddddeeeeffff00001111',
        spanId: '1234567890abcdef',
        traceFlags: otel.TraceFlags.SAMPLED,
      });
      const dispatcher = new Agent().compose(trace({ openTelemetry: otel }));
      await otel.context.with(otel.trace.setSpan(otel.context.active(), span), () =>
        call(dispatcher),
      );
      assert.equal(seen[0]!.traceparent, '00-aaaabbbbccccddddeeeeffff00001111-1234567890abcdef-01');
      assert.match(String(seen[0]!['x-correlation-id']), /^[0-9a-f-]{36}$/);
    } finally {
      otel.context.disable();
      otel.propagation.disable();
    }
  });

  it('retries idempotent requests with backoff, never POST, and stops after maxRetries', async () => {
    const dispatcher = new Agent().compose(retry({ maxRetries: 2, baseDelayMs: 1, maxDelayMs: 5 }));
    seen.length = 0;
    script = [503, 503, 200];
    assert.equal(await call(dispatcher, 'GET'), 200);
    assert.equal(seen.length, 3);
    seen.length = 0;
    script = [503, 200];
    assert.equal(await call(dispatcher, 'POST'), 503);
    assert.equal(seen.length, 1, 'POST is not retried');
    seen.length = 0;
    script = [503, 503, 503, 503, 503];
    assert.equal(await call(dispatcher, 'GET'), 503);
    assert.equal(seen.length, 3, 'bounded: 1 + maxRetries attempts');
    script = [];
  });

  it('opens the circuit after consecutive failures and fails fast without calling the upstream', async () => {
    const breaker = circuitBreakerPerUpstream({ consecutiveFailures: 3, halfOpenAfterMs: 60_000 });
    const dispatcher = new Agent().compose(breaker);
    script = [500, 500, 500];
    for (let i = 0; i < 3; i++) assert.equal(await call(dispatcher), 500);
    seen.length = 0;
    await assert.rejects(call(dispatcher), (error: unknown) => error instanceof CircuitOpenError);
    assert.equal(seen.length, 0);
    script = [];
  });

  it('times out an upstream that never answers', async () => {
    hang = true;
    try {
      await assert.rejects(call(new Agent().compose(timeout({ headersMs: 100 }))), {
        code: 'UND_ERR_HEADERS_TIMEOUT',
      });
    } finally {
      hang = false;
      server.closeAllConnections();
    }
  });
});
