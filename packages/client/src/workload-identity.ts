import { constants, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { SecureContextOptions } from 'node:tls';
import {
  assertSecureUrl,
  createCertificationRequest,
  isTesseraError,
  JWT_BEARER_ASSERTION_TYPE,
  mintClientAssertion,
  parseWorkloadId,
  serviceSpiffeId,
  systemClock,
  TesseraError,
  type Clock,
  type X509SvidInfo,
} from '@tessera/core';
import { fetch as undiciFetch, type Agent, type Dispatcher } from 'undici';
import type { ServiceMap } from './service-map.ts';
import {
  SpiffeDispatcher,
  type ClientTlsMaterial,
  type ClientTlsSource,
} from './spiffe-dispatcher.ts';
import {
  checkIssuedSvid,
  fetchTrustBundle,
  requestSvid,
  trustBundleFromPem,
  type IssuedSvid,
  type TrustBundle,
} from './svid-authority.ts';
import {
  ClientCredentialsTokenSource,
  type TokenExchanger,
  type TokenSource,
  type TokenSourceOptions,
} from './token-source.ts';
import { currentKey, type ClientKey } from './key-rotation.ts';

/**
 * How the workload proves who it is when it has no valid SVID (first boot, or after expiry):
 * its registered private key (`private_key_jwt`, like the token source; a rotating key from
 * {@link createKeyRotation} signs with its current key), or a one-time join token.
 */
export type WorkloadCredentials =
  | { readonly key: ClientKey; readonly joinToken?: never }
  | { readonly joinToken: string; readonly key?: never };

/** pino-compatible (`logger.warn(fields, message)`); Fastify's `app.log` fits. */
export interface WorkloadIdentityLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface WorkloadIdentityOptions {
  readonly authority: {
    /** The authority's issuer URL: https, or http to a loopback address (development). */
    readonly url: string;
    /** PEM CA certificate(s) to trust for an https authority before the first bundle arrives. */
    readonly ca?: string;
    /** The SPIFFE ID the authority's certificate must carry. Default `spiffe://<td>/tessera-authority`. */
    readonly spiffeId?: string;
  };
  /** This workload's SPIFFE ID (its `client_id`). */
  readonly spiffeId: string;
  readonly credentials: WorkloadCredentials;
  /**
   * Ask for certificates of this lifetime (the form's `ttl`; the authority caps it at its maximum).
   * Default: the authority's SVID lifetime.
   */
  readonly svidLifetimeSeconds?: number;
  /** Key type of the SVID's key. Default P-256. */
  readonly keyType?: 'P-256' | 'Ed25519';
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly logger?: WorkloadIdentityLogger;
  /** `createWorkloadIdentity` fails if no SVID arrives within this. Default 30 s. */
  readonly startTimeoutMs?: number;
  /** Backoff after a failed request: full jitter, doubling from here up to `retryMaxMs`. Default 500 ms, 30 s. */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** Per request to the authority. Default 5 s. */
  readonly requestTimeoutMs?: number;
}

/** What listeners receive. */
export interface WorkloadIdentityEvents {
  /** A new SVID is in use (also the first one). */
  rotated: (svid: X509SvidInfo) => void;
  /** The trust bundle changed (CA rotation). */
  bundle: (bundle: { readonly pem: string }) => void;
  /** A renewal or bundle refresh failed; the current certificate stays in use until it expires. */
  error: (error: TesseraError) => void;
  /** The SVID expired without a successor: servers and clients now refuse to handshake. */
  expired: (svid: X509SvidInfo) => void;
}

type EventName = keyof WorkloadIdentityEvents;

const DEFAULT_BUNDLE_REFRESH_SECONDS = 300;
/**
 * A renegotiation could change the client certificate under a connection whose identity was
 * already read. `setSecureContext` resets every option it is not given, so it is passed each time.
 */
const NO_RENEGOTIATION = constants.SSL_OP_NO_RENEGOTIATION;
/** Renewal at half the lifetime, ± 5 % of it so a fleet started together spreads out. */
const RENEW_AT = 0.5;
const RENEW_JITTER = 0.1;
/** However short a certificate, renewals are at least this far apart. */
const MIN_RENEW_DELAY_MS = 1000;
/** setTimeout's limit; longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const silentInfo: WorkloadIdentityLogger = {
  info: () => undefined,
  warn: (fields, message) => {
    process.emitWarning(`${message} ${JSON.stringify(fields)}`, { code: 'TESSERA_IDENTITY' });
  },
};

function newKey(type: 'P-256' | 'Ed25519'): KeyObject {
  return type === 'P-256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
    : generateKeyPairSync('ed25519').privateKey;
}

interface Installed {
  readonly issued: IssuedSvid;
  readonly keyPem: string;
}

/**
 * A workload's X.509-SVID, obtained from the authority and kept current in-process: the key is
 * made in memory (a new one for every certificate) and never written; the certificate is renewed
 * at half its lifetime with jitter, retried with bounded exponential backoff; while the authority
 * is down the current certificate stays in use until it expires, after which servers and clients
 * built from this identity refuse to handshake rather than present an expired certificate. The
 * trust bundle comes with each certificate and is refreshed at the authority's hint, so CA
 * rotation reaches servers and clients without a restart.
 *
 * Create one with {@link createWorkloadIdentity}.
 */
export class WorkloadIdentity {
  readonly spiffeId: string;
  readonly trustDomain: string;
  readonly #options: WorkloadIdentityOptions;
  readonly #authorityUrl: URL;
  readonly #authorityId: string;
  readonly #authorityCa: string | undefined;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #logger: WorkloadIdentityLogger;
  readonly #listeners = new Map<EventName, Set<(value: never) => void>>();
  readonly #changeListeners = new Set<() => void>();
  readonly #authorityDispatcher: SpiffeDispatcher | undefined;
  #current: Installed | undefined;
  #bundle: TrustBundle | undefined;
  #expired = false;
  #failures = 0;
  #renewTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #bundleTimer: NodeJS.Timeout | undefined;
  #bundleRefreshSeconds = DEFAULT_BUNDLE_REFRESH_SECONDS;
  #closed = false;
  #ready: Promise<void>;
  #resolveReady: () => void = () => undefined;

  /** @internal Use {@link createWorkloadIdentity}. */
  constructor(options: WorkloadIdentityOptions) {
    this.#options = options;
    const id = parseWorkloadId(options.spiffeId);
    this.spiffeId = id.uri;
    this.trustDomain = id.trustDomain;
    this.#authorityUrl = assertSecureUrl(options.authority.url, 'authority.url');
    this.#authorityId =
      options.authority.spiffeId ?? serviceSpiffeId(id.trustDomain, 'tessera-authority');
    parseWorkloadId(this.#authorityId);
    const credentials = options.credentials as Partial<{ key: ClientKey; joinToken: string }>;
    if (credentials.key === undefined && typeof credentials.joinToken !== 'string')
      throw new TesseraError('ERR_CONFIG_INVALID', 'credentials: a key or a join token');
    const ttl = options.svidLifetimeSeconds;
    if (ttl !== undefined && (!Number.isSafeInteger(ttl) || ttl < 1))
      throw new TesseraError('ERR_CONFIG_INVALID', 'svidLifetimeSeconds: a positive integer');
    if (options.authority.ca !== undefined) {
      trustBundleFromPem(options.authority.ca);
      this.#authorityCa = options.authority.ca;
    }
    if (this.#authorityUrl.protocol === 'https:') {
      if (this.#authorityCa === undefined)
        throw new TesseraError('ERR_CONFIG_INVALID', 'authority.ca is required for https');
      this.#authorityDispatcher = new SpiffeDispatcher({
        source: this.#authoritySource(),
        expectedFor: (origin) =>
          origin === this.#authorityUrl.origin ? this.#authorityId : undefined,
        trustDomain: this.trustDomain,
        requireSvid: false,
      });
    }
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#logger = options.logger ?? silentInfo;
    this.#ready = new Promise((resolve) => {
      this.#resolveReady = resolve;
    });
  }

  /** Subscribes to an event; returns the function that unsubscribes. Listener errors are logged, never thrown. */
  on<E extends EventName>(event: E, listener: WorkloadIdentityEvents[E]): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    const entry = listener as (value: never) => void;
    set.add(entry);
    return () => set.delete(entry);
  }

  /** Resolves once the first SVID is in use. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /**
   * The SVID in use and the bundle, or `undefined` when there is none valid (not yet, or expired).
   * The private key is not part of it.
   */
  current(): { svid: X509SvidInfo; certificatePem: string; bundlePem: string } | undefined {
    const installed = this.#valid();
    if (installed === undefined || this.#bundle === undefined) return undefined;
    return {
      svid: installed.issued.info,
      certificatePem: installed.issued.chainPem,
      bundlePem: this.#bundle.pem,
    };
  }

  /**
   * Options for `https.createServer` or Fastify's `https`: the SVID and its key, client
   * certificates required and checked against the bundle only, TLS 1.2 or later. Pair with
   * {@link attachServer} so the server follows rotation. Throws `ERR_UNAVAILABLE` when there is
   * no valid SVID.
   */
  tlsServerOptions(): {
    key: string;
    cert: string;
    ca: string;
    requestCert: true;
    rejectUnauthorized: true;
    minVersion: 'TLSv1.2';
    secureOptions: number;
  } {
    const installed = this.#valid();
    if (installed === undefined || this.#bundle === undefined)
      throw new TesseraError('ERR_UNAVAILABLE', 'no valid X.509-SVID');
    return {
      key: installed.keyPem,
      cert: installed.issued.chainPem,
      ca: this.#bundle.pem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      secureOptions: NO_RENEGOTIATION,
    };
  }

  /**
   * Keeps a TLS server's certificate and trust current: sets its secure context now and after
   * every rotation, bundle change and expiry (`server.setSecureContext`). New handshakes use the new
   * certificate; open connections keep theirs. After expiry the context has no certificate, so
   * handshakes fail instead of presenting an expired one. Returns the function that detaches.
   */
  attachServer(server: { setSecureContext(options: SecureContextOptions): void }): () => void {
    const update = () => {
      const installed = this.#valid();
      const ca = this.#bundle?.pem;
      server.setSecureContext(
        installed === undefined || ca === undefined
          ? {
              minVersion: 'TLSv1.2',
              secureOptions: NO_RENEGOTIATION,
              ...(ca !== undefined ? { ca } : {}),
            }
          : {
              key: installed.keyPem,
              cert: installed.issued.chainPem,
              ca,
              minVersion: 'TLSv1.2',
              secureOptions: NO_RENEGOTIATION,
            },
      );
    };
    update();
    this.#changeListeners.add(update);
    return () => this.#changeListeners.delete(update);
  }

  /**
   * An undici dispatcher for mutual TLS: presents this SVID, trusts the bundle only, and accepts a
   * server only if its certificate's SPIFFE ID is `expectedServerId`, or the ID the service map
   * gives for the origin (an origin not in the map is refused). The host name is not what is
   * checked: a valid certificate of another service at the right address is refused
   * (`ERR_SVID_UNEXPECTED`). Without a valid SVID it refuses to connect (`ERR_UNAVAILABLE`).
   * Compose the interceptors onto it (`createServiceDispatcher({ agent })`) for bearer tokens too.
   */
  dispatcher(
    options: { readonly expectedServerId: string } | { readonly services: ServiceMap },
    agentOptions: Omit<Agent.Options, 'connect'> = {},
  ): Dispatcher {
    let expectedFor: (origin: string) => string | undefined;
    if ('expectedServerId' in options) {
      const expected = parseWorkloadId(options.expectedServerId).uri;
      expectedFor = () => expected;
    } else {
      const services = options.services;
      expectedFor = (origin) => services.get(origin)?.spiffeId;
    }
    return new SpiffeDispatcher({
      source: this.#workloadSource(),
      expectedFor,
      trustDomain: this.trustDomain,
      requireSvid: true,
      agentOptions,
    });
  }

  /**
   * A token source for this workload's access tokens (`private_key_jwt` with the credentials' key),
   * talking to the authority with the same trust as the SVID requests (over mTLS with the SVID when
   * the authority is https). Its cache starts afresh on every rotation, so a token bound to a
   * certificate (`cnf`) is never sent with the next one. Needs `credentials.key`. It also exchanges
   * tokens (RFC 8693, `exchangeToken`) with the same client authentication, so
   * `createServiceDispatcher({ delegate: true })` works over mTLS too.
   */
  tokenSource(
    options: Pick<
      TokenSourceOptions,
      'refreshAhead' | 'retryBaseMs' | 'retryMaxMs' | 'timeoutMs'
    > = {},
  ): TokenSource & TokenExchanger {
    const key = this.#options.credentials.key;
    if (key === undefined)
      throw new TesseraError('ERR_CONFIG_INVALID', 'tokenSource needs credentials.key');
    const dispatcher = this.#authorityDispatcher;
    const make = () =>
      new ClientCredentialsTokenSource({
        ...options,
        authorityUrl: this.#options.authority.url,
        clientId: this.spiffeId,
        key,
        clock: this.#clock,
        random: this.#random,
        ...(dispatcher !== undefined
          ? {
              fetch: ((input: string | URL, init?: RequestInit) =>
                undiciFetch(input, {
                  ...(init as Parameters<typeof undiciFetch>[1]),
                  dispatcher,
                })) as unknown as typeof fetch,
            }
          : {}),
      });
    let inner = make();
    let madeFor = this.#current;
    const current = () => {
      // Over mTLS a token may be bound to the certificate: none outlives its certificate.
      if (dispatcher !== undefined && madeFor !== this.#current) {
        inner = make();
        madeFor = this.#current;
      }
      return inner;
    };
    return {
      getToken: (audience, scopes) => current().getToken(audience, scopes),
      exchangeToken: (subjectToken, audience, scopes) =>
        current().exchangeToken(subjectToken, audience, scopes),
    };
  }

  /** Stops renewal and bundle refresh and closes the authority connections. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#renewTimer);
    clearTimeout(this.#expiryTimer);
    clearTimeout(this.#bundleTimer);
    this.#changeListeners.clear();
    await this.#authorityDispatcher?.close();
  }

  /** @internal Starts obtaining the first SVID; rejects if none arrives within the bound. */
  async start(): Promise<void> {
    const timeoutMs = this.#options.startTimeoutMs ?? 30_000;
    let lastError: unknown;
    const stopListening = this.on('error', (error) => (lastError = error));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        const last = isTesseraError(lastError) ? ` (last: ${lastError.code})` : '';
        reject(
          new TesseraError(
            'ERR_UNAVAILABLE',
            `no X.509-SVID from the authority within ${timeoutMs} ms${last}`,
            lastError === undefined ? undefined : { cause: lastError },
          ),
        );
      }, timeoutMs);
    });
    void this.#renew();
    try {
      await Promise.race([this.#ready, timedOut]);
    } finally {
      clearTimeout(timer);
      stopListening();
    }
  }

  /** Read through a method: the flag changes while a request is awaited. */
  #isClosed(): boolean {
    return this.#closed;
  }

  #valid(): Installed | undefined {
    const installed = this.#current;
    if (installed === undefined || this.#expired) return undefined;
    return this.#clock.now() < installed.issued.info.notAfter * 1000 ? installed : undefined;
  }

  #workloadSource(): ClientTlsSource {
    return {
      material: (): ClientTlsMaterial | TesseraError => {
        const installed = this.#valid();
        if (installed === undefined || this.#bundle === undefined) {
          this.#checkExpiry();
          return new TesseraError('ERR_UNAVAILABLE', 'no valid X.509-SVID; refusing to connect');
        }
        return { key: installed.keyPem, cert: installed.issued.chainPem, ca: this.#bundle.pem };
      },
      onChange: (listener) => {
        this.#changeListeners.add(listener);
        return () => this.#changeListeners.delete(listener);
      },
    };
  }

  /** Trust for the authority: the configured CA plus the current bundle; the SVID when valid. */
  #authoritySource(): ClientTlsSource {
    return {
      material: (): ClientTlsMaterial => {
        const ca = `${this.#authorityCa ?? ''}${this.#bundle?.pem ?? ''}`;
        const installed = this.#valid();
        return installed === undefined
          ? { ca }
          : { ca, key: installed.keyPem, cert: installed.issued.chainPem };
      },
      onChange: (listener) => {
        this.#changeListeners.add(listener);
        return () => this.#changeListeners.delete(listener);
      },
    };
  }

  #emit<E extends EventName>(event: E, value: Parameters<WorkloadIdentityEvents[E]>[0]): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      try {
        (listener as (value: unknown) => void)(value);
      } catch (error) {
        this.#logger.warn(
          { event, error: error instanceof Error ? error.message : 'non-error thrown' },
          'workload identity listener threw',
        );
      }
    }
  }

  #changed(): void {
    for (const listener of [...this.#changeListeners]) {
      try {
        listener();
      } catch (error) {
        this.#fail(
          isTesseraError(error)
            ? error
            : new TesseraError('ERR_INTERNAL', 'applying the new TLS material failed', {
                cause: error,
              }),
        );
      }
    }
  }

  #fail(error: TesseraError): void {
    this.#logger.warn(
      { code: error.code, detail: error.detail, spiffeId: this.spiffeId },
      'workload identity: renewal failed',
    );
    this.#emit('error', error);
  }

  #timer(delayMs: number, callback: () => void): NodeJS.Timeout {
    const timer = setTimeout(callback, Math.min(MAX_TIMER_MS, Math.max(0, delayMs)));
    timer.unref();
    return timer;
  }

  #fields(useSvid: boolean): Record<string, string> {
    if (useSvid) return {};
    const { key, joinToken } = this.#options.credentials;
    if (key !== undefined) {
      return {
        client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
        client_assertion: mintClientAssertion(
          { clientId: this.spiffeId, audience: this.#authorityUrl.href.replace(/\/$/, '') },
          { key: currentKey(key), clock: this.#clock },
        ),
      };
    }
    return { join_token: joinToken };
  }

  /**
   * One issuance. Renewal authenticates with the current SVID over mTLS when the authority is
   * https (the client assertion or join token otherwise, or if the authority refuses the SVID
   * and a key is configured).
   */
  async #obtain(): Promise<void> {
    const keyType = this.#options.keyType ?? 'P-256';
    const key = newKey(keyType);
    const csr = createCertificationRequest(key);
    const timeoutMs = this.#options.requestTimeoutMs ?? 5000;
    const dispatcher = this.#authorityDispatcher;
    const viaSvid = dispatcher !== undefined && this.#valid() !== undefined;
    const ask = (useSvid: boolean) =>
      requestSvid(
        this.#authorityUrl,
        {
          csr,
          ...(this.#options.svidLifetimeSeconds !== undefined
            ? { ttl: String(this.#options.svidLifetimeSeconds) }
            : {}),
          ...this.#fields(useSvid),
        },
        { timeoutMs, ...(dispatcher !== undefined ? { dispatcher } : {}) },
      );
    let answer;
    try {
      answer = await ask(viaSvid);
    } catch (error) {
      const retryWithKey =
        viaSvid &&
        this.#options.credentials.key !== undefined &&
        isTesseraError(error) &&
        error.code === 'ERR_CLIENT_AUTH';
      if (!retryWithKey) throw error;
      answer = await ask(false);
    }
    const bundle = trustBundleFromPem(answer.bundle);
    const issued = checkIssuedSvid(answer.svid, bundle, {
      spiffeId: this.spiffeId,
      trustDomain: this.trustDomain,
      key,
    });
    this.#install(issued, key);
  }

  #install(issued: IssuedSvid, key: KeyObject): void {
    if (this.#closed) return;
    this.#current = {
      issued,
      keyPem: key.export({ type: 'pkcs8', format: 'pem' }) as string,
    };
    this.#expired = false;
    const bundleChanged = this.#bundle?.fingerprints !== issued.bundle.fingerprints;
    this.#bundle = issued.bundle;
    const { info } = issued;
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = this.#timer(info.notAfter * 1000 - this.#clock.now(), () => {
      this.#checkExpiry();
    });
    this.#logger.info(
      { spiffeId: info.spiffeId.uri, serialNumber: info.serialNumber, notAfter: info.notAfter },
      'workload identity: X.509-SVID in use',
    );
    this.#changed();
    this.#emit('rotated', info);
    if (bundleChanged) this.#emit('bundle', { pem: issued.bundle.pem });
    this.#resolveReady();
    if (this.#bundleTimer === undefined) this.#scheduleBundleRefresh(0);
  }

  #checkExpiry(): void {
    const installed = this.#current;
    if (installed === undefined || this.#expired || this.#closed) return;
    const remainingMs = installed.issued.info.notAfter * 1000 - this.#clock.now();
    if (remainingMs > 0) {
      clearTimeout(this.#expiryTimer);
      this.#expiryTimer = this.#timer(remainingMs, () => {
        this.#checkExpiry();
      });
      return;
    }
    this.#expired = true;
    this.#logger.warn(
      { spiffeId: this.spiffeId, serialNumber: installed.issued.info.serialNumber },
      'workload identity: X.509-SVID expired without a successor; refusing TLS until renewed',
    );
    this.#changed();
    this.#emit('expired', installed.issued.info);
  }

  async #renew(): Promise<void> {
    if (this.#closed) return;
    clearTimeout(this.#renewTimer);
    try {
      await this.#obtain();
      this.#failures = 0;
      const { notBefore, notAfter } = this.#current?.issued.info ?? { notBefore: 0, notAfter: 0 };
      const fraction = RENEW_AT + RENEW_JITTER * (this.#random() - 0.5);
      const now = this.#clock.now();
      // Half the lifetime, but never before half of what is left: an authority backdates
      // notBefore for clock skew (60 s), and with a short lifetime the half-life point is already
      // past, which would renew again at once, in a loop.
      const renewAtMs = Math.max(
        (notBefore + (notAfter - notBefore) * fraction) * 1000,
        now + (notAfter * 1000 - now) * fraction,
        now + MIN_RENEW_DELAY_MS,
      );
      this.#renewTimer = this.#timer(renewAtMs - now, () => void this.#renew());
    } catch (error) {
      if (this.#isClosed()) return;
      this.#failures += 1;
      this.#fail(
        isTesseraError(error)
          ? error
          : new TesseraError('ERR_UNAVAILABLE', 'X.509-SVID request failed', { cause: error }),
      );
      const base = this.#options.retryBaseMs ?? 500;
      const cap = Math.min(this.#options.retryMaxMs ?? 30_000, base * 2 ** (this.#failures - 1));
      this.#renewTimer = this.#timer(cap * this.#random(), () => void this.#renew());
    }
  }

  #scheduleBundleRefresh(delayMs: number): void {
    clearTimeout(this.#bundleTimer);
    this.#bundleTimer = this.#timer(delayMs, () => void this.#refreshBundle());
  }

  async #refreshBundle(): Promise<void> {
    if (this.#closed) return;
    try {
      const dispatcher = this.#authorityDispatcher;
      const { bundle, refreshHintSeconds } = await fetchTrustBundle(this.#authorityUrl, {
        timeoutMs: this.#options.requestTimeoutMs ?? 5000,
        ...(dispatcher !== undefined ? { dispatcher } : {}),
      });
      if (refreshHintSeconds !== undefined) this.#bundleRefreshSeconds = refreshHintSeconds;
      if (this.#isClosed()) return;
      if (bundle.fingerprints !== this.#bundle?.fingerprints) {
        this.#bundle = bundle;
        this.#changed();
        this.#emit('bundle', { pem: bundle.pem });
      }
    } catch (error) {
      if (this.#isClosed()) return;
      this.#fail(
        isTesseraError(error)
          ? error
          : new TesseraError('ERR_UNAVAILABLE', 'trust bundle refresh failed', { cause: error }),
      );
    }
    // Jitter of up to 10 % so a fleet does not refresh in step.
    this.#scheduleBundleRefresh(this.#bundleRefreshSeconds * 1000 * (0.9 + 0.1 * this.#random()));
  }
}

/**
 * Makes this workload's key, obtains its first X.509-SVID from the authority and keeps it current;
 * resolves when the certificate is in use, rejects with `ERR_UNAVAILABLE` (its `cause` the last
 * failure) if none arrives within `startTimeoutMs`.
 *
 * @example
 * ```ts
 * const identity = await createWorkloadIdentity({
 *   authority: { url: 'https://127.0.0.1:7700', ca: await readFile('.tessera/bundle.pem', 'utf8') },
 *   spiffeId: 'spiffe://tessera.local/billing',
 *   credentials: { key },
 * });
 * const server = https.createServer(identity.tlsServerOptions(), handler);
 * identity.attachServer(server);
 * const agent = identity.dispatcher({ expectedServerId: 'spiffe://tessera.local/event-service' });
 * ```
 */
export async function createWorkloadIdentity(
  options: WorkloadIdentityOptions,
): Promise<WorkloadIdentity> {
  const identity = new WorkloadIdentity(options);
  try {
    await identity.start();
  } catch (error) {
    await identity.close();
    throw error;
  }
  return identity;
}
