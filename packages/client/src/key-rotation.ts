import {
  assertSecureUrl,
  generateSigningKey,
  JWT_BEARER_ASSERTION_TYPE,
  mintClientAssertion,
  systemClock,
  TesseraError,
  type Clock,
  type SigningKey,
} from '@tessera/core';
import { Agent, fetch as undiciFetch } from 'undici';

/** Something that always has this service's current client key (a {@link KeyRotation}). */
export interface CurrentSigningKey {
  current(): SigningKey;
}

/** A client key as token sources and workload identities take it: fixed, or rotating. */
export type ClientKey = SigningKey | CurrentSigningKey;

/** The key to sign with now. */
export function currentKey(key: ClientKey): SigningKey {
  return 'privateKey' in key ? key : key.current();
}

/** The authority's self-service key endpoint (`POST /v1/service/keys`). */
export const SERVICE_KEYS_PATH = '/v1/service/keys';

export interface KeyRotationOptions {
  /** The authority's base URL: https, or plain http to a loopback address only. */
  readonly authorityUrl: string;
  /** The authority's CA bundle (PEM) when it serves https with a certificate of its own trust domain. */
  readonly ca?: string;
  /** The issuer identifier the client assertions name as `aud`. Default: `authorityUrl`. */
  readonly issuer?: string;
  /** This service's SPIFFE ID (`client_id`). */
  readonly clientId: string;
  /** The key registered with the authority now. */
  readonly key: SigningKey;
  /** How often to rotate, in seconds (each time 80–100% of it, jittered). At least 60. */
  readonly intervalSeconds: number;
  /**
   * Called with the new key once the authority registered it and before it is used: persist it
   * here (write the key file atomically, mode 0600). When it throws (or rejects), the rotation
   * counts as failed and the current key stays in use; the authority still accepts it.
   */
  readonly onRotated?: (key: SigningKey) => void | Promise<void>;
  /** A failed rotation (kept key, retried after `retryInMs`). Never thrown into the process. */
  readonly onError?: (error: unknown, retryInMs: number) => void;
  /** Backoff after a failed rotation: starts here, doubles, full jitter. Default 1 s, at most 5 min. */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** Per request. Default 5 s. */
  readonly timeoutMs?: number;
  readonly clock?: Clock;
  /** Default: `fetch`, through a connection pool trusting `ca` when given. */
  readonly fetch?: typeof fetch;
  readonly random?: () => number;
}

/** A client key that rotates itself on a schedule. */
export interface KeyRotation extends CurrentSigningKey {
  /** The key to sign with now: the newest one the authority registered and `onRotated` kept. */
  current(): SigningKey;
  /**
   * Rotates now (one at a time: concurrent calls share one rotation) and resolves to the new key.
   * Throws `ERR_CLIENT_AUTH` when the authority refused, `ERR_UNAVAILABLE` when unreachable.
   */
  rotate(): Promise<SigningKey>;
  /** Stops the schedule and closes its connections. A rotation under way completes. */
  close(): void;
}

const MIN_INTERVAL_SECONDS = 60;

/**
 * Automatic rotation of this service's client-authentication key (`private_key_jwt`). On a
 * jittered schedule it generates a new key of the same algorithm, registers its public JWK with
 * the authority (authenticated with the current key; the authority keeps the current key and the
 * new one, and drops the one before), hands it to `onRotated` to persist, then signs with it.
 * A failed rotation keeps the current key and is retried with bounded exponential backoff.
 * The timer is unref'd: it never keeps the process alive.
 *
 * @example
 * ```ts
 * const key = createKeyRotation({ authorityUrl, clientId, key: loaded, intervalSeconds: 3600,
 *   onRotated: (next) => writeKeyFileAtomically(path, next) });
 * const tokens = new ClientCredentialsTokenSource({ authorityUrl, clientId, key });
 * ```
 */
export function createKeyRotation(options: KeyRotationOptions): KeyRotation {
  const base = assertSecureUrl(options.authorityUrl, 'authorityUrl');
  if (options.issuer !== undefined) assertSecureUrl(options.issuer, 'issuer');
  const { intervalSeconds } = options;
  if (!Number.isFinite(intervalSeconds) || intervalSeconds < MIN_INTERVAL_SECONDS) {
    throw new TesseraError(
      'ERR_CONFIG_INVALID',
      `intervalSeconds must be at least ${MIN_INTERVAL_SECONDS}`,
    );
  }
  const endpoint = new URL(SERVICE_KEYS_PATH, base).href;
  const issuer = options.issuer ?? options.authorityUrl.replace(/\/$/, '');
  const clock = options.clock ?? systemClock;
  const agent =
    options.fetch === undefined && options.ca !== undefined
      ? new Agent({ connect: { ca: options.ca } })
      : undefined;
  const doFetch =
    options.fetch ??
    (agent === undefined
      ? fetch
      : (((input: string | URL, init?: RequestInit) =>
          undiciFetch(input, {
            ...(init as Parameters<typeof undiciFetch>[1]),
            dispatcher: agent,
          })) as unknown as typeof fetch));
  const random = options.random ?? Math.random;
  const retryBaseMs = options.retryBaseMs ?? 1000;
  const retryMaxMs = options.retryMaxMs ?? 300_000;

  let key = options.key;
  let inflight: Promise<SigningKey> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;
  let closed = false;

  async function register(next: SigningKey): Promise<void> {
    let response: Response;
    try {
      const assertion = mintClientAssertion(
        { clientId: options.clientId, audience: issuer },
        { key, clock },
      );
      response = await doFetch(endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({
          client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
          client_assertion: assertion,
          jwk: JSON.stringify(next.publicJwk),
        }).toString(),
        signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
      });
    } catch (error) {
      if (error instanceof TesseraError) throw error;
      throw new TesseraError('ERR_UNAVAILABLE', 'authority unreachable', { cause: error });
    }
    const json = (await response.json().catch(() => ({}))) as { kid?: unknown; error?: unknown };
    if (response.status >= 500) {
      throw new TesseraError('ERR_UNAVAILABLE', `key rotation answered ${response.status}`);
    }
    if (!response.ok || json.kid !== next.kid) {
      const reason = typeof json.error === 'string' ? json.error : `status ${response.status}`;
      throw new TesseraError('ERR_CLIENT_AUTH', `key rotation refused (${reason})`);
    }
  }

  function rotate(): Promise<SigningKey> {
    inflight ??= (async () => {
      const next = generateSigningKey(key.alg);
      await register(next);
      // Persisted before it is used: a process that restarts from the file finds a key the
      // authority accepts whichever step it stopped at.
      await options.onRotated?.(next);
      key = next;
      return next;
    })().finally(() => {
      inflight = undefined;
    });
    return inflight;
  }

  function schedule(delayMs: number): void {
    if (closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      rotate().then(
        () => {
          failures = 0;
          schedule(intervalSeconds * 1000 * (0.8 + 0.2 * random()));
        },
        (error: unknown) => {
          failures += 1;
          const cap = Math.min(retryMaxMs, retryBaseMs * 2 ** Math.min(failures - 1, 30));
          const retryInMs = Math.max(1, Math.round(cap * random()));
          try {
            options.onError?.(error, retryInMs);
          } catch {
            // A reporting callback that throws must not stop the schedule.
          }
          schedule(retryInMs);
        },
      );
    }, delayMs);
    timer.unref();
  }

  schedule(intervalSeconds * 1000 * (0.8 + 0.2 * random()));

  return {
    current: () => key,
    rotate,
    close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      void (inflight ?? Promise.resolve()).catch(() => undefined).then(() => agent?.close());
    },
  };
}
