/**
 * An HTTP load generator run as its own process (`spawnBenchChild`, pinned to a CPU other than
 * the servers'): autocannon with a fixed number of connections, one request in flight each, for
 * a time (`demo.*`) or for a number of requests (`fastify.memory`). Every request may carry the
 * same JSON body and an `authorization` header taken in turn from a list.
 */
import autocannon from 'autocannon';
import { serveParent } from '../authority/child-process.ts';
import type { HttpLoadRequest, HttpLoadResult, HttpLoadRound } from './messages.ts';

// How often autocannon checks whether its time is up: a timed round ends at most this late.
const SAMPLE_INTERVAL_MS = 50;
const REQUEST_TIMEOUT_S = 10;

async function runRound(round: HttpLoadRound): Promise<HttpLoadResult> {
  const byCount = round.amount !== undefined;
  const authorizations = round.authorizations;
  let next = 0;
  let completed2xx = 0;
  // Grown as needed, so a long round is bounded by memory only through its own response count.
  let latencies = new Float64Array(round.amount ?? 1 << 16);
  const statuses: Record<string, number> = {};
  let start = 0;
  let windowEnd = Infinity;
  let lastCounted = 0;
  let limit: NodeJS.Timeout | undefined;

  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: round.url,
        method: round.method,
        connections: round.connections,
        sampleInt: SAMPLE_INTERVAL_MS,
        timeout: REQUEST_TIMEOUT_S,
        ...(byCount ? { amount: round.amount } : { duration: round.durationMs / 1000 }),
        ...(round.overallRate === undefined ? {} : { overallRate: round.overallRate }),
        headers: round.body === undefined ? {} : { 'content-type': 'application/json' },
        ...(round.body === undefined ? {} : { body: round.body }),
        ...(authorizations === undefined || authorizations.length === 0
          ? {}
          : {
              requests: [
                {
                  // Called for every request a connection sends (and once per connection up front).
                  setupRequest: (request: autocannon.Request) => {
                    const authorization = authorizations[next++ % authorizations.length]!;
                    return { ...request, headers: { ...request.headers, authorization } };
                  },
                },
              ],
            }),
      },
      (error: Error | null | undefined, finished: autocannon.Result) => {
        clearTimeout(limit);
        if (error) reject(error);
        else resolve(finished);
      },
    );
    start = performance.now();
    if (byCount) {
      // A round by count still ends on time: a server that stalls cannot hold the bench forever.
      limit = setTimeout(() => {
        instance.stop();
      }, round.durationMs);
    } else {
      windowEnd = start + round.durationMs;
    }
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
      const now = performance.now();
      // Responses completing after a timed round's end (before autocannon notices) are left
      // out, so every timed round counts over exactly durationMs.
      if (statusCode >= 200 && statusCode < 300 && now <= windowEnd) {
        if (completed2xx === latencies.length) {
          const grown = new Float64Array(latencies.length * 2);
          grown.set(latencies);
          latencies = grown;
        }
        latencies[completed2xx++] = responseTime;
        lastCounted = now;
      }
    });
  });
  return {
    completed2xx,
    latencies: latencies.slice(0, completed2xx),
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    elapsedMs: byCount ? lastCounted - start : round.durationMs,
  };
}

serveParent<HttpLoadRequest>(
  { pid: process.pid },
  async (request) => (request.type === 'load' ? runRound(request) : undefined),
  (request) => request.type === 'close',
);
