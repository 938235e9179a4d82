import { createHash } from 'node:crypto';
import {
  requestContext,
  systemClock,
  TesseraError,
  useRequestContext,
  type Clock,
} from '@tessera/core';
import type { Dispatcher } from 'undici';
import { headerRecord, originOf } from './headers.ts';
import type { Interceptor } from './interceptors.ts';
import type { ServiceMap } from './service-map.ts';
import type { TokenExchanger, TokenSource } from './token-source.ts';

export interface DelegateOptions {
  /**
   * This service's credentials: client credentials for pure service calls, token exchange for
   * calls made for a user (a `ClientCredentialsTokenSource` is both).
   */
  readonly tokens: TokenSource & TokenExchanger;
  readonly services: ServiceMap;
  readonly clock?: Clock;
  /** Exchanged tokens kept, least recently used dropped first. Default 1,000. */
  readonly maxEntries?: number;
  /**
   * An exchanged token is reused until this many seconds before it (or the inbound token it was
   * exchanged from) expires. Default 30, which also covers the bounded retries of a call.
   */
  readonly skewSeconds?: number;
}

/**
 * The inbound token's SHA-256, computed once per request context (a request making several
 * calls hashes its token once); recomputed whenever the context's token is not the one hashed.
 */
const digests = new WeakMap<object, { readonly token: string; readonly digest: string }>();

function digestOf(token: string, context: object): string {
  const known = digests.get(context);
  if (known?.token === token) return known.digest;
  const digest = createHash('sha256').update(token).digest('base64url');
  digests.set(context, { token, digest });
  return digest;
}

interface Cached {
  readonly token: string;
  readonly reuseUntilMs: number;
}

/**
 * Exchanged tokens per (inbound token, audience, scopes): bounded (LRU), reused within their
 * lifetime minus a skew, and single-flight (concurrent identical exchanges share one request).
 * The inbound token is keyed by its SHA-256, so two users (two tokens) never share an entry.
 */
class DelegatedTokens {
  readonly #entries = new Map<string, Cached>();
  readonly #inflight = new Map<string, Promise<string>>();
  readonly #exchanger: TokenExchanger;
  readonly #clock: Clock;
  readonly #max: number;
  readonly #skewMs: number;

  constructor(exchanger: TokenExchanger, clock: Clock, max: number, skewSeconds: number) {
    this.#exchanger = exchanger;
    this.#clock = clock;
    this.#max = max;
    this.#skewMs = skewSeconds * 1000;
  }

  /** A delegated token, synchronously when cached. */
  get(
    context: object,
    subjectToken: string,
    subjectExpiresAt: number,
    audience: string,
    scopes: readonly string[],
  ): string | Promise<string> {
    const digest = digestOf(subjectToken, context);
    const key = `${digest} ${audience} ${scopes.length === 0 ? '' : [...scopes].sort().join(' ')}`;
    const cached = this.#entries.get(key);
    if (cached !== undefined) {
      this.#entries.delete(key);
      if (this.#clock.now() < cached.reuseUntilMs) {
        this.#entries.set(key, cached);
        return cached.token;
      }
    }
    const pending = this.#inflight.get(key);
    if (pending !== undefined) return pending;
    const exchange = this.#exchanger.exchangeToken(subjectToken, audience, scopes).then(
      ({ accessToken, expiresIn }) => {
        this.#inflight.delete(key);
        const expiresAtMs = Math.min(this.#clock.now() + expiresIn * 1000, subjectExpiresAt * 1000);
        const reuseUntilMs = expiresAtMs - this.#skewMs;
        if (this.#clock.now() < reuseUntilMs) {
          this.#entries.set(key, { token: accessToken, reuseUntilMs });
          if (this.#entries.size > this.#max) {
            const oldest = this.#entries.keys().next().value;
            if (oldest !== undefined) this.#entries.delete(oldest);
          }
        }
        return accessToken;
      },
      (error: unknown) => {
        this.#inflight.delete(key);
        throw error;
      },
    );
    this.#inflight.set(key, exchange);
    return exchange;
  }
}

function failed(handler: Dispatcher.DispatchHandler, error: unknown): void {
  handler.onResponseError?.(
    null as unknown as Dispatcher.DispatchController,
    error instanceof TesseraError
      ? error
      : new TesseraError('ERR_UNAVAILABLE', 'no token for the upstream'),
  );
}

/**
 * Attaches, for a mapped upstream, a token that says who this call is for (issue 14):
 * - the inbound request (`requestContext`, opened by `@tessera/fastify`) has a caller acting for
 *   a user: its verified token is exchanged (RFC 8693) for one for the upstream's SPIFFE ID and
 *   scopes, cached per (inbound token, audience, scopes);
 * - no inbound request, or a service caller: this service's own client-credentials token.
 *
 * A refused exchange fails the call with `ERR_DELEGATION_REFUSED` (or `ERR_UNAVAILABLE` when the
 * authority cannot answer); it never falls back to the service's own token, which would let the
 * service act for a user with its own authority (the confused deputy). The inbound token is never
 * forwarded: any `authorization` header on the call is replaced.
 *
 * The request context is read when the call is dispatched, so compose this outside `retry()`
 * (`createServiceDispatcher` does): a retried attempt reuses the token of its first attempt.
 */
export function delegate(options: DelegateOptions): Interceptor {
  const { tokens, services } = options;
  const maxEntries = options.maxEntries ?? 1000;
  const skewSeconds = options.skewSeconds ?? 30;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new TesseraError('ERR_CONFIG_INVALID', 'delegate: maxEntries is a positive integer');
  }
  if (!Number.isFinite(skewSeconds) || skewSeconds < 0) {
    throw new TesseraError('ERR_CONFIG_INVALID', 'delegate: skewSeconds is at least 0');
  }
  const delegated = new DelegatedTokens(
    tokens,
    options.clock ?? systemClock,
    maxEntries,
    skewSeconds,
  );
  useRequestContext();
  return (dispatch) => (opts, handler) => {
    const origin = originOf(opts);
    const target = origin === undefined ? undefined : services.get(origin);
    if (target === undefined) return dispatch(opts, handler);
    const context = requestContext.getStore();
    const caller = context?.caller;
    let token: string | Promise<string>;
    if (caller === undefined || caller.kind === 'service') {
      token = tokens.getToken(target.spiffeId, target.scopes);
    } else if (context?.token === undefined) {
      // A user is behind this call but there is nothing to exchange: refuse, never substitute.
      failed(
        handler,
        new TesseraError('ERR_DELEGATION_REFUSED', 'no inbound token to exchange for the user'),
      );
      return true;
    } else {
      try {
        token = delegated.get(
          context,
          context.token,
          caller.expiresAt,
          target.spiffeId,
          target.scopes,
        );
      } catch (error) {
        failed(handler, error);
        return true;
      }
    }
    if (typeof token === 'string') {
      const headers = headerRecord(opts.headers);
      headers.authorization = `Bearer ${token}`;
      return dispatch({ ...opts, headers }, handler);
    }
    token.then(
      (value) => {
        const headers = headerRecord(opts.headers);
        headers.authorization = `Bearer ${value}`;
        dispatch({ ...opts, headers }, handler);
      },
      (error: unknown) => {
        failed(handler, error);
      },
    );
    return true;
  };
}
