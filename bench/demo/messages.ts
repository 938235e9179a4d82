/**
 * What the bench runner, the ticketing chain process (`chain.ts`) and the HTTP load generator
 * (`load.ts`) say to each other over IPC. The load generator is shared with `fastify.memory`.
 */

/**
 * The two chains under load, each in its own process: `tessera` is the demo's
 * api-gateway → event-service → billing with the plugin on every service and a token from the
 * authority on every call; `noauth` the same routes and payloads with no authentication at all.
 */
export type ChainVariant = 'noauth' | 'tessera';

/** Load order within a round: the baseline first, as for `fastify.*`. */
export const CHAIN_VARIANTS: readonly ChainVariant[] = ['noauth', 'tessera'];

/**
 * The ready message of a child that writes files: its temporary directory, which the runner
 * removes too, since a child killed on a timeout cannot.
 */
export interface ChildReady {
  readonly pid: number;
  readonly dir: string;
}

/** The authority the `tessera` chain registers its services with and gets its tokens from. */
export interface ChainAuthority {
  readonly url: string;
  readonly issuer: string;
  readonly adminToken: string;
  /** The users' issuer the gateway verifies (as the demo's gateway does its IdP's). */
  readonly demoUsers: { readonly issuer: string; readonly audience: string };
}

export type ChainRequest =
  | { readonly type: 'start'; readonly variant: 'noauth' }
  | { readonly type: 'start'; readonly variant: 'tessera'; readonly authority: ChainAuthority }
  | { readonly type: 'close' };

/** `start`'s answer: the three services are listening, each on its own loopback port. */
export interface ChainStarted {
  readonly gateway: string;
  readonly eventService: string;
  readonly billing: string;
  /** The trust domain of the demo's policy, for the SPIFFE IDs forged tokens name. */
  readonly trustDomain: string;
}

/** `close`'s answer. */
export interface ChainClosed {
  /** Bytes the three services' audit loggers wrote to their files (0 without the plugin). */
  readonly auditBytes: number;
  /** What the services logged at `warn` or above (an upstream failure is a warning). */
  readonly warnLines: number;
  readonly lastWarnLine: string | undefined;
}

/**
 * One load round of requests to one URL, ended by time (`durationMs`) or by count (`amount`,
 * then `durationMs` is only the time limit).
 */
export interface HttpLoadRound {
  readonly type: 'load';
  readonly url: string;
  readonly method: 'GET' | 'POST';
  /** A JSON body sent with every request. */
  readonly body?: string;
  /** `authorization` header values, used in turn, request by request; none when absent. */
  readonly authorizations?: readonly string[];
  readonly connections: number;
  readonly durationMs: number;
  /** Stop after this many requests instead of after `durationMs`. */
  readonly amount?: number;
  /** Requests per second over all connections; unlimited when absent. */
  readonly overallRate?: number;
}

export type HttpLoadRequest = HttpLoadRound | { readonly type: 'close' };

/** A load round's outcome. By time: only responses within `durationMs` count; by count: all. */
export interface HttpLoadResult {
  readonly completed2xx: number;
  /** Latency of each counted 2xx response, in ms (autocannon's per-response timing). */
  readonly latencies: Float64Array;
  /** Responses by status code over the whole round, 2xx included. */
  readonly statuses: Readonly<Record<string, number>>;
  readonly errors: number;
  readonly timeouts: number;
  /** Time from the first request to the last counted response (the window, when by time). */
  readonly elapsedMs: number;
}
