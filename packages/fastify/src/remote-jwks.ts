import {
  KeySet,
  parseJwks,
  TesseraError,
  type Clock,
  type KeyResolver,
  type VerificationKey,
} from '@tessera/core';

export interface RemoteJwksOptions<K extends { readonly kid: string } = VerificationKey> {
  /** The authority's `jwks_uri` (or an external OpenID provider's, with `parse`). */
  readonly url: string;
  /** Reads the fetched document. Default `parseJwks` (Tessera's strict rules); `parseUserJwks` for an IdP. */
  readonly parse?: (text: string) => KeySet<K>;
  readonly clock: Clock;
  /** Least time between two fetches triggered by unknown `kid`s (a flood of forged kids must not become a flood of fetches). Default 30 s. */
  readonly cooldownMs?: number;
  /** Regular refresh, also bounded by the response's `max-age`. Default 300 s. */
  readonly refreshIntervalMs?: number;
  /** Keys not refreshed for this long are no longer used: fail closed. Default 24 h. */
  readonly maxStaleMs?: number;
  /** Per-fetch timeout. Default 5 s. */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
  readonly onError?: (error: unknown) => void;
  /** Called when a fetch drops keys that were published before (rotation or emergency revocation). */
  readonly onKeysRemoved?: (kids: readonly string[]) => void;
}

/**
 * The authority's JWKS, fetched and cached. `get(kid)` is synchronous (the verifier's hot path);
 * an unknown `kid` lets the caller `refreshForUnknownKid()` once per cooldown. When the authority
 * is unreachable the cached keys keep working until `maxStaleMs`, then none are served.
 */
export class RemoteJwks<
  K extends { readonly kid: string } = VerificationKey,
> implements KeyResolver<K> {
  readonly #options: Required<
    Omit<RemoteJwksOptions<K>, 'onError' | 'fetch' | 'onKeysRemoved' | 'parse'>
  > & {
    readonly onError: ((error: unknown) => void) | undefined;
  };
  readonly #parse: (text: string) => KeySet<K>;
  readonly #fetch: typeof fetch;
  readonly #onKeysRemoved: ((kids: readonly string[]) => void) | undefined;
  #keys: KeySet<K> = new KeySet<K>([]);
  #lastSuccessMs = Number.NEGATIVE_INFINITY;
  #lastAttemptMs = Number.NEGATIVE_INFINITY;
  #nextRefreshMs = 0;
  #inflight: Promise<boolean> | undefined;
  /** Withdrawn `kid`s (from the revocation feed) and until when (epoch seconds) to refuse them. */
  readonly #withdrawn = new Map<string, number>();

  constructor(options: RemoteJwksOptions<K>) {
    this.#options = {
      url: options.url,
      clock: options.clock,
      cooldownMs: options.cooldownMs ?? 30_000,
      refreshIntervalMs: options.refreshIntervalMs ?? 300_000,
      maxStaleMs: options.maxStaleMs ?? 24 * 3_600_000,
      timeoutMs: options.timeoutMs ?? 5000,
      onError: options.onError,
    };
    this.#fetch = options.fetch ?? fetch;
    // Without `parse`, K is Tessera's VerificationKey (the class default).
    this.#parse = options.parse ?? (parseJwks as unknown as (text: string) => KeySet<K>);
    this.#onKeysRemoved = options.onKeysRemoved;
  }

  get(kid: string): K | undefined {
    if (this.isStale()) return undefined;
    if (this.#withdrawn.size !== 0 && this.#withdrawn.has(kid)) return undefined;
    return this.#keys.get(kid);
  }

  /**
   * Stops using `kid` at once, and keeps refusing it until `untilSeconds` even if a JWKS fetched
   * later still lists it (a cached copy on the way, or an authority instance that has not caught
   * up). For emergency key withdrawal pushed over the revocation feed.
   */
  withdraw(kid: string, untilSeconds: number): void {
    const nowSeconds = this.#options.clock.now() / 1000;
    for (const [known, until] of this.#withdrawn) {
      if (until < nowSeconds) this.#withdrawn.delete(known);
    }
    this.#withdrawn.set(kid, Math.max(untilSeconds, this.#withdrawn.get(kid) ?? 0));
  }

  /** True when the keys have not been refreshed within `maxStaleMs` (or never were). */
  isStale(): boolean {
    return this.#options.clock.now() - this.#lastSuccessMs > this.#options.maxStaleMs;
  }

  /** Milliseconds since the last successful fetch (Infinity before the first). */
  ageMs(): number {
    return this.#options.clock.now() - this.#lastSuccessMs;
  }

  /** True when a scheduled refresh is due. */
  isDue(): boolean {
    return this.#options.clock.now() >= this.#nextRefreshMs;
  }

  /** Fetches now unless a fetch is already running. Resolves to whether it succeeded. */
  refresh(): Promise<boolean> {
    this.#inflight ??= this.#fetchOnce().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  /** Refreshes for an unknown `kid`, at most once per cooldown. Resolves to whether keys changed hands. */
  refreshForUnknownKid(): Promise<boolean> {
    if (this.#options.clock.now() - this.#lastAttemptMs < this.#options.cooldownMs)
      return Promise.resolve(false);
    return this.refresh();
  }

  async #fetchOnce(): Promise<boolean> {
    const now = this.#options.clock.now();
    this.#lastAttemptMs = now;
    try {
      const response = await this.#fetch(this.#options.url, {
        headers: { accept: 'application/jwk-set+json, application/json' },
        signal: AbortSignal.timeout(this.#options.timeoutMs),
        redirect: 'error',
      });
      if (!response.ok)
        throw new TesseraError('ERR_UNAVAILABLE', `JWKS fetch answered ${response.status}`);
      const text = await response.text();
      if (text.length > 256 * 1024)
        throw new TesseraError('ERR_JWKS_INVALID', 'JWKS larger than 256 KiB');
      const previous = this.#keys;
      this.#keys = this.#parse(text);
      const removed = previous.kids().filter((kid) => this.#keys.get(kid) === undefined);
      if (removed.length > 0) this.#onKeysRemoved?.(removed);
      this.#lastSuccessMs = this.#options.clock.now();
      const maxAge = /max-age=(\d+)/.exec(response.headers.get('cache-control') ?? '')?.[1];
      const interval = Math.min(
        this.#options.refreshIntervalMs,
        maxAge === undefined ? Infinity : Number(maxAge) * 1000,
      );
      this.#nextRefreshMs = this.#lastSuccessMs + Math.max(interval, 1000);
      return true;
    } catch (error) {
      this.#nextRefreshMs = now + Math.min(this.#options.cooldownMs, 5000);
      this.#options.onError?.(error);
      return false;
    }
  }
}
