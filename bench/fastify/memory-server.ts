/**
 * The protected service of `fastify.memory`, run as its own process (`spawnBenchChild`, pinned
 * to one CPU, with `--expose-gc` so a memory reading follows a full collection): the same
 * `GET /invoices/:id` route as `fastify.protected`, behind the Tessera plugin with its defaults
 * (the verified-token cache's bounds, the rate limit of 1,000 requests per second per caller),
 * and a policy that allows every caller the runner names. The cache is the verifier's default
 * one, created here only so its size can be read.
 *
 * Logger settings as for every bench app: Fastify's per-request logging off, `warn` and above
 * counted, the plugin's audit events to a real file through `auditFileDestination` (one write per event-loop turn).
 */
import { createPrivateKey } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import {
  createVerifier,
  KeySet,
  parsePolicy,
  serviceSpiffeId,
  signingKeyFromPrivateKey,
  systemClock,
  VerifiedTokenCache,
} from '@tessera/core';
import { auditFileDestination, tessera } from '@tessera/fastify';
import { serveParent } from '../authority/child-process.ts';
import type { ChildReady } from '../demo/messages.ts';
import type {
  MemorySample,
  MemoryServerClosed,
  MemoryServerRequest,
  MemoryServerStart,
  MemoryServerStarted,
} from './memory-messages.ts';
import { getHeapSpaceStatistics } from 'node:v8';

const ISSUER = 'http://127.0.0.1:7700';
const TRUST_DOMAIN = 'tessera.local';
const SERVICE = 'billing';
const SCOPE = 'invoices:read';

const dir = await mkdtemp(join(tmpdir(), 'tessera-bench-memory-'));
// `close` removes it; this covers an exit without one (the runner went away), and the runner
// removes it too (a child killed on a timeout runs no exit handler).
process.once('exit', () => {
  rmSync(dir, { recursive: true, force: true });
});
const auditFile = join(dir, 'audit.log');
const audit = pino({ level: 'info' }, auditFileDestination(auditFile));

let warnLines = 0;
let lastWarnLine: string | undefined;

/** Every caller allowed on the route by name: the policy a service with many clients has. */
function policyFor(callers: readonly string[]) {
  return parsePolicy(
    JSON.stringify({
      version: 1,
      trustDomain: TRUST_DOMAIN,
      services: {
        ...Object.fromEntries(callers.map((caller) => [caller, {}])),
        [SERVICE]: {
          routes: [
            {
              method: 'GET',
              path: '/invoices/:id',
              allow: callers.map((service) => ({ service, scopes: [SCOPE] })),
            },
          ],
        },
      },
    }),
    'json',
  );
}

let running: { app: FastifyInstance; cache: VerifiedTokenCache } | undefined;

async function start(request: MemoryServerStart): Promise<MemoryServerStarted> {
  if (running !== undefined) throw new Error('already started');
  const key = signingKeyFromPrivateKey(createPrivateKey(request.privateKeyPem), 'ES256');
  const audience = serviceSpiffeId(TRUST_DOMAIN, SERVICE);
  // The defaults: 10,000 entries, 16 MiB.
  const cache = new VerifiedTokenCache();
  const app = Fastify({
    logger: {
      level: 'warn',
      stream: {
        write(line: string) {
          warnLines++;
          lastWarnLine = line;
        },
      },
    },
    logController: new LogController({ disableRequestLogging: true }),
  });
  running = { app, cache };
  await app.register(tessera, {
    service: SERVICE,
    policy: policyFor(request.callers),
    verifier: createVerifier({
      issuer: ISSUER,
      audience,
      keys: new KeySet([key]),
      clock: systemClock,
      trustDomain: TRUST_DOMAIN,
      cache,
    }),
    auditLogger: audit,
  });
  app.get<{ Params: { id: string } }>('/invoices/:id', (req) => ({
    id: req.params.id,
    amount: 4200,
    currency: 'EUR',
  }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no listening address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    issuer: ISSUER,
    audience,
    trustDomain: TRUST_DOMAIN,
    scopes: [SCOPE],
  };
}

/** Memory after a full collection (two, so objects freed by finalizers of the first go too). */
function sample(): MemorySample {
  if (running === undefined) throw new Error('not started');
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc === 'function') {
    gc();
    gc();
  }
  const usage = process.memoryUsage();
  const youngGeneration = getHeapSpaceStatistics()
    .filter((space) => space.space_name.startsWith('new_'))
    .reduce((sum, space) => sum + space.physical_space_size, 0);
  return {
    collected: typeof gc === 'function',
    rss: usage.rss,
    heapUsed: usage.heapUsed,
    external: usage.external,
    youngGeneration,
    cacheEntries: running.cache.size,
    cacheBytes: running.cache.bytes,
  };
}

async function close(): Promise<MemoryServerClosed> {
  try {
    await running?.app.close();
    await new Promise<void>((resolve) => {
      audit.flush(() => {
        resolve();
      });
    });
    const auditBytes = (await stat(auditFile)).size;
    return { auditBytes, warnLines, lastWarnLine };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const ready: ChildReady = { pid: process.pid, dir };

serveParent<MemoryServerRequest>(
  ready,
  async (request): Promise<MemoryServerStarted | MemorySample | MemoryServerClosed> => {
    switch (request.type) {
      case 'start':
        return start(request);
      case 'memory':
        return Promise.resolve(sample());
      case 'close':
        return close();
    }
  },
  (request) => request.type === 'close',
);
