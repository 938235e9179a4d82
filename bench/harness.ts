/**
 * A small, dependency-free benchmark harness.
 *
 * Every function is measured in time-bounded rounds of timed batches. When a benchmark names a
 * baseline, baseline and candidate rounds alternate (B C B C …) so both see the same machine
 * conditions, and the reported figures are medians over rounds: a noisy neighbour that spoils one
 * round moves neither the medians nor their ratio much.
 *
 * A {@link LoadBenchmark} (an HTTP server loaded from another process) measures its own rounds;
 * the harness reduces them to the published line the same way.
 */

/** The code under test. A returned promise makes the function async; it is then awaited. */
export type BenchFn = () => unknown;

export interface Baseline {
  /** What the candidate is compared against, e.g. `crypto.verify`. */
  readonly name: string;
  readonly fn: BenchFn;
}

/** A function the harness calls in timed batches (see bench/README.md, "How the numbers are measured"). */
export interface TimedBenchmark {
  /** Dotted, stable name (`core.verify.cached`); `--only` matches on its prefix. */
  readonly name: string;
  readonly fn: BenchFn;
  readonly baseline?: Baseline;
  /** Runs once, before warm-up, only if the benchmark is selected: put costly fixtures here. */
  readonly setup?: () => unknown;
  /** For async functions (candidate and baseline alike): calls kept in flight. Default 1. */
  readonly concurrency?: number;
}

/**
 * What a {@link LoadBenchmark} measured. The harness turns it into the published line with the
 * same medians, percentiles and rounding as for timed benchmarks.
 */
export interface Measurement {
  /** Ops/s of each candidate round, in run order. */
  readonly rounds: readonly number[];
  /** Ops/s of each baseline round; required when the benchmark names a baseline. */
  readonly baselineRounds?: readonly number[];
  /** Latency of each measured call, in ms, over all rounds. */
  readonly latencies: readonly number[];
  /** How it was measured (processes, CPU pinning, load), for the summary on stderr. */
  readonly note?: string;
  /** CPU cores the candidate was given, and its baseline too: published as `cores`. */
  readonly cores?: number;
}

/**
 * A benchmark that drives load against a server in other processes (an HTTP endpoint under
 * autocannon) and measures itself: a batch-timing loop in this process would measure this
 * process, not the server.
 */
export interface LoadBenchmark {
  /** Dotted, stable name (`authority.client_credentials`); `--only` matches on its prefix. */
  readonly name: string;
  /** The baseline the measurement includes, named for the table and the published line. */
  readonly baseline?: { readonly name: string };
  /** Runs only if the benchmark is selected: starts, loads and stops whatever it needs. */
  readonly measure: (options: Required<RunOptions>) => Promise<Measurement>;
}

export type Benchmark = TimedBenchmark | LoadBenchmark;

/** One output line. Field names and order are the published format (see bench/README.md). */
export interface BenchResult {
  readonly name: string;
  readonly ops_per_s: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly baseline?: string;
  readonly baseline_ops_per_s?: number;
  readonly ratio?: number;
  /** Cores the candidate and its baseline each ran on, where a benchmark states it. */
  readonly cores?: number;
}

/** Everything measured, for the human table; {@link BenchReport.result} is the published line. */
export interface BenchReport {
  readonly result: BenchResult;
  /** Ops/s of each candidate round, in run order. */
  readonly rounds: readonly number[];
  readonly baselineRounds?: readonly number[];
  readonly batches: number;
  readonly async: boolean;
  /** How a load benchmark was measured; absent for timed benchmarks. */
  readonly note?: string;
}

export interface RunOptions {
  /** Measuring time per function, split evenly over the rounds. Warm-up comes on top. */
  readonly durationMs: number;
  /** Rounds per function; odd so the median is a measured value. Default 5. */
  readonly rounds?: number;
}

export const MIN_DURATION_MS = 10;
export const MAX_DURATION_MS = 60_000;
export const DEFAULT_DURATION_MS = 1000;
export const DEFAULT_ROUNDS = 5;
const MAX_CONCURRENCY = 1024;
// Bounds that hold however fast or slow the function is: a batch never grows past
// MAX_BATCH_OPS calls, a round never records more than MAX_BATCHES_PER_ROUND batches, and every
// loop also stops on time. A single call slower than a round still completes (one batch).
const MAX_BATCH_OPS = 1 << 22;
const MAX_BATCHES_PER_ROUND = 10_000;
// About this many batches per round gives p99 a few samples above it without timer overhead
// (~100 ns per read) showing in the batch times.
const BATCHES_PER_ROUND_TARGET = 200;

const now = (): number => performance.now();

// Results are stored here so the optimiser cannot prove a benchmarked call is dead code.
const sink: { value: unknown } = { value: undefined };

const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile, `p` in (0, 100]. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError('percentile of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[clamp(Math.ceil((p / 100) * sorted.length) - 1, 0, sorted.length - 1)]!;
}

/** Rounds to `digits` significant digits: more would only report noise. */
export function significant(x: number, digits: number): number {
  return x === 0 || !Number.isFinite(x) ? x : Number(x.toPrecision(digits));
}

/** Ops/s: whole numbers once they are large, three significant digits below 100. */
export function roundOps(x: number): number {
  return x >= 100 ? Math.round(x) : significant(x, 3);
}

interface Subject {
  readonly fn: BenchFn;
  readonly async: boolean;
  readonly concurrency: number;
  batchOps: number;
}

interface Round {
  readonly opsPerSec: number;
  /** Estimated per-call latency of each batch, in ms. */
  readonly latencies: number[];
}

function runSyncBatch(fn: BenchFn, n: number): number {
  const t0 = now();
  for (let i = 0; i < n; i++) sink.value = fn();
  return now() - t0;
}

async function runAsyncBatch(fn: BenchFn, n: number, concurrency: number): Promise<number> {
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < n) {
      started++;
      sink.value = await fn();
    }
  };
  const t0 = now();
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return now() - t0;
}

function runBatch(subject: Subject, n: number): number | Promise<number> {
  return subject.async
    ? runAsyncBatch(subject.fn, n, subject.concurrency)
    : runSyncBatch(subject.fn, n);
}

/**
 * Warms the function up and sizes its batches so one takes about `targetBatchMs`. The first call
 * also tells whether the function is async.
 */
async function prepare(
  fn: BenchFn,
  concurrency: number,
  warmupMs: number,
  targetBatchMs: number,
): Promise<Subject> {
  const first = fn();
  const async = isThenable(first);
  if (async) await first;
  const subject: Subject = { fn, async, concurrency, batchOps: async ? concurrency : 1 };
  const start = now();
  for (let i = 0; i < MAX_BATCHES_PER_ROUND && now() - start < warmupMs; i++) {
    const dt = await runBatch(subject, subject.batchOps);
    // Grow at most 8x per step so one lucky (too fast) batch cannot overshoot wildly.
    const scaled = Math.round((subject.batchOps * targetBatchMs) / Math.max(dt, 1e-3));
    subject.batchOps = clamp(
      scaled,
      async ? concurrency : 1,
      Math.min(subject.batchOps * 8, MAX_BATCH_OPS),
    );
  }
  return subject;
}

async function measureRound(subject: Subject, roundMs: number): Promise<Round> {
  const latencies: number[] = [];
  let ops = 0;
  let busy = 0;
  const start = now();
  while (latencies.length < MAX_BATCHES_PER_ROUND) {
    const n = subject.batchOps;
    const dt = await runBatch(subject, n);
    ops += n;
    busy += dt;
    // With c calls in flight each one takes about c times the batch's time per call
    // (Little's law); for sync functions c is 1.
    latencies.push((dt * Math.min(subject.async ? subject.concurrency : 1, n)) / n);
    if (now() - start >= roundMs) break;
  }
  return { opsPerSec: (ops * 1000) / Math.max(busy, 1e-6), latencies };
}

/** Collects garbage between rounds when node runs with --expose-gc, so a round pays only its own. */
function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc === 'function') gc();
}

export function validateBenchmarks(benchmarks: readonly Benchmark[]): void {
  const seen = new Set<string>();
  for (const b of benchmarks) {
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(b.name)) {
      throw new Error(`benchmark name ${JSON.stringify(b.name)} is not a dotted identifier`);
    }
    if (seen.has(b.name)) throw new Error(`benchmark name ${b.name} is used twice`);
    seen.add(b.name);
    if (b.baseline?.name === '') throw new Error(`benchmark ${b.name} has an unnamed baseline`);
    if ('measure' in b) continue;
    const c = b.concurrency;
    if (c !== undefined && !(Number.isInteger(c) && c >= 1 && c <= MAX_CONCURRENCY)) {
      throw new Error(
        `benchmark ${b.name}: concurrency must be an integer in 1..${MAX_CONCURRENCY}`,
      );
    }
  }
}

/** The published line and the report from per-round figures, rounded as bench/README.md says. */
function summarise(
  name: string,
  baselineName: string | undefined,
  measured: Measurement,
  async: boolean,
): BenchReport {
  const { rounds, baselineRounds, latencies, note, cores } = measured;
  const opsPerSec = median(rounds);
  let result: BenchResult = {
    name,
    ops_per_s: roundOps(opsPerSec),
    p50_ms: significant(percentile(latencies, 50), 4),
    p99_ms: significant(percentile(latencies, 99), 4),
  };
  if (baselineName !== undefined) {
    if (baselineRounds === undefined) throw new Error(`benchmark ${name}: no baseline rounds`);
    const baselineOpsPerSec = median(baselineRounds);
    result = {
      ...result,
      baseline: baselineName,
      baseline_ops_per_s: roundOps(baselineOpsPerSec),
      ratio: significant(opsPerSec / baselineOpsPerSec, 3),
    };
  }
  if (cores !== undefined) result = { ...result, cores };
  return {
    result,
    rounds,
    ...(baselineName === undefined ? {} : { baselineRounds }),
    batches: latencies.length,
    async,
    ...(note === undefined ? {} : { note }),
  };
}

/** Measures one benchmark (and its baseline, interleaved). Throws whatever the functions throw. */
export async function runBenchmark(bench: Benchmark, options: RunOptions): Promise<BenchReport> {
  const durationMs = clamp(options.durationMs, MIN_DURATION_MS, MAX_DURATION_MS);
  const rounds = Math.max(1, Math.floor(options.rounds ?? DEFAULT_ROUNDS));
  if ('measure' in bench) {
    return summarise(
      bench.name,
      bench.baseline?.name,
      await bench.measure({ durationMs, rounds }),
      true,
    );
  }
  const roundMs = durationMs / rounds;
  const warmupMs = clamp(durationMs / 4, 5, 1000);
  const targetBatchMs = clamp(roundMs / BATCHES_PER_ROUND_TARGET, 0.05, 20);
  const concurrency = bench.concurrency ?? 1;

  await bench.setup?.();
  const baseline =
    bench.baseline === undefined
      ? undefined
      : await prepare(bench.baseline.fn, concurrency, warmupMs, targetBatchMs);
  const candidate = await prepare(bench.fn, concurrency, warmupMs, targetBatchMs);
  if (concurrency > 1 && !candidate.async && baseline?.async !== true) {
    throw new Error(`benchmark ${bench.name}: concurrency needs an async fn`);
  }

  const candidateOps: number[] = [];
  const baselineOps: number[] = [];
  const latencies: number[] = [];
  for (let r = 0; r < rounds; r++) {
    if (baseline !== undefined) {
      collectGarbage();
      baselineOps.push((await measureRound(baseline, roundMs)).opsPerSec);
    }
    collectGarbage();
    const round = await measureRound(candidate, roundMs);
    candidateOps.push(round.opsPerSec);
    latencies.push(...round.latencies);
  }
  return summarise(
    bench.name,
    bench.baseline?.name,
    { rounds: candidateOps, baselineRounds: baselineOps, latencies },
    candidate.async,
  );
}

/** `--only` semantics: a plain prefix match on the name; no prefix selects everything. */
export function selectBenchmarks(
  benchmarks: readonly Benchmark[],
  prefix: string | undefined,
): Benchmark[] {
  return benchmarks.filter((b) => prefix === undefined || b.name.startsWith(prefix));
}
