/**
 * The authority under load, run as its own process (`spawnBenchChild`): a dev-mode authority with
 * SQLite in a temporary directory, as a cluster of `authorityWorkers()` processes (or, with one,
 * in this process, pinned to one CPU), logging at `warn` into a counting sink so no per-request
 * line is written. Between load rounds this process measures the raw signature work every
 * request needs at least, on as many threads as there are workers: the benchmark's baseline.
 */
import cluster from 'node:cluster';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createAuthorityLogger,
  isAuthorityWorker,
  prepareDevMode,
  runAuthorityWorker,
  startAuthority,
  startAuthorityCluster,
} from '@tessera/authority';
import { freePort } from '@tessera/authority/testing';
import { Worker } from 'node:worker_threads';
import { serveParent } from './child-process.ts';
import {
  authorityWorkers,
  type AuthorityClosed,
  type AuthorityReady,
  type AuthorityRequest,
  type Ceiling,
  type CeilingThreadRequest,
} from './messages.ts';

const AUTHORITY_WORKERS = authorityWorkers();

/**
 * A ceiling thread. Node 20 does not run a worker thread's `.ts` entry through the loader the
 * process was started with (`--import tsx`), so the thread registers tsx before importing it.
 */
function startCeilingThread(): Worker {
  const entry = new URL('./ceiling-thread.ts', import.meta.url).href;
  return new Worker(
    `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`,
    { eval: true },
  );
}

let ceilingThreads: Worker[] | undefined;

/**
 * The baseline: the raw work on one thread per authority worker, all at once and while no load
 * runs, so the authority and its baseline are given the same number of cores.
 */
async function measureCeiling(request: CeilingThreadRequest): Promise<Ceiling> {
  ceilingThreads ??= Array.from({ length: AUTHORITY_WORKERS }, startCeilingThread);
  const rates = await Promise.all(
    ceilingThreads.map(async (thread) => {
      const answer = once(thread, 'message') as Promise<[number]>;
      thread.postMessage(request);
      return (await answer)[0];
    }),
  );
  return { opsPerSec: rates.reduce((sum, rate) => sum + rate, 0), threads: rates.length };
}

/** pino levels: 50 error, 60 fatal. Warnings (refused forged requests) are expected. */
const isErrorLine = (line: string) => /"level":[56]0/.test(line);

if (isAuthorityWorker()) {
  // A cluster worker: its error lines go to the primary, which reports them at close.
  await runAuthorityWorker({
    logger: createAuthorityLogger({
      level: 'warn',
      destination: {
        write(line: string) {
          if (isErrorLine(line)) process.send?.({ type: 'bench:error-line', line });
        },
      },
    }),
  });
} else {
  await servePrimary();
}

async function servePrimary(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tessera-bench-authority-'));
  const { config, adminTokenPath } = await prepareDevMode({
    dataDir,
    listen: { host: '127.0.0.1', port: await freePort() },
  });
  let errorLines = 0;
  let lastErrorLine: string | undefined;
  const countError = (line: string) => {
    errorLines++;
    lastErrorLine = line;
  };
  cluster.on('message', (_worker, message: { type?: unknown; line?: unknown }) => {
    if (message.type === 'bench:error-line' && typeof message.line === 'string') {
      countError(message.line);
    }
  });
  const logger = createAuthorityLogger({
    level: 'warn',
    destination: {
      write(line: string) {
        if (isErrorLine(line)) countError(line);
      },
    },
  });
  const running =
    AUTHORITY_WORKERS > 1
      ? await startAuthorityCluster(config, { workers: AUTHORITY_WORKERS, logger })
      : await startAuthority(config, { logger });
  const ready: AuthorityReady = {
    url: running.url,
    issuer: config.issuer,
    adminToken: (await readFile(adminTokenPath, 'utf8')).trim(),
  };

  serveParent<AuthorityRequest>(
    ready,
    async (request): Promise<Ceiling | AuthorityClosed> => {
      if (request.type === 'ceiling') {
        return measureCeiling({
          work: request.work,
          issuer: config.issuer,
          durationMs: request.durationMs,
        });
      }
      await Promise.all((ceilingThreads ?? []).map((thread) => thread.terminate()));
      await running.close();
      await rm(dataDir, { recursive: true, force: true });
      return { errorLines, lastErrorLine };
    },
    (request) => request.type === 'close',
  );
}
