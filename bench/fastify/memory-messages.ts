/**
 * What the bench runner and the protected service of `fastify.memory` (`memory-server.ts`) say
 * to each other over IPC. The load generator is `demo/load.ts`.
 */

export interface MemoryServerStart {
  readonly type: 'start';
  /** PKCS #8 PEM of the ES256 key the service trusts (a bench fixture). */
  readonly privateKeyPem: string;
  /** Service names of the callers the policy allows, each by name. */
  readonly callers: readonly string[];
}

export type MemoryServerRequest =
  MemoryServerStart | { readonly type: 'memory' } | { readonly type: 'close' };

/** `start`'s answer: the service is listening. */
export interface MemoryServerStarted {
  readonly url: string;
  readonly issuer: string;
  /** The audience the service expects (its SPIFFE ID). */
  readonly audience: string;
  readonly trustDomain: string;
  /** The scopes the route requires. */
  readonly scopes: readonly string[];
}

/** `memory`'s answer, read right after a full garbage collection (when `gc` is exposed). */
export interface MemorySample {
  /** Whether `global.gc()` ran first (the process runs with `--expose-gc`). */
  readonly collected: boolean;
  /** `process.memoryUsage()`, in bytes. */
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
  /**
   * Bytes V8 has committed to its young generation (`new_space`, `new_large_object_space`):
   * sized by the collector's own heuristics (it doubles a semi-space when survival is high),
   * part of RSS, and not memory any request holds.
   */
  readonly youngGeneration: number;
  /** What the verified-token cache holds, by its own accounting (bytes: token + 768 each). */
  readonly cacheEntries: number;
  readonly cacheBytes: number;
}

/** `close`'s answer. */
export interface MemoryServerClosed {
  /** Bytes the plugin's audit logger wrote to its file. */
  readonly auditBytes: number;
  /** What the app logged at `warn` or above. */
  readonly warnLines: number;
  readonly lastWarnLine: string | undefined;
}
