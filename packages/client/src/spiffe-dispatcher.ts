import { expectPeerSpiffeId, TesseraError } from '@tessera/core';
import { Agent, buildConnector, Dispatcher } from 'undici';

/** What a TLS client presents and trusts at one moment: the current SVID (if any) and the bundle. */
export interface ClientTlsMaterial {
  /** PEM private key and chain (leaf first), absent when there is no valid SVID. */
  readonly key?: string;
  readonly cert?: string;
  /** PEM CA certificates the server's chain must end in. */
  readonly ca: string;
}

/** Where the dispatcher reads its TLS material, and learns when it changes. */
export interface ClientTlsSource {
  /** The material to connect with now, or the error that refuses the connection (fail closed). */
  material(requireSvid: boolean): ClientTlsMaterial | TesseraError;
  /** Calls `listener` after every change (rotation, bundle, expiry); returns the unsubscribe. */
  onChange(listener: () => void): () => void;
}

function originOfConnect(options: buildConnector.Options): string | undefined {
  try {
    const port = options.port === '' ? '' : `:${options.port}`;
    return new URL(`${options.protocol}//${options.hostname}${port}`).origin;
  } catch {
    return undefined;
  }
}

/**
 * An undici dispatcher for mutual TLS with SPIFFE identities. Every connection it opens presents
 * the workload's current SVID, trusts only the current bundle, and checks that the server's
 * SPIFFE ID is the one expected for that origin. On every change of the material (a new SVID, a new
 * bundle, expiry) it starts a new `Agent` and closes the previous one gracefully: requests in
 * flight finish, its keep-alive connections close, and nothing new goes out under the old
 * certificate or the old trust. TLS session resumption is off (`maxCachedSessions: 0`): a resumed
 * session skips both the chain and the identity check of the new handshake.
 */
export class SpiffeDispatcher extends Dispatcher {
  readonly #source: ClientTlsSource;
  readonly #expectedFor: (origin: string) => string | undefined;
  readonly #trustDomain: string;
  readonly #requireSvid: boolean;
  readonly #agentOptions: Agent.Options;
  readonly #unsubscribe: () => void;
  #agent: Agent;
  #closed = false;

  constructor(options: {
    readonly source: ClientTlsSource;
    readonly expectedFor: (origin: string) => string | undefined;
    readonly trustDomain: string;
    /** Whether a connection without a valid SVID of our own is refused. */
    readonly requireSvid: boolean;
    readonly agentOptions?: Agent.Options;
  }) {
    super();
    this.#source = options.source;
    this.#expectedFor = options.expectedFor;
    this.#trustDomain = options.trustDomain;
    this.#requireSvid = options.requireSvid;
    this.#agentOptions = options.agentOptions ?? {};
    this.#agent = this.#newAgent();
    this.#unsubscribe = this.#source.onChange(() => {
      this.#replaceAgent();
    });
  }

  #newAgent(): Agent {
    return new Agent({
      ...this.#agentOptions,
      connect: (options, callback) => {
        const material = this.#source.material(this.#requireSvid);
        if (material instanceof TesseraError) {
          callback(material, null);
          return;
        }
        const origin = originOfConnect(options);
        const expected = origin === undefined ? undefined : this.#expectedFor(origin);
        if (expected === undefined) {
          callback(
            new TesseraError('ERR_CONFIG_INVALID', 'no expected SPIFFE ID for this origin'),
            null,
          );
          return;
        }
        buildConnector({
          ...(material.key !== undefined && material.cert !== undefined
            ? { key: material.key, cert: material.cert }
            : {}),
          ca: material.ca,
          rejectUnauthorized: true,
          minVersion: 'TLSv1.2',
          maxCachedSessions: 0,
          checkServerIdentity: expectPeerSpiffeId(expected, { trustDomain: this.#trustDomain }),
        })(options, callback);
      },
    });
  }

  #replaceAgent(): void {
    if (this.#closed) return;
    const previous = this.#agent;
    this.#agent = this.#newAgent();
    previous.close().catch(() => undefined);
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) {
    return this.#agent.dispatch(options, handler);
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    this.#closed = true;
    this.#unsubscribe();
    const closing = this.#agent.close();
    if (callback === undefined) return closing;
    closing.then(callback, callback);
  }

  override destroy(error?: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(error: Error | null, callback: () => void): void;
  override destroy(
    errorOrCallback?: Error | null | (() => void),
    callback?: () => void,
  ): Promise<void> | void {
    this.#closed = true;
    this.#unsubscribe();
    const error = typeof errorOrCallback === 'function' ? null : (errorOrCallback ?? null);
    const done = typeof errorOrCallback === 'function' ? errorOrCallback : callback;
    const destroying = this.#agent.destroy(error);
    if (done === undefined) return destroying;
    destroying.then(done, done);
  }
}
