import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  generateSigningKey,
  isTesseraError,
  JWT_BEARER_ASSERTION_TYPE,
  KeySet,
  mintAccessToken,
  parsePayloadObject,
  requestContext,
  traceContextFromHeaders,
  verifyCompactJws,
  type Caller,
  type RequestContext,
} from '@tessera/core';
import { ManualClock } from '@tessera/core/testing';
import { request, Agent } from 'undici';
import {
  ACCESS_TOKEN_TYPE,
  ClientCredentialsTokenSource,
  createServiceDispatcher,
  createServiceMap,
  delegate,
  TOKEN_EXCHANGE_GRANT_TYPE,
  type ServiceMap,
  type TokenSource,
} from '../src/index.ts';

const TRUST_DOMAIN = 'tessera.local';
const GATEWAY = 'spiffe://tessera.local/gateway';
const EVENTS = 'spiffe://tessera.local/event-service';
const BILLING = 'spiffe://tessera.local/billing';
const START_MS = 1_795_435_200_000;
const clientKey = generateSigningKey();
const authorityKey = generateSigningKey();

/** One answer of the stub token endpoint to an exchange, instead of a delegated token. */
type Answer = { status: number; body: Record<string, unknown> } | undefined;

/**
 * A loopback stand-in for the authority's RFC 8693 endpoint: checks the client's
 * `private_key_jwt` assertion and the exchange fields, and answers with a delegated token minted
 * by core (`sub` the subject token's `sub`, `act.sub` the client) or with `answer`.
 */
class StubAuthority {
  server!: Server;
  url = '';
  exchanges: { subjectToken: string; audience: string; scope: string | null }[] = [];
  clientCredentials = 0;
  lifetimeSeconds = 300;
  answer: (subjectToken: string) => Answer = () => undefined;
  constructor(readonly clock: ManualClock) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.url === '/.well-known/oauth-authorization-server') {
        send(200, { issuer: this.url, token_endpoint: `${this.url}/oauth2/token` });
        return;
      }
      let raw = '';
      req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
      req.on('end', () => {
        const form = new URLSearchParams(raw);
        const assertion = form.get('client_assertion') ?? '';
        let client: Record<string, unknown>;
        try {
          client = parsePayloadObject(
            verifyCompactJws(assertion, new KeySet([clientKey]), { typ: ['jwt'] }).payload,
          );
        } catch {
          send(401, { error: 'invalid_client' });
          return;
        }
        if (
          form.get('client_assertion_type') !== JWT_BEARER_ASSERTION_TYPE ||
          client.iss !== EVENTS ||
          client.sub !== EVENTS ||
          client.aud !== this.url
        ) {
          send(401, { error: 'invalid_client' });
          return;
        }
        const audience = form.get('audience') ?? '';
        if (form.get('grant_type') === 'client_credentials') {
          this.clientCredentials++;
          const minted = mintAccessToken(
            { issuer: this.url, subject: EVENTS, audience, lifetimeSeconds: 300 },
            { key: authorityKey, clock: this.clock },
          );
          send(200, { access_token: minted.token, token_type: 'Bearer', expires_in: 300 });
          return;
        }
        const subjectToken = form.get('subject_token') ?? '';
        if (
          form.get('grant_type') !== TOKEN_EXCHANGE_GRANT_TYPE ||
          form.get('subject_token_type') !== ACCESS_TOKEN_TYPE ||
          subjectToken === ''
        ) {
          send(400, { error: 'invalid_request' });
          return;
        }
        this.exchanges.push({ subjectToken, audience, scope: form.get('scope') });
        const answer = this.answer(subjectToken);
        if (answer !== undefined) {
          send(answer.status, answer.body);
          return;
        }
        const subject = JSON.parse(
          Buffer.from(subjectToken.split('.')[1]!, 'base64url').toString(),
        ) as { sub: string };
        const minted = mintAccessToken(
          {
            issuer: this.url,
            subject: subject.sub,
            actor: EVENTS,
            audience,
            lifetimeSeconds: this.lifetimeSeconds,
            ...(form.get('scope') === null ? {} : { scopes: form.get('scope')!.split(' ') }),
          },
          { key: authorityKey, clock: this.clock },
        );
        send(200, {
          access_token: minted.token,
          issued_token_type: ACCESS_TOKEN_TYPE,
          token_type: 'Bearer',
          expires_in: this.lifetimeSeconds,
          scope: form.get('scope') ?? '',
        });
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): void {
    this.server.closeAllConnections();
    this.server.close();
  }
}

/** The claims of a token the upstream received (the test reads them; the upstream would verify). */
function claimsOf(authorization: string | undefined = ''): { sub: string; act?: { sub: string } } {
  assert.ok(authorization.startsWith('Bearer '), 'a bearer token was attached');
  return JSON.parse(Buffer.from(authorization.slice(7).split('.')[1]!, 'base64url').toString()) as {
    sub: string;
    act?: { sub: string };
  };
}

describe('delegate()', () => {
  const clock = new ManualClock(START_MS);
  const authority = new StubAuthority(clock);
  let upstream: Server;
  let upstreamOrigin = '';
  let received: (string | undefined)[] = [];
  let statuses: number[] = [];
  let services: ServiceMap;
  const agent = new Agent();

  before(async () => {
    await authority.start();
    upstream = createServer((req, res) => {
      received.push(req.headers.authorization);
      const status = statuses.shift() ?? 200;
      if (status === 503) res.setHeader('retry-after', '0');
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end('{}');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamOrigin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    services = createServiceMap(
      { billing: { url: upstreamOrigin, scopes: ['invoices:read'] } },
      { trustDomain: TRUST_DOMAIN },
    );
  });
  after(async () => {
    await agent.close();
    authority.stop();
    upstream.closeAllConnections();
    upstream.close();
  });
  beforeEach(() => {
    clock.set(START_MS);
    authority.exchanges = [];
    authority.clientCredentials = 0;
    authority.lifetimeSeconds = 300;
    authority.answer = () => undefined;
    received = [];
    statuses = [];
  });

  const tokenSource = () =>
    new ClientCredentialsTokenSource({
      authorityUrl: authority.url,
      clientId: EVENTS,
      key: clientKey,
      clock,
      random: () => 0.5,
    });

  /** A dispatcher with only `delegate()` (and the options given). */
  const dispatcherWith = (options: Partial<Parameters<typeof delegate>[0]> = {}) =>
    agent.compose(delegate({ tokens: tokenSource(), services, clock, ...options }));

  /** A user's token as the gateway would have exchanged it for this service, and its caller. */
  function inbound(
    user: string,
    lifetimeSeconds = 300,
  ): { token: string; context: RequestContext } {
    const minted = mintAccessToken(
      {
        issuer: authority.url,
        subject: user,
        actor: GATEWAY,
        audience: EVENTS,
        scopes: ['invoices:read'],
        tenantId: 'acme',
        lifetimeSeconds,
      },
      { key: authorityKey, clock },
    );
    const caller: Caller = {
      kind: 'delegated',
      user,
      spiffeId: GATEWAY,
      actors: [GATEWAY],
      scopes: ['invoices:read'],
      jti: minted.claims.jti,
      issuer: authority.url,
      issuedAt: minted.claims.iat,
      expiresAt: minted.claims.exp,
      tenant: 'acme',
    };
    return {
      token: minted.token,
      context: { trace: traceContextFromHeaders({}), caller, token: minted.token },
    };
  }

  const serviceCaller: Caller = {
    kind: 'service',
    spiffeId: GATEWAY,
    scopes: [],
    jti: 'service-jti',
    issuer: 'http://127.0.0.1:1',
    issuedAt: START_MS / 1000,
    expiresAt: START_MS / 1000 + 300,
  };

  async function call(
    dispatcher: ReturnType<Agent['compose']>,
    context: RequestContext | undefined,
    headers: Record<string, string> = {},
  ): Promise<number> {
    const send = async () => {
      const response = await request(`${upstreamOrigin}/invoices/1`, { dispatcher, headers });
      await response.body.text();
      return response.statusCode;
    };
    return context === undefined ? send() : requestContext.run(context, send);
  }

  const refused = (code: string) => (error: unknown) => {
    assert.ok(isTesseraError(error), String(error));
    assert.equal(error.code, code);
    return true;
  };

  // Refusals first: none of them may reach the upstream, nor fall back to the service's token.
  const REFUSALS: readonly { name: string; answer: NonNullable<Answer>; code: string }[] = [
    {
      name: 'invalid_grant',
      answer: { status: 400, body: { error: 'invalid_grant' } },
      code: 'ERR_DELEGATION_REFUSED',
    },
    {
      name: 'invalid_target',
      answer: { status: 400, body: { error: 'invalid_target' } },
      code: 'ERR_DELEGATION_REFUSED',
    },
    {
      name: 'unauthorized_client',
      answer: { status: 400, body: { error: 'unauthorized_client' } },
      code: 'ERR_DELEGATION_REFUSED',
    },
    {
      name: 'invalid_client (401)',
      answer: { status: 401, body: { error: 'invalid_client' } },
      code: 'ERR_DELEGATION_REFUSED',
    },
    { name: 'a 5xx', answer: { status: 503, body: {} }, code: 'ERR_UNAVAILABLE' },
    {
      name: 'a 200 with another issued_token_type',
      answer: {
        status: 200,
        body: {
          access_token: 'x.y.z',
          issued_token_type: 'urn:ietf:params:oauth:token-type:id_token',
          token_type: 'Bearer',
          expires_in: 300,
        },
      },
      code: 'ERR_DELEGATION_REFUSED',
    },
    {
      name: 'a 200 with token_type N_A',
      answer: {
        status: 200,
        body: {
          access_token: 'x.y.z',
          issued_token_type: ACCESS_TOKEN_TYPE,
          token_type: 'N_A',
          expires_in: 300,
        },
      },
      code: 'ERR_DELEGATION_REFUSED',
    },
    {
      name: 'a 200 without expires_in',
      answer: {
        status: 200,
        body: { access_token: 'x.y.z', issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer' },
      },
      code: 'ERR_DELEGATION_REFUSED',
    },
    {
      name: 'a 200 without access_token',
      answer: {
        status: 200,
        body: { issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', expires_in: 300 },
      },
      code: 'ERR_DELEGATION_REFUSED',
    },
  ];

  for (const row of REFUSALS) {
    it(`fails the call on ${row.name}, never falling back to client credentials`, async () => {
      authority.answer = () => row.answer;
      const dispatcher = dispatcherWith();
      await assert.rejects(call(dispatcher, inbound('alice').context), refused(row.code));
      assert.equal(authority.exchanges.length, 1);
      assert.equal(authority.clientCredentials, 0, 'no service token instead');
      assert.deepEqual(received, [], 'the upstream was not called');
      // A refusal is not cached: the next call asks again.
      await assert.rejects(call(dispatcher, inbound('alice').context), refused(row.code));
      assert.equal(authority.exchanges.length, 2);
    });
  }

  it('refuses a user call whose request context has no token to exchange', async () => {
    const { context } = inbound('alice');
    const withoutToken: RequestContext = { trace: context.trace, caller: context.caller! };
    await assert.rejects(call(dispatcherWith(), withoutToken), refused('ERR_DELEGATION_REFUSED'));
    assert.equal(authority.exchanges.length, 0);
    assert.equal(authority.clientCredentials, 0);
    assert.deepEqual(received, []);
  });

  it('never forwards the inbound token, even one the handler put on the call', async () => {
    const { token, context } = inbound('alice');
    assert.equal(await call(dispatcherWith(), context, { authorization: `Bearer ${token}` }), 200);
    assert.equal(received.length, 1);
    assert.notEqual(received[0], `Bearer ${token}`);
    assert.equal(authority.exchanges[0]!.subjectToken, token);
    assert.equal(authority.exchanges[0]!.audience, BILLING);
    assert.equal(authority.exchanges[0]!.scope, 'invoices:read');
    const claims = claimsOf(received[0]);
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.act?.sub, EVENTS);
  });

  it('never gives one user the token exchanged for another', async () => {
    const dispatcher = dispatcherWith();
    const users = ['alice', 'bob', 'alice', 'carol', 'bob'];
    const contexts = new Map(users.map((user) => [user, inbound(user).context]));
    for (const user of users) {
      received = [];
      assert.equal(await call(dispatcher, contexts.get(user)), 200);
      assert.equal(claimsOf(received[0]).sub, user);
    }
    assert.equal(authority.exchanges.length, 3, 'alice and bob hit the cache the second time');
  });

  it('keys by the token itself, even when a request context is reused with another token', async () => {
    const dispatcher = dispatcherWith();
    const context = inbound('alice').context;
    await call(dispatcher, context);
    context.token = inbound('bob').token;
    await call(dispatcher, context);
    assert.equal(claimsOf(received[0]).sub, 'alice');
    assert.equal(claimsOf(received[1]).sub, 'bob');
    assert.equal(authority.exchanges.length, 2);
  });

  it('exchanges the token of a user caller at the edge (kind user) as well', async () => {
    const { token, context } = inbound('dave');
    const user: RequestContext = {
      trace: context.trace,
      caller: {
        kind: 'user',
        user: 'dave',
        scopes: [],
        jti: '',
        issuer: 'http://127.0.0.1:1',
        issuedAt: context.caller!.issuedAt,
        expiresAt: context.caller!.expiresAt,
      },
      token,
    };
    await call(dispatcherWith(), user);
    assert.equal(authority.exchanges.length, 1);
    assert.equal(authority.clientCredentials, 0);
    assert.equal(claimsOf(received[0]).sub, 'dave');
  });

  it('shares one exchange between concurrent identical calls (single flight)', async () => {
    const dispatcher = dispatcherWith();
    const { context } = inbound('alice');
    const statuses = await Promise.all(Array.from({ length: 20 }, () => call(dispatcher, context)));
    assert.deepEqual(new Set(statuses), new Set([200]));
    assert.equal(authority.exchanges.length, 1);
    assert.equal(new Set(received).size, 1);
  });

  it('reuses an exchanged token within its lifetime minus the skew, then exchanges again', async () => {
    const dispatcher = dispatcherWith({ skewSeconds: 30 });
    const { context } = inbound('alice');
    await call(dispatcher, context);
    clock.advance(269_000);
    await call(dispatcher, context);
    assert.equal(authority.exchanges.length, 1, 'cached until 300 s - 30 s');
    assert.equal(received[0], received[1]);
    clock.advance(1_000);
    await call(dispatcher, context);
    assert.equal(authority.exchanges.length, 2, 'exchanged again from 270 s on');
    assert.notEqual(received[2], received[0]);
  });

  it('reuses no longer than the inbound token lives, and never a token shorter than the skew', async () => {
    const dispatcher = dispatcherWith({ skewSeconds: 30 });
    const { context } = inbound('alice', 100);
    await call(dispatcher, context);
    clock.advance(70_000);
    await call(dispatcher, context);
    assert.equal(authority.exchanges.length, 2, 'the inbound token expires at 100 s');
    authority.lifetimeSeconds = 20;
    const bob = inbound('bob').context;
    await call(dispatcher, bob);
    await call(dispatcher, bob);
    assert.equal(authority.exchanges.length, 4, 'a 20 s token is used once, not cached');
  });

  it('keeps at most maxEntries exchanged tokens, dropping the least recently used', async () => {
    const dispatcher = dispatcherWith({ maxEntries: 2 });
    const alice = inbound('alice').context;
    const bob = inbound('bob').context;
    const carol = inbound('carol').context;
    await call(dispatcher, alice);
    await call(dispatcher, bob);
    await call(dispatcher, alice); // alice is now the most recent
    assert.equal(authority.exchanges.length, 2);
    await call(dispatcher, carol); // drops bob
    await call(dispatcher, alice);
    assert.equal(authority.exchanges.length, 3);
    await call(dispatcher, bob);
    assert.equal(authority.exchanges.length, 4);
  });

  it('uses client credentials for a pure service call, and without a request context', async () => {
    const dispatcher = dispatcherWith();
    const service = {
      trace: traceContextFromHeaders({}),
      caller: serviceCaller,
      token: 'svc.tok.en',
    };
    await call(dispatcher, service);
    await call(dispatcher, undefined);
    await call(dispatcher, { trace: traceContextFromHeaders({}) });
    assert.equal(authority.exchanges.length, 0);
    assert.equal(authority.clientCredentials, 1, 'one cached service token');
    for (const authorization of received) assert.equal(claimsOf(authorization).sub, EVENTS);
    assert.equal(claimsOf(received[0]).act, undefined);
  });

  it('attaches nothing to an origin outside the service map', async () => {
    const unmapped = createServiceMap({}, { trustDomain: TRUST_DOMAIN });
    await call(dispatcherWith({ services: unmapped }), inbound('alice').context);
    assert.deepEqual(received, [undefined]);
    assert.equal(authority.exchanges.length, 0);
  });

  it('refuses bad options', () => {
    assert.throws(() => dispatcherWith({ maxEntries: 0 }), refused('ERR_CONFIG_INVALID'));
    assert.throws(() => dispatcherWith({ skewSeconds: -1 }), refused('ERR_CONFIG_INVALID'));
    const plain: TokenSource = { getToken: () => Promise.resolve('t') };
    assert.throws(
      () => createServiceDispatcher({ tokens: plain, services, delegate: true }),
      refused('ERR_CONFIG_INVALID'),
    );
  });

  it('createServiceDispatcher({ delegate: true }) exchanges for users, retries included', async () => {
    const dispatcher = createServiceDispatcher({
      tokens: tokenSource(),
      services,
      delegate: { clock },
      agent,
      retry: { baseDelayMs: 1, maxDelayMs: 1 },
    });
    const { context } = inbound('alice');
    statuses = [503];
    assert.equal(await call(dispatcher, context), 200);
    assert.equal(received.length, 2, 'retried once');
    assert.equal(claimsOf(received[0]).sub, 'alice');
    assert.equal(received[1], received[0], 'the retry carries the same delegated token');
    assert.equal(await call(dispatcher, undefined), 200);
    assert.equal(claimsOf(received[2]).sub, EVENTS);
    assert.equal(authority.exchanges.length, 1);
    assert.equal(authority.clientCredentials, 1);
  });
});
