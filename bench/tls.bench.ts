/**
 * Mutual TLS against server-only TLS, on the same machine in the same session. Names are
 * published (see bench/README.md): do not rename.
 *
 * - `fastify.mtls` against `fastify.tls`: `GET /invoices/:id` behind the plugin over HTTPS with
 *   keep-alive connections (64, as for `fastify.*`). `tls`: a bearer token identifies the caller.
 *   `mtls`: the client certificate does (read once per connection), and the token the route's
 *   scope needs is bound to it (`cnf.x5t#S256`, checked on every request).
 * - `tls.handshake.mtls` against `tls.handshake.tls`: full handshakes per second (a new
 *   connection each, no session resumption), the client's certificate checked for `mtls`.
 *
 * Each server variant is its own process pinned to CPU 0, the load generators to CPU 1
 * (`taskset`), and the variants alternate round by round so they see the same machine.
 */
import {
  certificateThumbprint,
  generateSigningKey,
  mintAccessToken,
  pemDecodeAll,
  systemClock,
} from '@tessera/core';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestCa } from '@tessera/core/testing';
import { canPin, spawnBenchChild, type BenchChild } from './authority/child-process.ts';
import type { LoadResult } from './authority/messages.ts';
import type { FastifyLoadRequest } from './fastify/messages.ts';
import { median, type LoadBenchmark, type Measurement, type RunOptions } from './harness.ts';
import type {
  HandshakeLoadRequest,
  HandshakeResult,
  TlsMaterial,
  TlsServerClosed,
  TlsServerRequest,
  TlsServerStarted,
  TlsServerUsage,
  TlsVariant,
} from './tls/messages.ts';

const SERVER_CPU = 0;
const LOAD_CPU = 1;
const CONNECTIONS = 64;
/** Handshakes kept in flight by the handshake load generator. */
const HANDSHAKE_CONCURRENCY = 16;
/** Load runs for this many times `--duration` per variant and kind, split into rounds. */
const LOAD_TIME_PER_DURATION = 5;
const MIN_ROUND_MS = 250;
const MAX_ROUND_MS = 5000;
const MAX_WARMUP_MS = 1000;
const STARTUP_TIMEOUT_MS = 30_000;
/**
 * Each round opens its connections anew: load runs this long before the counted window, so the
 * 64 handshakes (measured by `tls.handshake.*`) are not counted as request time.
 */
const SETTLE_MS = 500;
const SLACK_MS = 30_000;
const VARIANTS: readonly TlsVariant[] = ['tls', 'mtls'];
/** The fastify.mtls target of the issue: the identity check belongs to the connection. */
const MTLS_TARGET = 0.95;

const EXPECTED_BODY = JSON.stringify({ id: '42', amount: 4200, currency: 'EUR' });

function material(): TlsMaterial {
  const ca = createTestCa('tessera.local');
  const server = ca.issueSvid('/billing');
  const client = ca.issueSvid('/api-gateway');
  return {
    ca: ca.certPem,
    serverCert: server.certPem,
    serverKey: server.keyPem,
    clientCert: client.certPem,
    clientKey: client.keyPem,
  };
}

type Started = Readonly<Record<TlsVariant, TlsServerStarted>>;

async function startServers(
  kind: 'fastify' | 'handshake',
  fixture: { material: TlsMaterial; privateKeyPem: string },
  pinned: boolean,
  children: BenchChild<TlsServerRequest>[],
): Promise<{ started: Started; processes: Record<TlsVariant, BenchChild<TlsServerRequest>> }> {
  const started = {} as Record<TlsVariant, TlsServerStarted>;
  const processes = {} as Record<TlsVariant, BenchChild<TlsServerRequest>>;
  for (const variant of VARIANTS) {
    const { child } = await spawnBenchChild<TlsServerRequest>(
      new URL('./tls/server.ts', import.meta.url),
      {
        name: `${kind} server (${variant})`,
        cpu: pinned ? SERVER_CPU : undefined,
        readyTimeoutMs: STARTUP_TIMEOUT_MS,
      },
    );
    children.push(child);
    processes[variant] = child;
    started[variant] = await child.request<TlsServerStarted>(
      { type: 'start', kind, variant, ...fixture },
      STARTUP_TIMEOUT_MS,
    );
  }
  return { started, processes };
}

/**
 * Before any load: each app answers the route, and the mTLS app refuses a client without a
 * certificate (the handshake fails): a variant that let requests through unchecked would be
 * measured doing nothing.
 */
async function checkApps(
  apps: Started,
  fixture: { material: TlsMaterial; tokens: Record<TlsVariant, string> },
): Promise<void> {
  const { request } = await import('node:https');
  const get = (variant: TlsVariant, withCertificate: boolean): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: apps[variant].port,
          path: '/invoices/42',
          ca: fixture.material.ca,
          checkServerIdentity: () => undefined,
          headers: { authorization: `Bearer ${fixture.tokens[variant]}` },
          ...(withCertificate
            ? { cert: fixture.material.clientCert, key: fixture.material.clientKey }
            : {}),
          timeout: SLACK_MS,
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => {
            if (res.statusCode === 200 && body !== EXPECTED_BODY) reject(new Error('wrong body'));
            else resolve(res.statusCode ?? 0);
          });
        },
      );
      req.on('error', () => {
        resolve(0);
      });
      req.end();
    });
  if ((await get('tls', false)) !== 200) throw new Error('fastify.tls: a valid request failed');
  if ((await get('mtls', true)) !== 200) throw new Error('fastify.mtls: a valid request failed');
  if ((await get('mtls', false)) !== 0) {
    throw new Error('fastify.mtls: a client without a certificate got an HTTP answer');
  }
}

function checkHttpRound(variant: TlsVariant, result: LoadResult): void {
  const refused = Object.entries(result.statuses).filter(([status]) => !status.startsWith('2'));
  if (refused.length > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(
      `fastify.${variant}: under load, responses by status ${JSON.stringify(result.statuses)}, ` +
        `${result.errors} connection errors, ${result.timeouts} timeouts`,
    );
  }
}

interface VariantFigures {
  readonly rounds: number[];
  readonly latencies: number[];
  /** The server process's CPU time per request (or handshake) in each round, µs. */
  readonly cpuPerOp: number[];
}

type Figures = Readonly<Record<TlsVariant, VariantFigures>>;

interface Setup {
  readonly pinned: boolean;
  readonly material: TlsMaterial;
  readonly privateKeyPem: string;
  readonly tokens: Readonly<Record<TlsVariant, string>>;
  readonly roundMs: number;
  readonly warmupMs: number;
}

function setup(options: Required<RunOptions>): Setup {
  const key = generateSigningKey('ES256');
  const tlsMaterial = material();
  const clientDer = pemDecodeAll(tlsMaterial.clientCert, 'CERTIFICATE')[0]!;
  const token = (boundTo?: string): string =>
    mintAccessToken(
      {
        issuer: 'https://127.0.0.1:7700',
        subject: 'spiffe://tessera.local/api-gateway',
        audience: 'spiffe://tessera.local/billing',
        scopes: ['invoices:read'],
        lifetimeSeconds: 3600,
        ...(boundTo === undefined ? {} : { certificateThumbprint: boundTo }),
      },
      { key, clock: systemClock },
    ).token;
  const roundMs = Math.min(
    Math.max((options.durationMs * LOAD_TIME_PER_DURATION) / options.rounds, MIN_ROUND_MS),
    MAX_ROUND_MS,
  );
  return {
    pinned: canPin([SERVER_CPU, LOAD_CPU]),
    material: tlsMaterial,
    privateKeyPem: key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    tokens: { tls: token(), mtls: token(certificateThumbprint(clientDer)) },
    roundMs,
    warmupMs: Math.min(roundMs, MAX_WARMUP_MS),
  };
}

/**
 * Starts one server process per variant and one load process, warms each variant up, then
 * alternates `round(variant)` over the rounds; stops every process, also on failure.
 */
async function alternate<Load>(
  kind: 'fastify' | 'handshake',
  settleMs: number,
  s: Setup,
  options: Required<RunOptions>,
  loadScript: URL,
  round: (
    load: BenchChild<Load>,
    servers: Started,
    variant: TlsVariant,
    durationMs: number,
  ) => Promise<{ completed: number; latencies: ArrayLike<number> }>,
): Promise<Figures> {
  const figures: Record<TlsVariant, VariantFigures> = {
    tls: { rounds: [], latencies: [], cpuPerOp: [] },
    mtls: { rounds: [], latencies: [], cpuPerOp: [] },
  };
  const children: BenchChild<TlsServerRequest>[] = [];
  try {
    const { started: servers, processes } = await startServers(kind, s, s.pinned, children);
    const usage = (variant: TlsVariant): Promise<TlsServerUsage> =>
      processes[variant].request<TlsServerUsage>({ type: 'usage' }, SLACK_MS);
    if (kind === 'fastify') await checkApps(servers, s);
    const { child: load } = await spawnBenchChild<Load>(loadScript, {
      name: `${kind} load`,
      cpu: s.pinned ? LOAD_CPU : undefined,
      readyTimeoutMs: STARTUP_TIMEOUT_MS,
    });
    try {
      for (const variant of VARIANTS) await round(load, servers, variant, s.warmupMs);
      for (let r = 0; r < options.rounds; r++) {
        for (const variant of VARIANTS) {
          // CPU is read from the counted window on: not the handshakes of the round's new
          // connections while it settles (tls.handshake.* measure those).
          const running = round(load, servers, variant, s.roundMs);
          await sleep(settleMs);
          const before = await usage(variant);
          const result = await running;
          const after = await usage(variant);
          figures[variant].rounds.push((result.completed * 1000) / s.roundMs);
          figures[variant].cpuPerOp.push(
            (after.cpuMicros - before.cpuMicros) / Math.max(after.served - before.served, 1),
          );
          for (const latency of Array.from(result.latencies)) {
            figures[variant].latencies.push(latency);
          }
        }
      }
    } finally {
      await load.stop({ type: 'close' } as Load, SLACK_MS);
    }
  } catch (error) {
    await Promise.all(children.map((child) => child.stop({ type: 'close' }, SLACK_MS))).catch(
      () => undefined,
    );
    throw error;
  }
  const closed = await Promise.all(
    children.map((child) => child.stop<TlsServerClosed>({ type: 'close' }, SLACK_MS)),
  );
  const warned = closed.find((report) => report !== undefined && report.warnLines > 0);
  if (warned !== undefined) {
    throw new Error(`${kind} server logged a warning: ${warned.lastWarnLine ?? ''}`);
  }
  return figures;
}

function measureHttp(s: Setup, options: Required<RunOptions>): Promise<Figures> {
  return alternate<FastifyLoadRequest>(
    'fastify',
    SETTLE_MS,
    s,
    options,
    new URL('./fastify/load.ts', import.meta.url),
    async (load, apps, variant, durationMs) => {
      const result = await load.request<LoadResult>(
        {
          type: 'load',
          url: `https://127.0.0.1:${String(apps[variant].port)}`,
          connections: CONNECTIONS,
          durationMs,
          settleMs: SETTLE_MS,
          credentials: { kind: 'fixed', token: s.tokens[variant] },
          ...(variant === 'mtls'
            ? { clientCertificate: { cert: s.material.clientCert, key: s.material.clientKey } }
            : {}),
        },
        SETTLE_MS + durationMs + SLACK_MS,
      );
      checkHttpRound(variant, result);
      return { completed: result.completed2xx, latencies: result.latencies };
    },
  );
}

function measureHandshakes(s: Setup, options: Required<RunOptions>): Promise<Figures> {
  return alternate<HandshakeLoadRequest>(
    'handshake',
    0,
    s,
    options,
    new URL('./tls/handshake-load.ts', import.meta.url),
    async (dialer, listeners, variant, durationMs) => {
      const result = await dialer.request<HandshakeResult>(
        {
          type: 'handshakes',
          port: listeners[variant].port,
          variant,
          material: s.material,
          concurrency: HANDSHAKE_CONCURRENCY,
          durationMs,
        },
        durationMs + SLACK_MS,
      );
      if (result.errors > 0) {
        throw new Error(
          `tls.handshake.${variant}: ${result.errors} failed handshakes, the first: ${result.firstError ?? ''}`,
        );
      }
      return result;
    },
  );
}

function where(s: Setup, options: Required<RunOptions>): string {
  const pinning = s.pinned
    ? `servers pinned to CPU ${SERVER_CPU} (one process per variant), load to CPU ${LOAD_CPU} (taskset)`
    : 'not pinned (no taskset or fewer than 2 CPUs): servers and load share the CPUs';
  return (
    `${pinning}; variants alternating in ${options.rounds} rounds of ${s.roundMs / 1000} s ` +
    `after a ${s.warmupMs / 1000} s warm-up each`
  );
}

interface Session {
  readonly figures: Figures;
  readonly note: string;
}

// fastify.tls and fastify.mtls share one session, the two handshake benchmarks another: the first
// of a pair to run starts it, the other reuses it.
const sessions = new Map<string, Promise<Session>>();

function shared(kind: 'http' | 'handshakes', options: Required<RunOptions>): Promise<Session> {
  const key = `${kind} ${JSON.stringify(options)}`;
  let session = sessions.get(key);
  if (session === undefined) {
    const s = setup(options);
    session = (kind === 'http' ? measureHttp(s, options) : measureHandshakes(s, options)).then(
      (figures) => ({ figures, note: where(s, options) }),
    );
    sessions.set(key, session);
  }
  return session;
}

/**
 * The server's CPU time per operation, median over rounds, for both variants: steadier than
 * throughput on a machine shared with other work, which slows the load generator too.
 */
function cpuNote(figures: Figures, operation: string): string {
  const mtls = median(figures.mtls.cpuPerOp);
  const tls = median(figures.tls.cpuPerOp);
  return (
    `server CPU per ${operation}: mtls ${mtls.toFixed(1)} µs, tls ${tls.toFixed(1)} µs ` +
    `(${(tls / mtls).toFixed(2)}x)`
  );
}

const HTTP_NOTE =
  `${CONNECTIONS} keep-alive connections, GET /invoices/:id behind the plugin (rate limit and ` +
  'audit off), ECDSA P-256 certificates';

export const benchmarks: readonly LoadBenchmark[] = [
  {
    name: 'fastify.tls',
    measure: async (options): Promise<Measurement> => {
      const s = await shared('http', options);
      return {
        rounds: s.figures.tls.rounds,
        latencies: s.figures.tls.latencies,
        note: `${s.note}; ${HTTP_NOTE}; server-only TLS, a bearer token per request`,
      };
    },
  },
  {
    name: 'fastify.mtls',
    baseline: { name: 'fastify.tls' },
    measure: async (options): Promise<Measurement> => {
      const s = await shared('http', options);
      const ratio = median(s.figures.mtls.rounds) / median(s.figures.tls.rounds);
      const cpu = cpuNote(s.figures, 'request');
      return {
        rounds: s.figures.mtls.rounds,
        baselineRounds: s.figures.tls.rounds,
        latencies: s.figures.mtls.latencies,
        note:
          `${s.note}; ${HTTP_NOTE}; mtls: { mode: 'required' }, the caller's certificate read ` +
          `once per connection, a token bound to it checked per request; ratio ` +
          `${ratio.toFixed(2)} (target >= ${MTLS_TARGET}: ${ratio >= MTLS_TARGET ? 'met' : 'NOT met'}); ${cpu}`,
      };
    },
  },
  {
    name: 'tls.handshake.tls',
    measure: async (options): Promise<Measurement> => {
      const s = await shared('handshakes', options);
      return {
        rounds: s.figures.tls.rounds,
        latencies: s.figures.tls.latencies,
        note: `${s.note}; full handshakes, ${HANDSHAKE_CONCURRENCY} in flight, no resumption; server-only TLS`,
      };
    },
  },
  {
    name: 'tls.handshake.mtls',
    baseline: { name: 'tls.handshake.tls' },
    measure: async (options): Promise<Measurement> => {
      const s = await shared('handshakes', options);
      return {
        rounds: s.figures.mtls.rounds,
        baselineRounds: s.figures.tls.rounds,
        latencies: s.figures.mtls.latencies,
        note:
          `${s.note}; full handshakes, ${HANDSHAKE_CONCURRENCY} in flight, no resumption; the ` +
          `client presents its SVID, the server checks it against the bundle; ` +
          cpuNote(s.figures, 'handshake'),
      };
    },
  },
];
