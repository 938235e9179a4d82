/**
 * The load generator, run as its own process (`spawnBenchChild`, pinned to a CPU other than the
 * authority's): autocannon with a fixed number of connections, each request carrying a client
 * assertion never sent before, because the authority refuses a replayed `jti`.
 */
import { createPrivateKey } from 'node:crypto';
import autocannon from 'autocannon';
import {
  JWT_BEARER_ASSERTION_TYPE,
  mintClientAssertion,
  signingKeyFromPrivateKey,
  systemClock,
} from '@tessera/core';
import { serveParent } from './child-process.ts';
import type { LoadRequest, LoadResult, LoadRound } from './messages.ts';

// How often autocannon checks whether its time is up: the round ends at most this late.
const SAMPLE_INTERVAL_MS = 50;
const REQUEST_TIMEOUT_S = 10;

/** Every request body of the round, minted before it starts so minting costs the round nothing. */
function requestBodies(round: LoadRound): string[] {
  const { client, tokens } = round;
  const key = signingKeyFromPrivateKey(createPrivateKey(client.privateKeyPem), 'ES256');
  return Array.from({ length: round.assertions }, (_, i) => {
    const assertion = mintClientAssertion(
      {
        clientId: client.id,
        audience: client.audience,
        lifetimeSeconds: client.assertionLifetimeSeconds,
      },
      { key, clock: systemClock },
    );
    return new URLSearchParams({
      ...round.fields,
      client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
      client_assertion: assertion,
      ...(tokens === undefined || tokens.length === 0
        ? {}
        : { [round.tokenField ?? 'token']: tokens[i % tokens.length]! }),
    }).toString();
  });
}

async function runRound(round: LoadRound): Promise<LoadResult> {
  const mintStart = performance.now();
  const bodies = requestBodies(round);
  const mintMs = performance.now() - mintStart;

  let next = 0;
  let exhausted = false;
  let completed2xx = 0;
  const latencies = new Float64Array(bodies.length);
  const statuses: Record<string, number> = {};
  let windowEnd = Infinity;

  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: round.url,
        method: 'POST',
        connections: round.connections,
        duration: round.durationMs / 1000,
        sampleInt: SAMPLE_INTERVAL_MS,
        timeout: REQUEST_TIMEOUT_S,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        requests: [
          {
            // Called for every request a connection sends (and once per connection up front).
            setupRequest: (request) => {
              if (next >= bodies.length) exhausted = true;
              return { ...request, body: bodies[Math.min(next++, bodies.length - 1)] };
            },
          },
        ],
      },
      (error: Error | null | undefined, finished: autocannon.Result) => {
        if (error) reject(error);
        else resolve(finished);
      },
    );
    windowEnd = performance.now() + round.durationMs;
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
      // Responses completing after the round's time (before autocannon notices) are left out,
      // so every round counts over exactly durationMs.
      if (
        statusCode >= 200 &&
        statusCode < 300 &&
        performance.now() <= windowEnd &&
        completed2xx < latencies.length
      ) {
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

serveParent<LoadRequest>(
  { pid: process.pid },
  async (request) => (request.type === 'load' ? runRound(request) : undefined),
  (request) => request.type === 'close',
);
