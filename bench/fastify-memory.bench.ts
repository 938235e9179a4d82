/**
 * `fastify.memory`: the resident memory of a protected service after 100,000 requests from
 * 1,000 distinct callers, which must stay within the verified-token cache's documented bound
 * (plus an allowance, below) above the service's own baseline. The name is published (see
 * bench/README.md): do not rename.
 *
 * As for `fastify.*`: the service (`fastify/memory-server.ts`, `--expose-gc`) is pinned to
 * CPU 0, autocannon (`demo/load.ts`) to CPU 1, and this runner only coordinates. The published
 * line has no memory field, so the figures go to the note (the summary on stderr), and a growth
 * beyond the bound fails the benchmark. `--duration` and the round count do not apply: the
 * measurement is the whole 100,000 requests, once.
 */
import { rm } from 'node:fs/promises';
import {
  CACHE_ENTRY_OVERHEAD_BYTES,
  generateSigningKey,
  mintAccessToken,
  serviceSpiffeId,
  type SigningKey,
  systemClock,
} from '@tessera/core';
import { canPin, spawnBenchChild, type BenchChild } from './authority/child-process.ts';
import type { ChildReady, HttpLoadRequest, HttpLoadResult } from './demo/messages.ts';
import type {
  MemorySample,
  MemoryServerClosed,
  MemoryServerRequest,
  MemoryServerStarted,
} from './fastify/memory-messages.ts';
import type { LoadBenchmark, Measurement } from './harness.ts';

const SERVER_CPU = 0;
const LOAD_CPU = 1;
/** 64 connections, each with one request in flight, as for the other load benchmarks. */
const CONNECTIONS = 64;
/** The figures. */
const REQUESTS = 100_000;
const CALLERS = 1000;
/**
 * The warm-up, from four callers (not among the 1,000): enough requests for the JIT to compile
 * the request path and for every connection to be open, each caller far under the plugin's
 * default rate limit (1,000 requests per second per caller) so none is refused. autocannon
 * meters `overallRate` per one-second tick, so a tick's requests can leave in a burst and two
 * bursts can fall into one fixed rate-limit window: with a single caller that window saw more
 * than 1,000 and answered 429.
 */
const WARMUP_REQUESTS = 2000;
const WARMUP_RATE = 800;
/** The token lifetime: no token expires (and leaves the cache) during the run. */
const TOKEN_LIFETIME_S = 3600;
/**
 * The documented bound (README.md, "Verified-token cache"; `CACHE_ENTRY_OVERHEAD_BYTES` in
 * packages/core/src/token/cache.ts): each entry counts as its token's length plus 768 bytes
 * (measured at about 475 bytes of overhead on Node 20), default at most 10,000 entries and
 * 16 MiB. 1,000 callers stay far below both limits, so all 1,000 tokens are held and the bound
 * is the sum of their sizes plus 768 bytes each, computed from the tokens actually sent.
 *
 * The allowance is for what RSS counts besides live objects: V8 grows the old generation in
 * 256 KiB pages and a forced GC keeps what it committed; malloc keeps freed memory in its arenas
 * for reuse. None of it grows with the number of callers, but none of it is zero either. 10 MiB is
 * large against the per-caller state a leak would add (100,000 requests leaking 128 bytes each,
 * 12.8 MB, would fail it). The young generation is taken out of the growth: V8 doubles a
 * semi-space (up to 16 MiB) when survival is high, which once made a run read 14.8 MiB of RSS
 * growth while the heap in use grew by 1.6 MiB. Its committed size is read from V8's heap space
 * statistics with each sample, and the note shows RSS with and without it.
 */
const ALLOWANCE_BYTES = 10 * 1024 * 1024;
/** The 100,000 requests must finish within this; well above what they take on one core. */
const LOAD_LIMIT_MS = 300_000;
const STARTUP_TIMEOUT_MS = 30_000;
const SLACK_MS = 30_000;
/** Set to a directory to write a V8 CPU profile of the service (`node --cpu-prof`). */
const CPU_PROFILE_DIR = process.env.TESSERA_BENCH_CPU_PROF;

/** The route's answer, as the server builds it for `/invoices/42`. */
const EXPECTED_BODY = JSON.stringify({ id: '42', amount: 4200, currency: 'EUR' });
const WARMUP_CALLERS = ['warmup-0', 'warmup-1', 'warmup-2', 'warmup-3'] as const;
const callerName = (i: number): string => `caller-${String(i).padStart(4, '0')}`;

const MiB = 1024 * 1024;
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(2)} MiB`;

function mint(app: MemoryServerStarted, caller: string, key: SigningKey): string {
  return mintAccessToken(
    {
      issuer: app.issuer,
      subject: serviceSpiffeId(app.trustDomain, caller),
      audience: app.audience,
      scopes: [...app.scopes],
      lifetimeSeconds: TOKEN_LIFETIME_S,
    },
    { key, clock: systemClock },
  ).token;
}

async function get(
  url: string,
  token: string | undefined,
): Promise<{ status: number; body: string }> {
  const response = await fetch(`${url}/invoices/42`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(SLACK_MS),
  });
  return { status: response.status, body: await response.text() };
}

/**
 * Before any load: a valid token gets the route's answer; no token, and tokens signed by
 * another key (under its own `kid`, and under the trusted key's) get 401.
 */
async function checkRefusals(
  app: MemoryServerStarted,
  key: SigningKey,
  token: string,
): Promise<void> {
  const valid = await get(app.url, token);
  if (valid.status !== 200 || valid.body !== EXPECTED_BODY) {
    throw new Error(`fastify.memory: a valid request got HTTP ${valid.status}`);
  }
  const stranger = generateSigningKey('ES256');
  const forgeries = [
    { forgery: 'no token', token: undefined },
    { forgery: 'signed by another key', token: mint(app, WARMUP_CALLERS[0], stranger) },
    {
      forgery: "signed by another key under the trusted key's kid",
      token: mint(app, WARMUP_CALLERS[0], { ...stranger, kid: key.kid }),
    },
  ];
  for (const { forgery, token: forged } of forgeries) {
    const { status } = await get(app.url, forged);
    if (status !== 401) {
      throw new Error(`fastify.memory: a forged request (${forgery}) got HTTP ${status}`);
    }
  }
}

/** Throws unless all `expected` requests got a 2xx answer. */
function checkLoad(what: string, result: HttpLoadResult, expected: number): void {
  const refused = Object.entries(result.statuses).filter(([status]) => !status.startsWith('2'));
  if (
    refused.length > 0 ||
    result.errors > 0 ||
    result.timeouts > 0 ||
    result.completed2xx !== expected
  ) {
    throw new Error(
      `fastify.memory: ${what}: ${result.completed2xx} of ${expected} requests answered 2xx; ` +
        `responses by status ${JSON.stringify(result.statuses)}, ${result.errors} connection ` +
        `errors, ${result.timeouts} timeouts`,
    );
  }
}

interface Run {
  readonly load: HttpLoadResult;
  readonly idle: MemorySample;
  readonly baseline: MemorySample;
  readonly after: MemorySample;
  /** The documented cache bound for the tokens sent, in bytes. */
  readonly cacheBound: number;
}

async function loadAndSample(
  app: MemoryServerStarted,
  key: SigningKey,
  server: BenchChild<MemoryServerRequest>,
  load: BenchChild<HttpLoadRequest>,
  idle: MemorySample,
): Promise<Run> {
  const warmupTokens = WARMUP_CALLERS.map((caller) => mint(app, caller, key));
  const tokens = Array.from({ length: CALLERS }, (_, i) => mint(app, callerName(i), key));
  const url = `${app.url}/invoices/42`;
  const warmup = await load.request<HttpLoadResult>(
    {
      type: 'load',
      url,
      method: 'GET',
      authorizations: warmupTokens.map((token) => `Bearer ${token}`),
      connections: CONNECTIONS,
      amount: WARMUP_REQUESTS,
      overallRate: WARMUP_RATE,
      durationMs: LOAD_LIMIT_MS,
    },
    LOAD_LIMIT_MS + SLACK_MS,
  );
  checkLoad('warm-up', warmup, WARMUP_REQUESTS);
  const baseline = await server.request<MemorySample>({ type: 'memory' }, SLACK_MS);
  const result = await load.request<HttpLoadResult>(
    {
      type: 'load',
      url,
      method: 'GET',
      // One caller after another, request by request: every caller sends 100 requests, each
      // at about a thousandth of the total rate, far under the per-caller rate limit.
      authorizations: tokens.map((token) => `Bearer ${token}`),
      connections: CONNECTIONS,
      amount: REQUESTS,
      durationMs: LOAD_LIMIT_MS,
    },
    LOAD_LIMIT_MS + SLACK_MS,
  );
  checkLoad(`${REQUESTS} requests from ${CALLERS} callers`, result, REQUESTS);
  const after = await server.request<MemorySample>({ type: 'memory' }, SLACK_MS);
  const cacheBound = tokens.reduce(
    (sum, token) => sum + token.length + CACHE_ENTRY_OVERHEAD_BYTES,
    0,
  );
  return { load: result, idle, baseline, after, cacheBound };
}

async function measure(): Promise<Measurement> {
  const pinned = canPin([SERVER_CPU, LOAD_CPU]);
  const key = generateSigningKey('ES256');
  const privateKeyPem = key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const { child: server, ready } = await spawnBenchChild<MemoryServerRequest>(
    new URL('./fastify/memory-server.ts', import.meta.url),
    {
      name: 'fastify memory server',
      cpu: pinned ? SERVER_CPU : undefined,
      nodeArgs: [
        '--expose-gc',
        ...(CPU_PROFILE_DIR === undefined
          ? []
          : ['--cpu-prof', `--cpu-prof-dir=${CPU_PROFILE_DIR}`]),
      ],
      readyTimeoutMs: STARTUP_TIMEOUT_MS,
    },
  );
  try {
    return await measureWith(server, { pinned, key, privateKeyPem });
  } finally {
    // The server removes it on close; not if it was killed on a timeout.
    await rm((ready as ChildReady).dir, { recursive: true, force: true });
  }
}

/** Everything once the service runs; stops it on every path. */
async function measureWith(
  server: BenchChild<MemoryServerRequest>,
  fixture: { pinned: boolean; key: SigningKey; privateKeyPem: string },
): Promise<Measurement> {
  const { pinned, key, privateKeyPem } = fixture;
  let run: Run;
  try {
    const callers = [
      ...WARMUP_CALLERS,
      ...Array.from({ length: CALLERS }, (_, i) => callerName(i)),
    ];
    const app = await server.request<MemoryServerStarted>(
      { type: 'start', privateKeyPem, callers },
      STARTUP_TIMEOUT_MS,
    );
    await checkRefusals(app, key, mint(app, WARMUP_CALLERS[0], key));
    const idle = await server.request<MemorySample>({ type: 'memory' }, SLACK_MS);
    const { child: load } = await spawnBenchChild<HttpLoadRequest>(
      new URL('./demo/load.ts', import.meta.url),
      {
        name: 'load generator',
        cpu: pinned ? LOAD_CPU : undefined,
        readyTimeoutMs: STARTUP_TIMEOUT_MS,
      },
    );
    try {
      run = await loadAndSample(app, key, server, load, idle);
    } finally {
      await load.stop({ type: 'close' }, SLACK_MS);
    }
  } catch (error) {
    await server.stop({ type: 'close' }, SLACK_MS).catch(() => undefined);
    throw error;
  }
  const closed = await server.stop<MemoryServerClosed>({ type: 'close' }, SLACK_MS);
  if (closed !== undefined && closed.warnLines > 0) {
    throw new Error(
      `fastify.memory: the app logged ${closed.warnLines} warning(s) or worse, the last: ${closed.lastWarnLine ?? ''}`,
    );
  }
  if (closed?.auditBytes === 0) throw new Error('fastify.memory: the plugin wrote no audit events');

  const { load: result, idle, baseline, after, cacheBound } = run;
  const youngStep = after.youngGeneration - baseline.youngGeneration;
  const growth = after.rss - baseline.rss - youngStep;
  const limit = cacheBound + ALLOWANCE_BYTES;
  const where = pinned
    ? `service pinned to CPU ${SERVER_CPU}, autocannon to CPU ${LOAD_CPU} (taskset)`
    : 'not pinned (no taskset or fewer than 2 CPUs): service and autocannon share the CPUs';
  const memory =
    `RSS ${mib(baseline.rss)} after warm-up (${mib(idle.rss)} idle), ${mib(after.rss)} after, ` +
    `growth ${mib(growth)} beside the young generation's ${mib(youngStep)} change, of at most ` +
    `${mib(limit)} (cache bound ${mib(cacheBound)}: ` +
    `${CALLERS} tokens + ${CACHE_ENTRY_OVERHEAD_BYTES} B each, + ${mib(ALLOWANCE_BYTES)} ` +
    `allowance); heap used ${mib(baseline.heapUsed)} → ${mib(after.heapUsed)}; cache ` +
    `${after.cacheEntries} entries, ${mib(after.cacheBytes)} by its own accounting` +
    (after.collected ? '; read after global.gc()' : '; gc not exposed: read without a collection');
  const note =
    `${where}; ${CONNECTIONS} connections, GET /invoices/:id, ${REQUESTS} requests from ` +
    `${CALLERS} callers (a distinct token each, in turn) after ${WARMUP_REQUESTS} from ` +
    `${WARMUP_CALLERS.length} callers at ${WARMUP_RATE}/s in all; one pass, --duration does not apply; ${memory}`;
  if (after.cacheEntries !== baseline.cacheEntries + CALLERS) {
    throw new Error(
      `fastify.memory: the cache holds ${after.cacheEntries} entries, expected ${baseline.cacheEntries + CALLERS}; ${note}`,
    );
  }
  if (growth > limit) {
    throw new Error(`fastify.memory: RSS grew beyond the cache's documented bound; ${note}`);
  }
  return {
    rounds: [(result.completed2xx * 1000) / result.elapsedMs],
    latencies: Array.from(result.latencies),
    note,
  };
}

export const benchmarks: readonly LoadBenchmark[] = [{ name: 'fastify.memory', measure }];
