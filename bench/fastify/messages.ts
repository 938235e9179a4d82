/**
 * What the bench runner, the Fastify server process (`server.ts`) and its load generator
 * (`load.ts`) say to each other over IPC.
 */

/** The apps under load, each in its own process, all with the same route and logger settings. */
export type Variant =
  'noauth' | 'protected' | 'delegated' | 'protected_minimal' | 'fastify_jwt' | 'uncached';

export const VARIANTS: readonly Variant[] = [
  'noauth',
  'protected',
  'delegated',
  'protected_minimal',
  'fastify_jwt',
  'uncached',
];

/** `start`'s answer: the variant's app is listening. */
export interface ServerStarted {
  readonly url: string;
  readonly issuer: string;
  /** The audience the app expects (the protected service's SPIFFE ID). */
  readonly audience: string;
  /** The caller's SPIFFE ID and the scopes the route requires. */
  readonly subject: string;
  readonly scopes: readonly string[];
  /**
   * For a delegated token to the same route: the user, its tenant, and the actor before
   * `subject` in the `act` chain (`subject` is the acting service, `act.sub`).
   */
  readonly delegation: {
    readonly user: string;
    readonly userIssuer: string;
    readonly tenant: string;
    readonly previousActor: string;
  };
}

/**
 * One process per variant, so one variant's process-wide state (the plugin's
 * AsyncLocalStorage, the JIT's type feedback) cannot slow another.
 */
export type ServerRequest =
  | {
      readonly type: 'start';
      readonly variant: Variant;
      /** PKCS #8 PEM of the ES256 key the app trusts (a bench fixture). */
      readonly privateKeyPem: string;
    }
  | { readonly type: 'ceiling'; readonly durationMs: number }
  | { readonly type: 'usage' }
  | { readonly type: 'close' };

/** `usage`'s answer: the app process's CPU time and the requests it received so far. */
export interface ServerUsage {
  /** `process.cpuUsage()`, user plus system, µs. */
  readonly cpuMicros: number;
  readonly served: number;
}

/** `ceiling`'s answer: raw ES256 verifies per second of one access token, on the server's CPU. */
export interface Ceiling {
  readonly opsPerSec: number;
}

/** `close`'s answer. */
export interface ServerClosed {
  /** Bytes the plugin's audit logger wrote to its file (0 without the plugin). */
  readonly auditBytes: number;
  /** What the apps logged at `warn` or above. */
  readonly warnLines: number;
  readonly lastWarnLine: string | undefined;
}

/** How requests are authorised in a load round. */
export type Credentials =
  | { readonly kind: 'none' }
  /** The same bearer token on every request. */
  | { readonly kind: 'fixed'; readonly token: string }
  /** A token never sent before on every request, minted before the round starts. */
  | {
      readonly kind: 'fresh';
      readonly privateKeyPem: string;
      readonly issuer: string;
      readonly subject: string;
      readonly audience: string;
      readonly scopes: readonly string[];
      readonly lifetimeSeconds: number;
      readonly count: number;
    };

/** One timed load round of GET requests against one URL. */
export interface GetRound {
  readonly type: 'load';
  readonly url: string;
  readonly connections: number;
  readonly durationMs: number;
  readonly credentials: Credentials;
  /**
   * Load runs this much longer, first, without counting: every connection of the round is new,
   * and over TLS its handshake would be measured with the requests (`fastify.tls`/`fastify.mtls`).
   */
  readonly settleMs?: number;
  /** For an `https:` URL: the client certificate (PEM) to present, if any (`fastify.mtls`). */
  readonly clientCertificate?: { readonly cert: string; readonly key: string };
}

export type FastifyLoadRequest = GetRound | { readonly type: 'close' };
