/**
 * A ceiling thread (`server.ts` starts one per core the authority is given): measures the raw
 * work of a `ceiling` request with the harness's timed batches and answers its ops/s. The threads
 * of one request run at the same time, so their sum is what that many cores do.
 */
import { parentPort } from 'node:worker_threads';
import { runBenchmark } from '../harness.ts';
import { workFor } from './crypto-work.ts';
import type { CeilingThreadRequest } from './messages.ts';

const port = parentPort;
if (port === null) throw new Error('ceiling-thread.ts runs as a worker thread');
port.on('message', (request: CeilingThreadRequest) => {
  void runBenchmark(
    { name: `crypto.${request.work}`, fn: workFor(request.work, request.issuer) },
    { durationMs: request.durationMs, rounds: 1 },
  ).then((report) => {
    port.postMessage(report.rounds[0]);
  });
});
