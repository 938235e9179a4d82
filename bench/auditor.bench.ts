/**
 * `auditor.audit_50k`: one `auditDirectory` of a generated platform of at least 50,000 lines of
 * TypeScript (`auditor/generate.ts`: about 45 Fastify services with routes, hooks, axios clients, JWT
 * checks, config and manifests, some of them vulnerable), against the baseline of merely reading
 * the same files and parsing them with `ts.createSourceFile`, so `ratio` says what the analysis
 * costs on top of parsing. The name is published (see bench/README.md): do not rename.
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
import { generateCodebase, type GeneratedCodebase } from './auditor/generate.ts';
import type {
  AuditorWorkerClosed,
  AuditorWorkerReady,
  AuditorWorkerRequest,
  AuditRun,
  ParseRun,
} from './auditor/messages.ts';
import { median, type LoadBenchmark, type Measurement, type RunOptions } from './harness.ts';

const SEED = 0x5eed;
const MIN_TYPESCRIPT_LINES = 50_000;
/** The target on the 2-core machine. */
const TARGET_MS = 15_000;
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

async function measure(options: Required<RunOptions>): Promise<Measurement> {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-bench-auditor-'));
  let worker: BenchChild<AuditorWorkerRequest> | undefined;
  try {
    const codebase = await generateCodebase(join(dir, 'platform'), {
      seed: SEED,
      minTypescriptLines: MIN_TYPESCRIPT_LINES,
    });
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
    const audit = async (): Promise<AuditRun> => {
      const run = await child.request<AuditRun>(
        { type: 'audit', root: codebase.root },
        RUN_TIMEOUT_MS,
      );
      checkRun(run, codebase);
      return run;
    };
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
    const cold = await audit();

    const rounds: number[] = [];
    const baselineRounds: number[] = [];
    const auditMs: number[] = [];
    const parseMs: number[] = [];
    for (let r = 0; r < options.rounds; r++) {
      const p = await parse();
      parseMs.push(p.ms);
      baselineRounds.push(1000 / p.ms);
      const a = await audit();
      auditMs.push(a.ms);
      rounds.push(1000 / a.ms);
    }
    const closed = await child.stop<AuditorWorkerClosed>({ type: 'close' }, STARTUP_TIMEOUT_MS);
    worker = undefined;
    if (closed === undefined) throw new Error('the auditor worker exited before reporting memory');

    const perAudit = median(auditMs);
    const perParse = median(parseMs);
    const linesPerSecond = Math.round(codebase.lines / (perAudit / 1000));
    const note =
      `${String(codebase.services)} services, ${String(codebase.files.length)} files, ` +
      `${String(codebase.lines)} lines (${String(codebase.typescriptLines)} TypeScript, seed ` +
      `0x${SEED.toString(16)}), one worker process (--expose-gc, not pinned); ` +
      `median ${perAudit.toFixed(0)} ms per audit = ${linesPerSecond.toLocaleString('en-US')} lines/s ` +
      `(first, cold audit ${cold.ms.toFixed(0)} ms); read+parse only ${perParse.toFixed(0)} ms, ` +
      `so an audit costs ${(perAudit / perParse).toFixed(2)}x parsing; ` +
      `peak RSS ${(closed.maxRssBytes / MiB).toFixed(0)} MiB ` +
      `(${(ready.rssBytes / MiB).toFixed(0)} MiB before the first run); ` +
      `target < ${String(TARGET_MS / 1000)} s per audit: ${perAudit < TARGET_MS ? 'met' : 'NOT met'}`;
    return { rounds, baselineRounds, latencies: auditMs, note };
  } finally {
    await worker?.stop({ type: 'close' }, STARTUP_TIMEOUT_MS).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

export const benchmarks: readonly LoadBenchmark[] = [
  {
    name: 'auditor.audit_50k',
    baseline: { name: 'ts.createSourceFile' },
    measure,
  },
];
