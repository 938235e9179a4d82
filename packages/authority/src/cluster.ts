import cluster, { type Worker } from 'node:cluster';
import { TesseraError } from '@tessera/core';
import type { FastifyBaseLogger } from 'fastify';
import { AggregatorRegistry, type PrometheusContentType } from 'prom-client';
import { configDocument, MAX_WORKERS, validateConfig, type AuthorityConfig } from './config.ts';
import type { AuthorityPeers } from './context.ts';
import { initialiseAuthorityStore, startAuthority } from './start.ts';

/**
 * Cluster mode: one primary process and `workers` authority processes on one machine, sharing
 * the listening socket and the store. Every worker is a full authority instance, as several
 * instances on one PostgreSQL store already are; the primary only starts them, relays "shared
 * state changed" between them, and sums their metrics. It never sees a request.
 */

/** The config for a worker travels in its environment: paths and settings, never a secret. */
const CONFIG_ENV = 'TESSERA_AUTHORITY_WORKER_CONFIG';
const READY_TIMEOUT_MS = 30_000;
/** How long a change waits for the other workers to re-read shared state. */
const REFRESH_TIMEOUT_MS = 5000;
/** How long workers get to finish their requests at shutdown before they are killed. */
const STOP_TIMEOUT_MS = 10_000;

type ToPrimary =
  | { readonly type: 'tessera:ready'; readonly url: string }
  | { readonly type: 'tessera:changed'; readonly id: number }
  | { readonly type: 'tessera:refreshed'; readonly id: number }
  | { readonly type: 'tessera:metrics'; readonly id: number };

type ToWorker =
  | { readonly type: 'tessera:refresh'; readonly id: number }
  | { readonly type: 'tessera:changed-done'; readonly id: number; readonly complete: boolean }
  | {
      readonly type: 'tessera:metrics-done';
      readonly id: number;
      readonly text?: string;
      readonly error?: string;
    }
  | { readonly type: 'tessera:stop' };

function hasTesseraType(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { type?: unknown }).type === 'string' &&
    (value as { type: string }).type.startsWith('tessera:')
  );
}

const isFromWorker = (value: unknown): value is ToPrimary => hasTesseraType(value);
const isFromPrimary = (value: unknown): value is ToWorker => hasTesseraType(value);

/** True in a process the cluster primary started as an authority worker. */
export function isAuthorityWorker(): boolean {
  return cluster.isWorker && process.env[CONFIG_ENV] !== undefined;
}

export interface RunningCluster {
  /** The URL every worker serves. */
  readonly url: string;
  readonly workers: number;
  /**
   * Settles when the cluster has stopped: resolves after `close()`, rejects when a worker died
   * unexpectedly (the others are stopped first). Run the authority under a supervisor that
   * restarts it.
   */
  readonly stopped: Promise<void>;
  /** Stops every worker (each finishes its requests), then resolves. */
  close(): Promise<void>;
}

function exitReason(code: number | null, signal: string | null): string {
  return signal === null ? `exit code ${String(code)}` : `signal ${signal}`;
}

/**
 * Starts `workers` authority processes (Node's `cluster`, sharing one listening socket) from
 * the primary. The store is migrated and the signing keys initialised here first, so workers
 * never race to create them. Each worker re-runs the primary's entry script: that script must
 * call {@link runAuthorityWorker} when {@link isAuthorityWorker} is true.
 *
 * @example
 * ```ts
 * if (isAuthorityWorker()) await runAuthorityWorker({ logger });
 * else {
 *   const running = await startAuthorityCluster(config, { workers: 2, logger });
 *   process.once('SIGTERM', () => void running.close());
 *   await running.stopped;
 * }
 * ```
 */
export async function startAuthorityCluster(
  config: AuthorityConfig,
  deps: { readonly workers: number; readonly logger: FastifyBaseLogger },
): Promise<RunningCluster> {
  const { workers, logger } = deps;
  if (!cluster.isPrimary) throw new TesseraError('ERR_CONFIG_INVALID', 'not the cluster primary');
  if (!Number.isSafeInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
    throw new TesseraError('ERR_CONFIG_INVALID', `workers must be 1..${MAX_WORKERS}`);
  }
  await initialiseAuthorityStore(config, { logger });
  const workerConfig = JSON.stringify({ document: configDocument(config), dev: config.dev });

  const aggregator = new AggregatorRegistry();
  const live = new Set<Worker>();
  let settle: { resolve: () => void; reject: (error: Error) => void } | undefined;
  const stopped = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  // Whoever starts the cluster may await `stopped` late; an early failure is still reported.
  stopped.catch(() => undefined);

  /** Changes waiting for the other workers, by an id of the primary's own. */
  const refreshes = new Map<
    number,
    { origin: Worker; originId: number; waiting: Set<Worker>; timer: NodeJS.Timeout }
  >();
  let nextRefresh = 0;
  const sendTo = (worker: Worker, message: ToWorker) => {
    if (worker.isConnected()) worker.send(message);
  };
  const finishRefresh = (id: number, complete: boolean) => {
    const refresh = refreshes.get(id);
    if (refresh === undefined) return;
    refreshes.delete(id);
    clearTimeout(refresh.timer);
    if (!complete) logger.warn('a worker did not confirm a shared change in time');
    sendTo(refresh.origin, { type: 'tessera:changed-done', id: refresh.originId, complete });
  };

  const onMessage = (worker: Worker, message: ToPrimary) => {
    switch (message.type) {
      case 'tessera:changed': {
        const id = nextRefresh++;
        const waiting = new Set([...live].filter((w) => w !== worker));
        const timer = setTimeout(() => {
          finishRefresh(id, false);
        }, REFRESH_TIMEOUT_MS);
        refreshes.set(id, { origin: worker, originId: message.id, waiting, timer });
        for (const other of waiting) sendTo(other, { type: 'tessera:refresh', id });
        if (waiting.size === 0) finishRefresh(id, true);
        break;
      }
      case 'tessera:refreshed': {
        const refresh = refreshes.get(message.id);
        refresh?.waiting.delete(worker);
        if (refresh?.waiting.size === 0) finishRefresh(message.id, true);
        break;
      }
      case 'tessera:metrics':
        aggregator.clusterMetrics().then(
          (text) => {
            sendTo(worker, { type: 'tessera:metrics-done', id: message.id, text });
          },
          (error: unknown) => {
            const detail = error instanceof Error ? error.message : 'unknown error';
            sendTo(worker, { type: 'tessera:metrics-done', id: message.id, error: detail });
          },
        );
        break;
      case 'tessera:ready':
        break;
    }
  };

  let stoppingAll: Promise<void> | undefined;
  /** Stops every worker (once, however often it is called). */
  const stopAll = (): Promise<void> => (stoppingAll ??= stopWorkers());
  const stopWorkers = async (): Promise<void> => {
    const exits = [...live].map(
      (worker) =>
        new Promise<void>((resolve) => {
          if (worker.isDead()) {
            resolve();
            return;
          }
          const kill = setTimeout(() => worker.process.kill('SIGKILL'), STOP_TIMEOUT_MS);
          worker.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          sendTo(worker, { type: 'tessera:stop' });
        }),
    );
    await Promise.all(exits);
  };

  const fork = (): Promise<{ worker: Worker; url: string }> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork({ [CONFIG_ENV]: workerConfig });
      live.add(worker);
      const timer = setTimeout(() => {
        reject(new TesseraError('ERR_UNAVAILABLE', 'an authority worker did not start in time'));
      }, READY_TIMEOUT_MS);
      worker.on('message', (message: unknown) => {
        if (!isFromWorker(message)) return;
        if (message.type === 'tessera:ready') {
          clearTimeout(timer);
          resolve({ worker, url: message.url });
        } else onMessage(worker, message);
      });
      worker.once('exit', (code, signal) => {
        clearTimeout(timer);
        live.delete(worker);
        for (const [id, refresh] of refreshes) {
          refresh.waiting.delete(worker);
          if (refresh.waiting.size === 0) finishRefresh(id, true);
        }
        const reason = exitReason(code, signal);
        reject(
          new TesseraError(
            'ERR_UNAVAILABLE',
            `an authority worker stopped while starting (${reason})`,
          ),
        );
        // Stopping on purpose: close(), a failed start, or another worker's death.
        if (stoppingAll !== undefined) return;
        logger.error(
          { worker: worker.id, code, signal },
          'authority worker died; stopping the cluster',
        );
        void stopAll().then(() => {
          settle?.reject(
            new TesseraError('ERR_UNAVAILABLE', `authority worker ${worker.id} died (${reason})`),
          );
        });
      });
    });

  let started: { worker: Worker; url: string }[];
  try {
    started = await Promise.all(Array.from({ length: workers }, fork));
  } catch (error) {
    await stopAll();
    throw error;
  }
  const url = started[0]?.url ?? '';
  logger.info({ workers, url }, 'authority cluster started');
  return {
    url,
    workers,
    stopped,
    async close() {
      await stopAll();
      // After a worker died, `stopped` has rejected already and close() reports that.
      settle?.resolve();
      await stopped;
    },
  };
}

/** The worker's side of the cluster: its link to the primary. */
class PrimaryLink implements AuthorityPeers {
  #nextId = 0;
  readonly #pending = new Map<number, (message: ToWorker) => void>();
  #refresh: (() => Promise<void>) | undefined;
  /** A refresh running, and whether another was asked for meanwhile (coalesced into one). */
  #refreshing: Promise<void> | undefined;
  #refreshAgain = false;

  constructor(
    private readonly logger: FastifyBaseLogger,
    onStop: () => void,
  ) {
    process.on('message', (message: unknown) => {
      if (!isFromPrimary(message)) return;
      switch (message.type) {
        case 'tessera:refresh':
          void this.#runRefresh().finally(() => {
            this.#send({ type: 'tessera:refreshed', id: message.id });
          });
          break;
        case 'tessera:changed-done':
        case 'tessera:metrics-done':
          this.#pending.get(message.id)?.(message);
          this.#pending.delete(message.id);
          break;
        case 'tessera:stop':
          onStop();
          break;
      }
    });
  }

  /** What to run when another worker changed shared state. */
  onRefresh(refresh: () => Promise<void>): void {
    this.#refresh = refresh;
  }

  async changed(): Promise<void> {
    const done = await this.#request((id) => ({ type: 'tessera:changed', id }));
    if (done.type === 'tessera:changed-done' && !done.complete) {
      this.logger.warn('a change may reach some workers only at their next poll');
    }
  }

  async metrics(): Promise<string> {
    const done = await this.#request((id) => ({ type: 'tessera:metrics', id }));
    if (done.type !== 'tessera:metrics-done' || done.text === undefined) {
      throw new TesseraError(
        'ERR_UNAVAILABLE',
        `cluster metrics: ${done.type === 'tessera:metrics-done' ? (done.error ?? 'no answer') : 'no answer'}`,
      );
    }
    return done.text;
  }

  ready(url: string): void {
    this.#send({ type: 'tessera:ready', url });
  }

  #request(build: (id: number) => ToPrimary): Promise<ToWorker> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.#send(build(id));
    });
  }

  #send(message: ToPrimary): void {
    process.send?.(message);
  }

  /** Whether a refresh was asked for while the last one ran (read after an await). */
  #askedAgain(): boolean {
    return this.#refreshAgain;
  }

  /** Refreshes run one at a time; requests arriving meanwhile share the next one. */
  async #runRefresh(): Promise<void> {
    if (this.#refreshing !== undefined) {
      this.#refreshAgain = true;
      await this.#refreshing;
      return;
    }
    this.#refreshing = (async () => {
      do {
        this.#refreshAgain = false;
        try {
          await this.#refresh?.();
        } catch (err) {
          this.logger.error({ err }, 'refreshing shared state failed');
        }
      } while (this.#askedAgain());
    })();
    try {
      await this.#refreshing;
    } finally {
      this.#refreshing = undefined;
    }
  }
}

let workerAggregator: AggregatorRegistry<PrometheusContentType> | undefined;

/**
 * Runs this process as one worker of {@link startAuthorityCluster}: reads the config the
 * primary passed, starts a full authority, and stays up until the primary stops it (or a
 * SIGINT/SIGTERM reaches this process).
 */
export async function runAuthorityWorker(deps: {
  readonly logger: FastifyBaseLogger;
}): Promise<void> {
  const passed = process.env[CONFIG_ENV];
  if (!isAuthorityWorker() || passed === undefined) {
    throw new TesseraError('ERR_CONFIG_INVALID', 'not an authority worker');
  }
  const { document, dev } = JSON.parse(passed) as { document: unknown; dev: boolean };
  const config = validateConfig(document, { dev });
  const logger = deps.logger.child({ worker: cluster.worker?.id });
  let stop: () => void = () => undefined;
  const stopRequested = new Promise<void>((resolve) => {
    stop = resolve;
  });
  const link = new PrimaryLink(logger, stop);
  const authority = await startAuthority(config, { logger, peers: link });
  // The primary sums what every worker's registry holds; constructing one in the worker is what
  // makes prom-client answer the primary's requests.
  AggregatorRegistry.setRegistries([authority.context.metrics.registry]);
  workerAggregator ??= new AggregatorRegistry();
  link.onRefresh(() => authority.refresh());
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  link.ready(authority.url);
  await stopRequested;
  await authority.close();
  process.disconnect();
}
