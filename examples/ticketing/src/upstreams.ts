import {
  ClientCredentialsTokenSource,
  createServiceDispatcher,
  createServiceMap,
  type ClientKey,
  type WorkloadIdentity,
} from '@tessera/client';
import { serviceSpiffeId, type Policy } from '@tessera/core';
import { Agent, request } from 'undici';
import { scopesFor } from './registration.ts';

export interface UpstreamResponse {
  readonly status: number;
  readonly body: unknown;
}

/** The services one service calls, each call carrying its own token and the trace context. */
export interface Upstreams {
  call(
    service: string,
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
  ): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

/**
 * An outbound client for `self`: tokens from the authority with `self`'s own key (never a
 * forwarded user token, never a shared secret), one per upstream audience with the scopes the
 * policy requires there: for a user's request, a delegated token exchanged for that user, else
 * `self`'s own; `traceparent` and `x-correlation-id` continue the inbound request's.
 * With a workload `identity` (the mTLS demo) every connection also presents `self`'s X.509-SVID
 * and accepts an upstream only if its certificate names the SPIFFE ID the service map expects
 * for that address, and the tokens come over mTLS too.
 */
export function createUpstreams(options: {
  readonly self: string;
  /** `self`'s client key; a rotating one (the demo's) signs every token request with its current key. */
  readonly key: ClientKey;
  readonly authorityUrl: string;
  readonly policy: Policy;
  readonly urls: Readonly<Record<string, string>>;
  readonly identity?: WorkloadIdentity | undefined;
}): Upstreams {
  const { identity, policy, self, urls } = options;
  const tokens =
    identity?.tokenSource() ??
    new ClientCredentialsTokenSource({
      authorityUrl: options.authorityUrl,
      clientId: serviceSpiffeId(policy.trustDomain, self),
      key: options.key,
    });
  const services = createServiceMap(
    Object.fromEntries(
      Object.entries(urls).map(([name, url]) => [
        name,
        { url, scopes: scopesFor(policy, self, name) },
      ]),
    ),
    { trustDomain: policy.trustDomain },
  );
  const agent = identity?.dispatcher({ services }) ?? new Agent();
  // delegate: a call made while handling a user's request (a `user` caller at the edge, a
  // `delegated` one further along) carries a token the authority exchanged for that user and this
  // upstream (RFC 8693), never the inbound token; a call without a user behind it keeps `self`'s
  // own client-credentials token.
  const dispatcher = createServiceDispatcher({ tokens, services, agent, delegate: true });
  return {
    async call(service, method, path, body) {
      const base = urls[service];
      if (base === undefined) throw new Error(`${self} has no upstream ${service}`);
      const response = await request(new URL(path, base), {
        dispatcher,
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
