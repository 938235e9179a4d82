/** What the `auditor.*` benchmarks and their worker process say to each other. */

export type AuditorWorkerRequest =
  | { readonly type: 'audit'; readonly root: string }
  | { readonly type: 'audit-repository'; readonly root: string }
  | { readonly type: 'parse'; readonly root: string; readonly files: readonly string[] }
  | { readonly type: 'close' };

export interface AuditorWorkerReady {
  /** Resident memory once the auditor is loaded, before any audit. */
  readonly rssBytes: number;
}

/** One `auditDirectory` of the generated codebase. */
export interface AuditRun {
  readonly ms: number;
  readonly files: number;
  readonly lines: number;
  readonly checks: number;
  readonly notes: readonly string[];
}

/** One `auditRepository` of a generated monorepo: one report per service. */
export interface RepositoryRun {
  readonly ms: number;
  readonly services: readonly {
    readonly name: string;
    readonly files: number;
    readonly checks: number;
    readonly notes: readonly string[];
  }[];
}

/** One read-and-parse of the same files, the baseline. */
export interface ParseRun {
  readonly ms: number;
  readonly files: number;
  readonly parsed: number;
}

export interface AuditorWorkerClosed {
  /** `process.resourceUsage().maxRSS`, in bytes: the worker's peak resident memory. */
  readonly maxRssBytes: number;
}
