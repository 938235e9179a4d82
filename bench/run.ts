/**
 * Benchmark runner: `npm run -s bench -- [--json] [--only <prefix>] [--duration <ms>]`.
 *
 * With --json, stdout carries exactly one JSON object per line per benchmark and nothing else;
 * everything meant for people (errors, notes) goes to stderr.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';

import type { Benchmark, BenchReport } from './harness.ts';
import {
  DEFAULT_DURATION_MS,
  DEFAULT_ROUNDS,
  MAX_DURATION_MS,
  MIN_DURATION_MS,
  median,
  runBenchmark,
  selectBenchmarks,
  validateBenchmarks,
} from './harness.ts';
import { benchmarks } from './index.ts';

const USAGE = `usage: npm run -s bench -- [--json] [--only <prefix>] [--duration <ms>]

  --json             one JSON object per benchmark per line on stdout, nothing else
  --only <prefix>    run only benchmarks whose name starts with <prefix>
  --duration <ms>    measuring time per function (${MIN_DURATION_MS}..${MAX_DURATION_MS}, default ${DEFAULT_DURATION_MS})
  --help             this text
`;

// Rounds whose ops/s spread wider than this (relative to the median) make the summary warn.
const NOISY_SPREAD = 0.1;

interface Cli {
  readonly json: boolean;
  readonly only: string | undefined;
  readonly durationMs: number;
  readonly help: boolean;
}

class UsageError extends Error {}

function parseCli(argv: readonly string[]): Cli {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        json: { type: 'boolean', default: false },
        only: { type: 'string' },
        duration: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  let durationMs = DEFAULT_DURATION_MS;
  if (values.duration !== undefined) {
    // Strict digits: Number() would accept '', '1e3' and '0x10', parseInt would accept '10ms'.
    if (!/^\d{1,6}$/.test(values.duration)) {
      throw new UsageError(`--duration must be a whole number of milliseconds`);
    }
    durationMs = Number(values.duration);
    if (durationMs < MIN_DURATION_MS || durationMs > MAX_DURATION_MS) {
      throw new UsageError(`--duration must be within ${MIN_DURATION_MS}..${MAX_DURATION_MS} ms`);
    }
  }
  return { json: values.json, only: values.only, durationMs, help: values.help };
}

function formatOps(x: number): string {
  return x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toPrecision(3);
}

function formatMs(ms: number): string {
  if (ms < 1e-3) return `${(ms * 1e6).toPrecision(3)} ns`;
  if (ms < 1) return `${(ms * 1e3).toPrecision(3)} µs`;
  if (ms < 1000) return `${ms.toPrecision(3)} ms`;
  return `${(ms / 1000).toPrecision(3)} s`;
}

/** (max - min) / median of the candidate's per-round ops/s. */
function spread(rounds: readonly number[]): number {
  return (Math.max(...rounds) - Math.min(...rounds)) / median(rounds);
}

class Table {
  private readonly widths: readonly number[];

  constructor(selected: readonly Benchmark[]) {
    const nameWidth = Math.max(4, ...selected.map((b) => b.name.length));
    const baselineWidth = Math.max(8, ...selected.map((b) => b.baseline?.name.length ?? 0));
    this.widths = [nameWidth, 13, 10, 10, 7, baselineWidth, 13, 8];
  }

  header(): string {
    const cells = ['name', 'ops/s', 'p50', 'p99', 'spread', 'baseline', 'baseline ops/s', 'ratio'];
    const line = this.row(cells);
    return `${line}\n${'-'.repeat(line.length)}`;
  }

  report(r: BenchReport): string {
    const { result } = r;
    return this.row([
      result.name,
      formatOps(result.ops_per_s),
      formatMs(result.p50_ms),
      formatMs(result.p99_ms),
      `${(spread(r.rounds) * 100).toFixed(1)}%`,
      result.baseline ?? '',
      result.baseline_ops_per_s === undefined ? '' : formatOps(result.baseline_ops_per_s),
      result.ratio === undefined ? '' : `${result.ratio}x`,
    ]);
  }

  private row(cells: readonly string[]): string {
    return cells
      .map((cell, i) => {
        const width = this.widths[i] ?? 0;
        // Names are text (left-aligned); figures line up on the right.
        return i === 0 || i === 5 ? cell.padEnd(width) : cell.padStart(width);
      })
      .join('  ')
      .trimEnd();
  }
}

function summary(
  reports: readonly BenchReport[],
  failed: readonly string[],
  cli: Cli,
  elapsedMs: number,
): string {
  const withBaseline = reports.filter((r) => r.result.baseline !== undefined).length;
  const cpus = os.cpus();
  const gc = typeof (globalThis as { gc?: unknown }).gc === 'function';
  const lines = [
    `${reports.length} benchmark(s) measured (${withBaseline} against a baseline) in ` +
      `${(elapsedMs / 1000).toFixed(1)} s` +
      (failed.length > 0 ? `; ${failed.length} FAILED: ${failed.join(', ')}` : ''),
    `method: ${cli.durationMs} ms measured per function over ${DEFAULT_ROUNDS} rounds after a warm-up; ` +
      `baseline and candidate rounds interleaved; ops/s and ratio from per-round medians; ` +
      `p50/p99 from per-batch latency estimates` +
      (gc ? '; gc between rounds' : ''),
    `machine: node ${process.version}, ${process.platform} ${process.arch}, ` +
      `${cpus.length} x ${cpus[0]?.model.trim() ?? 'unknown cpu'}, ` +
      `load average ${os.loadavg()[0]?.toFixed(2) ?? '?'} (1 min)`,
  ];
  for (const r of reports) {
    if (r.note !== undefined) lines.push(`${r.result.name}: ${r.note}`);
  }
  for (const r of reports) {
    const s = spread(r.rounds);
    if (s > NOISY_SPREAD) {
      lines.push(
        `noisy: ${r.result.name} rounds spread ${(s * 100).toFixed(0)}%; ` +
          `rerun on a quieter machine or raise --duration`,
      );
    }
  }
  return lines.join('\n');
}

async function main(): Promise<number> {
  let cli: Cli;
  try {
    cli = parseCli(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`bench: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (cli.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (cli.json) {
    // Keeps stdout machine-readable even if benchmarked code logs.
    console.log = console.error;
    console.info = console.error;
    console.debug = console.error;
  }

  validateBenchmarks(benchmarks);
  const selected = selectBenchmarks(benchmarks, cli.only);
  if (selected.length === 0) {
    if (!cli.json)
      console.error(`bench: no benchmark name starts with ${JSON.stringify(cli.only)}`);
    return 0;
  }

  const table = new Table(selected);
  if (!cli.json) process.stdout.write(`${table.header()}\n`);
  const started = performance.now();
  const reports: BenchReport[] = [];
  const failed: string[] = [];
  for (const bench of selected) {
    try {
      const report = await runBenchmark(bench, { durationMs: cli.durationMs });
      reports.push(report);
      process.stdout.write(`${cli.json ? JSON.stringify(report.result) : table.report(report)}\n`);
    } catch (err) {
      failed.push(bench.name);
      console.error(`bench: ${bench.name} failed:`, err);
    }
  }
  if (!cli.json) {
    console.error(`\n${summary(reports, failed, cli, performance.now() - started)}`);
  }
  return failed.length > 0 ? 1 : 0;
}

process.exitCode = await main();
