/**
 * `auditor.audit_50k`: one `auditDirectory` of a generated platform of at least 50,000 lines of
 * TypeScript (`auditor/generate.ts`: about 45 Fastify services with routes, hooks, axios clients, JWT
 * checks, config and manifests, some of them vulnerable), against the baseline of merely reading
 * the same files and parsing them with `ts.createSourceFile`, so `ratio` says what the analysis
 * costs on top of parsing. The name is published (see bench/README.md): do not rename.
 *
 * `auditor.monorepo_5`: one `auditRepository` of a generated monorepo of five big services and a
 * shared auth package each imports by its package name (one report per service), against the same
 * read-and-parse baseline of its files.
 *
 * Audits and parses run in one worker process (`auditor/worker.ts`, `--expose-gc`, a full
 * collection before each run) in alternating rounds (parse, audit, parse, …) after one warm-up
 * of each, so both see the same machine conditions; its peak resident memory is its
 * `process.resourceUsage().maxRSS`. The published line has no memory field, so lines per second,
 * the cold first audit and the peak RSS go to the note. `--duration` does not apply: a round is
 * one audit.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CATALOG } from '@tessera/auditor';
import { spawnBenchChild, type BenchChild } from './authority/child-process.ts';
import {
  generateCodebase,
  type GeneratedCodebase,
  type GenerateOptions,
} from './auditor/generate.ts';
import type {
  AuditorWorkerClosed,
  AuditorWorkerReady,
  AuditorWorkerRequest,
  AuditRun,
  ParseRun,
  RepositoryRun,
} from './auditor/messages.ts';
import { median, type LoadBenchmark, type Measurement, type RunOptions } from './harness.ts';

const SEED = 0x5eed;
const MIN_TYPESCRIPT_LINES = 50_000;
/** The target on the 2-core machine. */
const TARGET_MS = 15_000;
/** The monorepo benchmark: five services of about 10,000 lines each, the issue's < 20 s. */
const MONOREPO_SERVICES = 5;
const MONOREPO_RESOURCES = 40;
const MONOREPO_TARGET_MS = 20_000;
/** One run may take this long before the worker is killed; far above the target. */
const RUN_TIMEOUT_MS = 300_000;
const STARTUP_TIMEOUT_MS = 30_000;
const MiB = 1024 * 1024;

/** An audit that skipped files or checks measured less than the whole job: fail, do not publish. */
function checkRun(run: AuditRun, codebase: GeneratedCodebase): void {
  const problems: string[] = [];
  if (run.files !== codebase.files.length) {
    problems.push(`read ${String(run.files)} of ${String(codebase.files.length)} files`);
  }
  if (run.lines !== codebase.lines) {
    problems.push(`counted ${String(run.lines)} of ${String(codebase.lines)} lines`);
  }
  if (run.checks !== CATALOG.length) {
    problems.push(`reported ${String(run.checks)} of ${String(CATALOG.length)} checks`);
  }
  if (run.notes.length > 0) problems.push(`notes: ${run.notes.slice(0, 3).join(' | ')}`);
  if (problems.length > 0) throw new Error(`auditor.audit_50k: ${problems.join('; ')}`);
}

/** What differs between the auditor benchmarks: the codebase, the audit and the note. */
interface Variant {
  readonly name: string;
  readonly generate: GenerateOptions;
  readonly target: number;
  /** Runs one audit in the worker, checks it measured the whole job, returns its milliseconds. */
  readonly audit: (
    child: BenchChild<AuditorWorkerRequest>,
    codebase: GeneratedCodebase,
  ) => Promise<number>;
  /** What one audit covered, for the note. */
  readonly describe: (codebase: GeneratedCodebase) => string;
}

/** A repository audit must report every service, each with every check and no skipped file. */
function checkRepositoryRun(run: RepositoryRun, codebase: GeneratedCodebase): void {
  const problems: string[] = [];
  if (run.services.length !== codebase.services) {
    problems.push(
      `reported ${String(run.services.length)} of ${String(codebase.services)} services`,
    );
  }
  for (const service of run.services) {
    if (service.checks !== CATALOG.length) {
      problems.push(
        `${service.name}: ${String(service.checks)} of ${String(CATALOG.length)} checks`,
      );
    }
    if (service.notes.length > 0) problems.push(`${service.name}: ${service.notes[0] ?? ''}`);
  }
  if (problems.length > 0) throw new Error(`auditor.monorepo_5: ${problems.join('; ')}`);
}

async function measure(variant: Variant, options: Required<RunOptions>): Promise<Measurement> {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-bench-auditor-'));
  let worker: BenchChild<AuditorWorkerRequest> | undefined;
  try {
    const codebase = await generateCodebase(join(dir, 'platform'), variant.generate);
    const started = await spawnBenchChild<AuditorWorkerRequest>(
      new URL('./auditor/worker.ts', import.meta.url),
      {
        name: 'auditor worker',
        cpu: undefined,
        nodeArgs: ['--expose-gc'],
        readyTimeoutMs: STARTUP_TIMEOUT_MS,
      },
    );
    const child = started.child;
    worker = child;
    const ready = started.ready as AuditorWorkerReady;
    const parse = async (): Promise<ParseRun> => {
      const run = await child.request<ParseRun>(
        { type: 'parse', root: codebase.root, files: codebase.files },
        RUN_TIMEOUT_MS,
      );
      if (run.files !== codebase.files.length) throw new Error('baseline skipped files');
      return run;
    };

    // Warm-up, not measured: the JIT and the page cache. The first audit is what a CLI run pays.
    await parse();
    const coldMs = await variant.audit(child, codebase);

    const rounds: number[] = [];
    const baselineRounds: number[] = [];
    const auditMs: number[] = [];
    const parseMs: number[] = [];
    for (let r = 0; r < options.rounds; r++) {
      const p = await parse();
      parseMs.push(p.ms);
      baselineRounds.push(1000 / p.ms);
      const ms = await variant.audit(child, codebase);
      auditMs.push(ms);
      rounds.push(1000 / ms);
    }
    const closed = await child.stop<AuditorWorkerClosed>({ type: 'close' }, STARTUP_TIMEOUT_MS);
    worker = undefined;
    if (closed === undefined) throw new Error('the auditor worker exited before reporting memory');

    const perAudit = median(auditMs);
    const perParse = median(parseMs);
    const linesPerSecond = Math.round(codebase.lines / (perAudit / 1000));
    const note =
      `${variant.describe(codebase)}: ${String(codebase.files.length)} files, ` +
      `${String(codebase.lines)} lines (${String(codebase.typescriptLines)} TypeScript, seed ` +
      `0x${SEED.toString(16)}), one worker process (--expose-gc, not pinned); ` +
      `median ${perAudit.toFixed(0)} ms per audit = ${linesPerSecond.toLocaleString('en-US')} lines/s ` +
      `(first, cold audit ${coldMs.toFixed(0)} ms); read+parse only ${perParse.toFixed(0)} ms, ` +
      `so an audit costs ${(perAudit / perParse).toFixed(2)}x parsing; ` +
      `peak RSS ${(closed.maxRssBytes / MiB).toFixed(0)} MiB ` +
      `(${(ready.rssBytes / MiB).toFixed(0)} MiB before the first run); ` +
      `target < ${String(variant.target / 1000)} s per audit: ${perAudit < variant.target ? 'met' : 'NOT met'}`;
    return { rounds, baselineRounds, latencies: auditMs, note };
  } finally {
    await worker?.stop({ type: 'close' }, STARTUP_TIMEOUT_MS).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

/** `auditDirectory` of the whole platform as one codebase. */
const AUDIT_50K: Variant = {
  name: 'auditor.audit_50k',
  generate: { seed: SEED, minTypescriptLines: MIN_TYPESCRIPT_LINES },
  target: TARGET_MS,
  audit: async (child, codebase) => {
    const run = await child.request<AuditRun>(
      { type: 'audit', root: codebase.root },
      RUN_TIMEOUT_MS,
    );
    checkRun(run, codebase);
    return run.ms;
  },
  describe: (codebase) => `${String(codebase.services)} services audited as one`,
};

/**
 * `auditRepository` of a monorepo of five big services and a shared auth package every service
 * imports by name: one report per service, each over the service's files and the package.
 */
const MONOREPO_5: Variant = {
  name: 'auditor.monorepo_5',
  generate: {
    seed: SEED,
    services: MONOREPO_SERVICES,
    resourcesPerService: MONOREPO_RESOURCES,
    sharedAuthPackage: true,
  },
  target: MONOREPO_TARGET_MS,
  audit: async (child, codebase) => {
    const run = await child.request<RepositoryRun>(
      { type: 'audit-repository', root: codebase.root },
      RUN_TIMEOUT_MS,
    );
    checkRepositoryRun(run, codebase);
    return run.ms;
  },
  describe: (codebase) =>
    `${String(codebase.services)} services and a shared package, one report per service`,
};

export const benchmarks: readonly LoadBenchmark[] = [AUDIT_50K, MONOREPO_5].map((variant) => ({
  name: variant.name,
  baseline: { name: 'ts.createSourceFile' },
  measure: (options: Required<RunOptions>) => measure(variant, options),
}));
