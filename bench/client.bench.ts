/**
 * @tessera/client benchmarks. Names are published (see bench/README.md): do not rename.
 *
 * `client.delegate.cached`: what `delegate()` adds to an outbound call made for a user once the
 * exchanged token is cached: read the request context, key the inbound token (SHA-256), hit the
 * LRU and set the `authorization` header. Baseline `client.auth.cached`: `auth()` attaching this
 * service's own cached client-credentials token. Both run over a dispatch that only records the
 * headers (no socket), inside the same request context, so the figures are the interceptors.
 */
import {
  generateSigningKey,
  mintAccessToken,
  requestContext,
  traceContextFromHeaders,
  type RequestContext,
} from '@tessera/core';
import { ManualClock } from '@tessera/core/testing';
import type { Dispatcher } from 'undici';
import {
  ACCESS_TOKEN_TYPE,
  auth,
  ClientCredentialsTokenSource,
  createServiceMap,
  delegate,
  type Interceptor,
} from '@tessera/client';
import type { Benchmark } from './harness.ts';

const AUTHORITY = 'http://127.0.0.1:7700';
const CLIENT = 'spiffe://tessera.local/event-service';
const UPSTREAM = 'http://127.0.0.1:7703';
// A fixed clock: cached tokens never expire during the run.
const clock = new ManualClock(Date.UTC(2026, 10, 23, 12));
const key = generateSigningKey('ES256');

/** The authority behind an injected fetch: nothing leaves the process. */
const fakeFetch = ((input: string | URL | Request, init?: RequestInit) => {
  const url = input instanceof Request ? input.url : input.toString();
  if (url.endsWith('/.well-known/oauth-authorization-server')) {
    return Promise.resolve(
      Response.json({ issuer: AUTHORITY, token_endpoint: `${AUTHORITY}/oauth2/token` }),
    );
  }
  const form = new URLSearchParams(typeof init?.body === 'string' ? init.body : '');
  const exchange = form.has('subject_token');
  const minted = mintAccessToken(
    {
      issuer: AUTHORITY,
      subject: exchange ? 'alice' : CLIENT,
      audience: form.get('audience') ?? '',
      lifetimeSeconds: 300,
      ...(exchange ? { actor: CLIENT, tenantId: 'acme' } : {}),
    },
    { key, clock },
  );
  return Promise.resolve(
    Response.json({
      access_token: minted.token,
      ...(exchange ? { issued_token_type: ACCESS_TOKEN_TYPE } : {}),
      token_type: 'Bearer',
      expires_in: 300,
    }),
  );
}) as typeof fetch;

const services = createServiceMap(
  { billing: { url: UPSTREAM, scopes: ['invoices:read'] } },
  { trustDomain: 'tessera.local' },
);
const opts: Dispatcher.DispatchOptions = {
  origin: UPSTREAM,
  path: '/invoices/1',
  method: 'GET',
  headers: { accept: 'application/json' },
};

let context: RequestContext;

/** One attach through `interceptor`: resolves when the inner dispatch receives the call. */
function attacher(interceptor: Interceptor): () => Promise<unknown> {
  let resolveCall: (headers: unknown) => void = () => undefined;
  const inner = ((options: Dispatcher.DispatchOptions) => {
    resolveCall(options.headers);
    return true;
  }) as Dispatcher['dispatch'];
  const dispatch = interceptor(inner);
  const handler: Dispatcher.DispatchHandler = {
    onResponseError: (_controller, error) => {
      throw error;
    },
  };
  const call = () =>
    new Promise((resolve) => {
      resolveCall = resolve;
      dispatch(opts, handler);
    });
  return () => requestContext.run(context, call);
}

let delegated: () => Promise<unknown>;
let ownToken: () => Promise<unknown>;

export const benchmarks: readonly Benchmark[] = [
  {
    name: 'client.delegate.cached',
    setup: async () => {
      const tokens = new ClientCredentialsTokenSource({
        authorityUrl: AUTHORITY,
        clientId: CLIENT,
        key,
        clock,
        fetch: fakeFetch,
      });
      const inbound = mintAccessToken(
        {
          issuer: AUTHORITY,
          subject: 'alice',
          actor: 'spiffe://tessera.local/gateway',
          audience: CLIENT,
          tenantId: 'acme',
          lifetimeSeconds: 3600,
        },
        { key, clock },
      );
      context = {
        trace: traceContextFromHeaders({}),
        caller: {
          kind: 'delegated',
          user: 'alice',
          spiffeId: 'spiffe://tessera.local/gateway',
          actors: ['spiffe://tessera.local/gateway'],
          scopes: [],
          jti: inbound.claims.jti,
          issuer: AUTHORITY,
          issuedAt: inbound.claims.iat,
          expiresAt: inbound.claims.exp,
          tenant: 'acme',
        },
        token: inbound.token,
      };
      delegated = attacher(delegate({ tokens, services, clock }));
      ownToken = attacher(auth({ tokens, services }));
      // Fill both caches (one exchange, one client-credentials token) before measuring.
      await delegated();
      await ownToken();
    },
    fn: () => delegated(),
    baseline: { name: 'client.auth.cached', fn: () => ownToken() },
  },
];
