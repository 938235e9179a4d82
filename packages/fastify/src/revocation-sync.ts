import { MemoryRevocationSet, type Clock, type RevocationSet } from '@tessera/core';

export interface RevocationSyncOptions {
  /** The authority's base URL (`/v1/revocations` and `/v1/revocations/stream` live under it). */
  readonly authorityUrl: string;
  readonly clock: Clock;
  /**
   * The `Authorization` header value for each feed request (the feed requires a credential): a
   * fresh client assertion, or an access token for the authority. Called once per request.
   */
  readonly authorization: () => string | Promise<string>;
  /** Without news (an event or a heartbeat) for this long, the state counts as stale. Default 60 s (the stream's heartbeat is 15 s). */
  readonly staleAfterMs?: number;
  /** Polling interval while the stream is down. Default 5 s. */
  readonly pollIntervalMs?: number;
  readonly fetch?: typeof fetch;
  readonly onError?: (error: unknown) => void;
  readonly onStateChange?: (state: 'streaming' | 'polling') => void;
  /**
   * A signing key was withdrawn (`keys rotate --revoke-previous`): tokens it signed are void
   * until `untilSeconds` at least. The plugin stops using the key and drops cached tokens.
   */
  readonly onKeyWithdrawn?: (kid: string, untilSeconds: number) => void;
}

interface WireRevocation {
  id: number;
  /** `jti`, `subject`, `kid` or `svid` (a serial); kinds a newer authority may add are ignored. */
  kind: string;
  value: string;
  issued_at_or_before?: number;
  expires_at: number;
}

/**
 * Keeps a local {@link RevocationSet} in step with the authority: Server-Sent Events when the
 * stream is up (a revocation arrives in well under a second), polling `?since=` when it is not,
 * reconnecting with backoff. `isStale()` says whether the state can still be trusted.
 */
export class RevocationSync {
  readonly set: MemoryRevocationSet;
  readonly #options: RevocationSyncOptions;
  readonly #fetch: typeof fetch;
  #cursor = 0;
  #lastNewsMs = Number.NEGATIVE_INFINITY;
  #stopped = false;
  #abort = new AbortController();
  #state: 'streaming' | 'polling' = 'polling';

  constructor(options: RevocationSyncOptions) {
    this.#options = options;
    this.#fetch = options.fetch ?? fetch;
    this.set = new MemoryRevocationSet({ clock: options.clock });
  }

  get revocations(): RevocationSet {
    return this.set;
  }

  get state(): 'streaming' | 'polling' {
    return this.#state;
  }

  /** Milliseconds since the last news (an event, a heartbeat or a poll); Infinity before any. */
  ageMs(): number {
    return this.#options.clock.now() - this.#lastNewsMs;
  }

  isStale(): boolean {
    return this.#options.clock.now() - this.#lastNewsMs > (this.#options.staleAfterMs ?? 60_000);
  }

  /** Starts syncing in the background; resolves after the first successful poll (or failure). */
  async start(): Promise<void> {
    await this.poll().catch((error: unknown) => {
      this.#options.onError?.(error);
    });
    void this.#loop();
  }

  // A method, not a field read: the loops below must see a stop() made while they awaited.
  #isStopped(): boolean {
    return this.#stopped;
  }

  stop(): void {
    this.#stopped = true;
    this.#abort.abort();
  }

  /** One `GET /v1/revocations?since=cursor`. */
  async poll(): Promise<void> {
    const response = await this.#fetch(
      new URL(`/v1/revocations?since=${this.#cursor}`, this.#options.authorityUrl),
      {
        headers: { authorization: await this.#options.authorization() },
        signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(5000)]),
        redirect: 'error',
      },
    );
    if (!response.ok) throw new Error(`revocation poll answered ${response.status}`);
    const body = (await response.json()) as { cursor: number; revocations: WireRevocation[] };
    for (const record of body.revocations) this.#apply(record);
    this.#lastNewsMs = this.#options.clock.now();
  }

  #apply(record: WireRevocation): void {
    if (record.id <= this.#cursor) return;
    this.#cursor = record.id;
    if (record.kind === 'jti') this.set.revokeToken(record.value, record.expires_at);
    else if (record.kind === 'subject') {
      this.set.revokeSubject(record.value, record.issued_at_or_before ?? 0, record.expires_at);
    } else if (record.kind === 'svid') this.set.revokeCertificate(record.value, record.expires_at);
    else if (record.kind === 'kid') this.#options.onKeyWithdrawn?.(record.value, record.expires_at);
  }

  #setState(state: 'streaming' | 'polling'): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#options.onStateChange?.(state);
  }

  async #loop(): Promise<void> {
    let backoffMs = 500;
    while (!this.#isStopped()) {
      const attempt = { connected: false };
      try {
        await this.#stream(() => {
          attempt.connected = true;
        });
      } catch (error) {
        if (this.#isStopped()) return;
        if (!(error instanceof StreamEnded)) this.#options.onError?.(error);
      }
      if (attempt.connected) {
        // The stream was up and has ended: the authority closes streams when the credential
        // that opened them runs out. Reconnect with a fresh one after a short pause (a server
        // that ends every stream at once must not get a tight loop); the cursor loses nothing.
        backoffMs = 500;
        await sleep(RECONNECT_PAUSE_MS, this.#abort.signal);
        continue;
      }
      this.#setState('polling');
      // While the stream is down: poll, then try the stream again, backing off to 30 s.
      const until = this.#options.clock.now() + backoffMs;
      while (!this.#isStopped() && this.#options.clock.now() < until) {
        await this.poll().catch((error: unknown) => {
          this.#options.onError?.(error);
        });
        await sleep(
          Math.min(
            this.#options.pollIntervalMs ?? 5000,
            Math.max(0, until - this.#options.clock.now()),
          ),
          this.#abort.signal,
        );
      }
      backoffMs = Math.min(backoffMs * 2, 30_000);
    }
  }

  async #stream(onConnected: () => void): Promise<void> {
    const response = await this.#fetch(
      new URL(`/v1/revocations/stream?since=${this.#cursor}`, this.#options.authorityUrl),
      {
        headers: {
          accept: 'text/event-stream',
          authorization: await this.#options.authorization(),
        },
        signal: this.#abort.signal,
        redirect: 'error',
      },
    );
    if (!response.ok || response.body === null)
      throw new Error(`revocation stream answered ${response.status}`);
    onConnected();
    this.#setState('streaming');
    this.#lastNewsMs = this.#options.clock.now();
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      if (buffer.length > 1024 * 1024) throw new Error('revocation stream event too large');
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        this.#lastNewsMs = this.#options.clock.now();
        const data = event
          .split('\n')
          .filter((line) => line.startsWith('data: '))
          .map((line) => line.slice(6))
          .join('\n');
        if (data !== '') this.#apply(JSON.parse(data) as WireRevocation);
      }
    }
    throw new StreamEnded();
  }
}

/** The authority ended a stream that was up: expected, not an error to report. */
class StreamEnded extends Error {
  constructor() {
    super('revocation stream ended');
  }
}

/** Pause before reconnecting a stream the authority ended (SSE's `retry` idea, kept short). */
const RECONNECT_PAUSE_MS = 250;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
