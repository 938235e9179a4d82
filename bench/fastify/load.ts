/**
 * The load generator of the `fastify.*` benchmarks, run as its own process (`spawnBenchChild`,
 * pinned to a CPU other than the server's): autocannon GETs with a fixed number of connections,
 * each request carrying the same bearer token, a token never sent before, or none.
 */
import { createPrivateKey } from 'node:crypto';
import autocannon from 'autocannon';
import { mintAccessToken, signingKeyFromPrivateKey, systemClock } from '@tessera/core';
import { serveParent } from '../authority/child-process.ts';
import type { LoadResult } from '../authority/messages.ts';
import type { Credentials, FastifyLoadRequest, GetRound } from './messages.ts';

// How often autocannon checks whether its time is up: the round ends at most this late.
const SAMPLE_INTERVAL_MS = 50;
const REQUEST_TIMEOUT_S = 10;

/** Every `authorization` header of the round, minted before it starts; undefined for a fixed one. */
function freshHeaders(credentials: Credentials): string[] | undefined {
  if (credentials.kind !== 'fresh') return undefined;
  const key = signingKeyFromPrivateKey(createPrivateKey(credentials.privateKeyPem), 'ES256');
  return Array.from(
    { length: credentials.count },
    () =>
      `Bearer ${
        mintAccessToken(
          {
            issuer: credentials.issuer,
            subject: credentials.subject,
            audience: credentials.audience,
            scopes: [...credentials.scopes],
            lifetimeSeconds: credentials.lifetimeSeconds,
          },
          { key, clock: systemClock },
        ).token
      }`,
  );
}

async function runRound(round: GetRound): Promise<LoadResult> {
  const mintStart = performance.now();
  const fresh = freshHeaders(round.credentials);
  const mintMs = performance.now() - mintStart;
  const fixed: Record<string, string> =
    round.credentials.kind === 'fixed'
      ? { authorization: `Bearer ${round.credentials.token}` }
      : {};

  let next = 0;
  let exhausted = false;
  let completed2xx = 0;
  // Grown as needed: a fixed-token round has no pre-minted count to size it by.
  let latencies = new Float64Array(fresh?.length ?? 1 << 16);
  const statuses: Record<string, number> = {};
  const settleMs = round.settleMs ?? 0;
  let windowStart = Infinity;
  let windowEnd = Infinity;

  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${round.url}/invoices/42`,
        method: 'GET',
        connections: round.connections,
        duration: (settleMs + round.durationMs) / 1000,
        sampleInt: SAMPLE_INTERVAL_MS,
        timeout: REQUEST_TIMEOUT_S,
        headers: fixed,
        ...(round.clientCertificate === undefined
          ? {}
          : {
              tlsOptions: { cert: round.clientCertificate.cert, key: round.clientCertificate.key },
            }),
        ...(fresh === undefined
          ? {}
          : {
              requests: [
                {
                  // Called for every request a connection sends (and once per connection up front).
                  setupRequest: (request: autocannon.Request) => {
                    if (next >= fresh.length) exhausted = true;
                    const authorization = fresh[Math.min(next++, fresh.length - 1)]!;
                    return { ...request, headers: { ...request.headers, authorization } };
                  },
                },
              ],
            }),
      },
      (error: Error | null | undefined, finished: autocannon.Result) => {
        if (error) reject(error);
        else resolve(finished);
      },
    );
    windowStart = performance.now() + settleMs;
    windowEnd = windowStart + round.durationMs;
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
      // Responses completing after the round's time (before autocannon notices) are left out,
      // and so are those while the round settles, so every round counts over exactly durationMs.
      const now = performance.now();
      if (statusCode >= 200 && statusCode < 300 && now >= windowStart && now <= windowEnd) {
        if (completed2xx === latencies.length) {
          const grown = new Float64Array(latencies.length * 2);
          grown.set(latencies);
          latencies = grown;
        }
        latencies[completed2xx++] = responseTime;
      }
    });
  });
  return {
    completed2xx,
    latencies: latencies.slice(0, completed2xx),
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    exhausted,
    mintMs,
  };
}

serveParent<FastifyLoadRequest>(
  { pid: process.pid },
  async (request) => (request.type === 'load' ? runRound(request) : undefined),
  (request) => request.type === 'close',
);
