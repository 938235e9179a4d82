/**
 * What the bench runner, the authority process (`server.ts`) and the load generator (`load.ts`)
 * say to each other over IPC.
 */
import { MAX_WORKERS } from '@tessera/authority';

/** The authority process's ready message. */
export interface AuthorityReady {
  readonly url: string;
  /** The issuer identifier: the `aud` client assertions carry. */
  readonly issuer: string;
  readonly adminToken: string;
  /** User access tokens of the stub OpenID issuer the authority trusts (subject tokens). */
  readonly userTokens: readonly string[];
  /** When the first of `userTokens` expires (epoch ms). */
  readonly userTokensValidUntilMs: number;
  /** The ticketing demo's users (`demo.chain`): a second stub issuer, its tokens for api-gateway. */
  readonly demoUsers: DemoUsers;
}

/** A stub of the demo's IdP: its issuer (JWKS at `${issuer}/jwks`), `aud`, and user tokens. */
export interface DemoUsers {
  readonly issuer: string;
  readonly audience: string;
  readonly tokens: readonly string[];
}

/**
 * The least signature work the authority does per request, measured raw on as many cores as the
 * authority has (one thread per worker):
 * `verify+sign` per token (the client assertion's ES256 verify, the token's ES256 sign),
 * `verify+verify` per introspection (the client assertion's and the introspected token's),
 * `sign` per X.509-SVID (ECDSA P-256 over a certificate-sized input),
 * `verify+verify+sign` per token exchange (the assertion's and the subject token's verify, the
 * delegated token's sign).
 */
export type CryptoWork = 'verify+sign' | 'verify+verify' | 'sign' | 'verify+verify+sign';

export type AuthorityRequest =
  | { readonly type: 'ceiling'; readonly work: CryptoWork; readonly durationMs: number }
  | { readonly type: 'close' };

/** `ceiling`'s answer. */
export interface Ceiling {
  /** Summed over the threads, which ran at the same time. */
  readonly opsPerSec: number;
  /** Threads that measured it: one per authority worker, so as many cores as the authority has. */
  readonly threads: number;
}

/** What `server.ts` asks each ceiling thread. */
export interface CeilingThreadRequest {
  readonly work: CryptoWork;
  readonly issuer: string;
  readonly durationMs: number;
}

/** `close`'s answer: what the authority logged at `error` or above while it ran. */
export interface AuthorityClosed {
  readonly errorLines: number;
  readonly lastErrorLine: string | undefined;
}

/** One timed load round against one endpoint. */
export interface LoadRound {
  readonly type: 'load';
  readonly url: string;
  readonly connections: number;
  readonly durationMs: number;
  /** Form fields every request carries besides `client_assertion(_type)` and `token`. */
  readonly fields: Readonly<Record<string, string>>;
  /** Cycled through as the `tokenField` field, one per request (introspection, token exchange). */
  readonly tokens?: readonly string[];
  /** The form field `tokens` go into (default `token`). */
  readonly tokenField?: string;
  /** The client whose fresh assertions sign every request, one per request. */
  readonly client: {
    readonly id: string;
    /** PKCS #8 PEM of the client's ES256 key. */
    readonly privateKeyPem: string;
    /** The authority's issuer, the assertions' `aud`. */
    readonly audience: string;
    readonly assertionLifetimeSeconds: number;
  };
  /** Assertions minted before the round starts; running out fails the round. */
  readonly assertions: number;
}

export type LoadRequest = LoadRound | { readonly type: 'close' };

/** A load round's outcome, counting only responses completed within `durationMs` of the start. */
export interface LoadResult {
  readonly completed2xx: number;
  /** Latency of each 2xx response in the window, in ms (autocannon's per-response timing). */
  readonly latencies: Float64Array;
  /** Responses by status code over the whole round, 2xx included. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Connection errors and timeouts, as autocannon reports them. */
  readonly errors: number;
  readonly timeouts: number;
  /** More requests were sent than assertions minted. */
  readonly exhausted: boolean;
  readonly mintMs: number;
}

/**
 * Authority processes under load (`TESSERA_BENCH_AUTHORITY_WORKERS`): 2 by default, one per core
 * of the 2-core machine the targets are set for; 1 for the single-process figure (then pinned).
 */
export function authorityWorkers(): number {
  const value = process.env.TESSERA_BENCH_AUTHORITY_WORKERS ?? '2';
  const workers = Number(value);
  if (!/^\d+$/.test(value) || workers < 1 || workers > MAX_WORKERS) {
    throw new Error(`TESSERA_BENCH_AUTHORITY_WORKERS must be 1..${MAX_WORKERS}, got "${value}"`);
  }
  return workers;
}
