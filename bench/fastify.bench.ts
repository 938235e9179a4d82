/**
 * @tessera/fastify benchmarks: real HTTP on 127.0.0.1 against the same Fastify route without
 * auth, behind the Tessera plugin, and behind `@fastify/jwt`. Names are published (see
 * bench/README.md): do not rename.
 *
 * As for `authority.*`, the apps (`fastify/server.ts`, one process per variant) are pinned to
 * CPU 0, autocannon (`fastify/load.ts`) to CPU 1, and this runner only coordinates. The variants are loaded in alternating rounds (noauth, protected,
 * delegated, protected_minimal, fastify_jwt, uncached, noauth, …) so they all see the same machine
 * conditions; the six benchmarks share one such session, which the first of them to run starts.
 */
import { generateSigningKey, mintAccessToken, type SigningKey, systemClock } from '@tessera/core';
import { canPin, spawnBenchChild, type BenchChild } from './authority/child-process.ts';
import type { LoadResult } from './authority/messages.ts';
import type {
  Ceiling,
  Credentials,
  FastifyLoadRequest,
  ServerClosed,
  ServerRequest,
  ServerStarted,
  ServerUsage,
  Variant,
} from './fastify/messages.ts';
import { VARIANTS } from './fastify/messages.ts';
import {
  median,
  percentile,
  type LoadBenchmark,
  type Measurement,
  type RunOptions,
} from './harness.ts';

const SERVER_CPU = 0;
const LOAD_CPU = 1;
/** 64 connections, each with one request in flight, as for the authority benchmarks. */
const CONNECTIONS = 64;
/** Load runs for this many times `--duration` per variant (10 s by default), split into rounds. */
const LOAD_TIME_PER_DURATION = 10;
const MIN_ROUND_MS = 250;
const MAX_ROUND_MS = 10_000;
const MAX_WARMUP_MS = 2000;
const MAX_BASELINE_ROUND_MS = 2000;
/** The token lifetime. */
const TOKEN_LIFETIME_S = 3600;
/** Fresh tokens minted per `uncached` round: the raw-verify ceiling allows no more, plus this. */
const TOKEN_HEADROOM = 1.5;
const STARTUP_TIMEOUT_MS = 30_000;
const SLACK_MS = 30_000;
/** Set to a directory to write a V8 CPU profile of the server process (`node --cpu-prof`). */
const CPU_PROFILE_DIR = process.env.TESSERA_BENCH_CPU_PROF;

/** The route's answer, as the server builds it for `/invoices/42`. */
const EXPECTED_BODY = JSON.stringify({ id: '42', amount: 4200, currency: 'EUR' });

interface Fixture {
  readonly apps: Readonly<Record<Variant, ServerStarted>>;
  /** The ES256 key every app trusts. */
  readonly key: SigningKey;
  /** The one valid token `protected`, `protected_minimal` and `fastify_jwt` are loaded with. */
  readonly token: string;
  /** The one delegated token `delegated` is loaded with: a user, a tenant, two actors. */
  readonly delegatedToken: string;
}

/** The token a variant is loaded with (`noauth` gets it too, and ignores it). */
function tokenOf(fixture: Fixture, variant: Variant): string {
  return variant === 'delegated' ? fixture.delegatedToken : fixture.token;
}

/**
 * The variants whose latency is also measured unloaded: one connection, one request at a time,
 * so no request waits behind another and the difference is the work added per request. Under
 * the 64-connection load, p99 is mostly queueing and moves with throughput.
 */
const UNLOADED: readonly Variant[] = [
  'noauth',
  'protected',
  'delegated',
  'protected_minimal',
  'fastify_jwt',
];

/** The targets, checked and printed with the figures (same session, same logger settings). */
const TARGETS = {
  protectedVsNoauth: 0.75,
  protectedVsFastifyJwt: 1.6,
  minimalVsNoauth: 0.9,
  delegatedVsProtected: 0.95,
};

interface Session {
  readonly rounds: Readonly<Record<Variant, number[]>>;
  readonly latencies: Readonly<Record<Variant, number[]>>;
  /** Latencies (ms) with one connection, for the {@link UNLOADED} variants. */
  readonly unloaded: Readonly<Partial<Record<Variant, number[]>>>;
  /** Raw ES256 verifies per second before each `uncached` round. */
  readonly ceilings: number[];
  /**
   * The app process's CPU time per request in each load round, µs: steadier than throughput on a
   * machine shared with other work, which slows the load generator too.
   */
  readonly cpuPerRequest: Readonly<Record<Variant, number[]>>;
  readonly note: string;
}

function mint(app: ServerStarted, key: SigningKey): string {
  return mintAccessToken(
    {
      issuer: app.issuer,
      subject: app.subject,
      audience: app.audience,
      scopes: [...app.scopes],
      lifetimeSeconds: TOKEN_LIFETIME_S,
    },
    { key, clock: systemClock },
  ).token;
}

/**
 * A delegated token as token exchange issues it for the second hop: `sub` the user, `tenant_id`,
 * `act: { sub: <app.subject>, act: { sub: <previous actor> } }`, `client_id` the acting service.
 */
function mintDelegated(app: ServerStarted, key: SigningKey): string {
  const { user, userIssuer, tenant, previousActor } = app.delegation;
  return mintAccessToken(
    {
      issuer: app.issuer,
      subject: user,
      actor: app.subject,
      previousActors: { sub: previousActor },
      userIssuer,
      tenantId: tenant,
      audience: app.audience,
      scopes: [...app.scopes],
      lifetimeSeconds: TOKEN_LIFETIME_S,
    },
    { key, clock: systemClock },
  ).token;
}

async function get(url: string, token: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`${url}/invoices/42`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(SLACK_MS),
  });
  return { status: response.status, body: await response.text() };
}

/**
 * Before any load: the valid token must get the route's answer, and on every variant but
 * `noauth` tokens signed by another key must get 401 (with the key's own `kid`, and with the
 * trusted one's). A variant that lets them through would be measured doing nothing.
 */
async function checkRefusals(fixture: Fixture): Promise<void> {
  const stranger = generateSigningKey('ES256');
  for (const variant of VARIANTS) {
    const app = fixture.apps[variant];
    const forge = variant === 'delegated' ? mintDelegated : mint;
    const forgeries = [
      { forgery: 'signed by another key', token: forge(app, stranger) },
      {
        forgery: "signed by another key under the trusted key's kid",
        token: forge(app, { ...stranger, kid: fixture.key.kid }),
      },
    ];
    const url = app.url;
    const valid = await get(url, tokenOf(fixture, variant));
    if (valid.status !== 200 || valid.body !== EXPECTED_BODY) {
      throw new Error(`fastify.${variant}: a valid request got HTTP ${valid.status}`);
    }
    if (variant === 'noauth') continue;
    for (const { forgery, token } of forgeries) {
      const { status } = await get(url, token);
      if (status !== 401) {
        throw new Error(`fastify.${variant}: a forged token (${forgery}) got HTTP ${status}`);
      }
    }
  }
}

/** Throws unless every request of the round got a 2xx answer. */
function checkRound(variant: Variant, result: LoadResult): void {
  if (result.exhausted) {
    throw new Error(`fastify.${variant}: the round needed more fresh tokens than minted`);
  }
  const refused = Object.entries(result.statuses).filter(([status]) => !status.startsWith('2'));
  if (refused.length > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(
      `fastify.${variant}: under load, responses by status ${JSON.stringify(result.statuses)}, ` +
        `${result.errors} connection errors, ${result.timeouts} timeouts`,
    );
  }
}

async function runRounds(
  fixture: Fixture,
  children: {
    servers: Readonly<Record<Variant, BenchChild<ServerRequest>>>;
    load: BenchChild<FastifyLoadRequest>;
  },
  options: Required<RunOptions>,
): Promise<Omit<Session, 'note'> & { roundMs: number; warmupMs: number }> {
  const { servers, load } = children;
  const privateKeyPem = fixture.key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const roundMs = Math.min(
    Math.max((options.durationMs * LOAD_TIME_PER_DURATION) / options.rounds, MIN_ROUND_MS),
    MAX_ROUND_MS,
  );
  const warmupMs = Math.min(roundMs, MAX_WARMUP_MS);
  const baselineMs = Math.min(options.durationMs / options.rounds, MAX_BASELINE_ROUND_MS);

  const measureCeiling = async (): Promise<number> =>
    (
      await servers.uncached.request<Ceiling>(
        { type: 'ceiling', durationMs: baselineMs },
        baselineMs * 2 + SLACK_MS,
      )
    ).opsPerSec;
  let ceiling = await measureCeiling();

  const credentials = (variant: Variant, durationMs: number): Credentials => {
    if (variant === 'noauth') return { kind: 'none' };
    if (variant !== 'uncached') return { kind: 'fixed', token: tokenOf(fixture, variant) };
    const app = fixture.apps.uncached;
    return {
      kind: 'fresh',
      privateKeyPem,
      issuer: app.issuer,
      subject: app.subject,
      audience: app.audience,
      scopes: app.scopes,
      lifetimeSeconds: TOKEN_LIFETIME_S,
      count: Math.ceil(((ceiling * durationMs) / 1000) * TOKEN_HEADROOM) + 2 * CONNECTIONS,
    };
  };
  const loadRound = async (
    variant: Variant,
    durationMs: number,
    connections = CONNECTIONS,
  ): Promise<LoadResult> => {
    const creds = credentials(variant, durationMs);
    const result = await load.request<LoadResult>(
      {
        type: 'load',
        url: fixture.apps[variant].url,
        connections,
        durationMs,
        credentials: creds,
      },
      // Minting takes well under 1 ms a token.
      durationMs + (creds.kind === 'fresh' ? creds.count : 0) + SLACK_MS,
    );
    checkRound(variant, result);
    return result;
  };

  for (const variant of VARIANTS) await loadRound(variant, warmupMs);
  const rounds: Record<Variant, number[]> = {
    noauth: [],
    protected: [],
    delegated: [],
    protected_minimal: [],
    fastify_jwt: [],
    uncached: [],
  };
  const latencies: Record<Variant, number[]> = {
    noauth: [],
    protected: [],
    delegated: [],
    protected_minimal: [],
    fastify_jwt: [],
    uncached: [],
  };
  const ceilings: number[] = [];
  const cpuPerRequest: Record<Variant, number[]> = {
    noauth: [],
    protected: [],
    delegated: [],
    protected_minimal: [],
    fastify_jwt: [],
    uncached: [],
  };
  const usage = (variant: Variant): Promise<ServerUsage> =>
    servers[variant].request<ServerUsage>({ type: 'usage' }, SLACK_MS);
  for (let r = 0; r < options.rounds; r++) {
    for (const variant of VARIANTS) {
      if (variant === 'uncached') {
        const roundCeiling = await measureCeiling();
        ceilings.push(roundCeiling);
        ceiling = Math.max(ceiling, roundCeiling);
      }
      const before = await usage(variant);
      const result = await loadRound(variant, roundMs);
      const after = await usage(variant);
      cpuPerRequest[variant].push(
        (after.cpuMicros - before.cpuMicros) / Math.max(after.served - before.served, 1),
      );
      rounds[variant].push((result.completed2xx * 1000) / roundMs);
      for (const latency of result.latencies) latencies[variant].push(latency);
    }
  }
  const unloaded: Partial<Record<Variant, number[]>> = {};
  for (let r = 0; r < options.rounds; r++) {
    for (const variant of UNLOADED) {
      const result = await loadRound(variant, warmupMs, 1);
      const into = (unloaded[variant] ??= []);
      for (const latency of result.latencies) into.push(latency);
    }
  }
  return { rounds, latencies, unloaded, ceilings, cpuPerRequest, roundMs, warmupMs };
}

async function stopAll(
  servers: readonly BenchChild<ServerRequest>[],
): Promise<(ServerClosed | undefined)[]> {
  return Promise.all(
    servers.map((server) => server.stop<ServerClosed>({ type: 'close' }, SLACK_MS)),
  );
}

async function measureAll(options: Required<RunOptions>): Promise<Session> {
  const pinned = canPin([SERVER_CPU, LOAD_CPU]);
  const key = generateSigningKey('ES256');
  const privateKeyPem = key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const started: BenchChild<ServerRequest>[] = [];
  let measured: Awaited<ReturnType<typeof runRounds>>;
  try {
    const servers = {} as Record<Variant, BenchChild<ServerRequest>>;
    const apps = {} as Record<Variant, ServerStarted>;
    for (const variant of VARIANTS) {
      const { child } = await spawnBenchChild<ServerRequest>(
        new URL('./fastify/server.ts', import.meta.url),
        {
          name: `fastify server (${variant})`,
          cpu: pinned ? SERVER_CPU : undefined,
          nodeArgs:
            CPU_PROFILE_DIR === undefined
              ? []
              : ['--cpu-prof', `--cpu-prof-dir=${CPU_PROFILE_DIR}`],
          readyTimeoutMs: STARTUP_TIMEOUT_MS,
        },
      );
      started.push(child);
      servers[variant] = child;
      apps[variant] = await child.request<ServerStarted>(
        { type: 'start', variant, privateKeyPem },
        STARTUP_TIMEOUT_MS,
      );
    }
    const fixture: Fixture = {
      apps,
      key,
      token: mint(apps.protected, key),
      delegatedToken: mintDelegated(apps.delegated, key),
    };
    await checkRefusals(fixture);
    const { child: load } = await spawnBenchChild<FastifyLoadRequest>(
      new URL('./fastify/load.ts', import.meta.url),
      {
        name: 'load generator',
        cpu: pinned ? LOAD_CPU : undefined,
        readyTimeoutMs: STARTUP_TIMEOUT_MS,
      },
    );
    try {
      measured = await runRounds(fixture, { servers, load }, options);
    } finally {
      await load.stop({ type: 'close' }, SLACK_MS);
    }
  } catch (error) {
    await stopAll(started).catch(() => undefined);
    throw error;
  }
  const closed = await stopAll(started);
  VARIANTS.forEach((variant, i) => {
    const report = closed[i];
    if (report !== undefined && report.warnLines > 0) {
      throw new Error(
        `fastify.${variant}: the app logged ${report.warnLines} warning(s) or worse, the last: ${report.lastWarnLine ?? ''}`,
      );
    }
    const audits = variant === 'protected' || variant === 'delegated' || variant === 'uncached';
    if (audits && report?.auditBytes === 0) {
      throw new Error(`fastify.${variant}: the plugin wrote no audit events`);
    }
  });
  const { roundMs, warmupMs, ...session } = measured;
  const where = pinned
    ? `apps pinned to CPU ${SERVER_CPU} (one process per variant), autocannon to CPU ${LOAD_CPU} (taskset)`
    : 'not pinned (no taskset or fewer than 2 CPUs): apps and autocannon share the CPUs';
  return {
    ...session,
    note:
      `${where}; ${CONNECTIONS} connections, GET /invoices/:id, variants alternating in ` +
      `${options.rounds} rounds of ${roundMs / 1000} s each after a ${warmupMs / 1000} s ` +
      `warm-up each; p50/p99 over every response`,
  };
}

// The six benchmarks share one session: the first to run starts it, the others reuse it.
let session: { options: string; result: Promise<Session> } | undefined;

function shared(options: Required<RunOptions>): Promise<Session> {
  const key = JSON.stringify(options);
  if (session?.options !== key) session = { options: key, result: measureAll(options) };
  return session.result;
}

function ratio(a: readonly number[], b: readonly number[]): string {
  return (median(a) / median(b)).toFixed(2);
}

/** The ratios the issue sets targets for, each with its target and whether it is met. */
function targets(s: Session): string {
  const check = (label: string, value: number, target: number): string =>
    `${label} ${value.toFixed(2)} (target >= ${target}: ${value >= target ? 'met' : 'NOT met'})`;
  const r = s.rounds;
  return [
    check('protected/noauth', median(r.protected) / median(r.noauth), TARGETS.protectedVsNoauth),
    check(
      'protected/fastify_jwt',
      median(r.protected) / median(r.fastify_jwt),
      TARGETS.protectedVsFastifyJwt,
    ),
    check(
      'protected.minimal/noauth',
      median(r.protected_minimal) / median(r.noauth),
      TARGETS.minimalVsNoauth,
    ),
    check(
      'delegated/protected',
      median(r.delegated) / median(r.protected),
      TARGETS.delegatedVsProtected,
    ),
  ].join(', ');
}

/** The app's CPU time per request, median over rounds, of `variant` and of `against`. */
function cpuNote(s: Session, variant: Variant, against: Variant): string {
  const mine = median(s.cpuPerRequest[variant]);
  const base = median(s.cpuPerRequest[against]);
  return (
    `app CPU per request: ${variant} ${mine.toFixed(1)} µs, ${against} ${base.toFixed(1)} µs ` +
    `(${(base / mine).toFixed(2)}x)`
  );
}

/** The unloaded figures of `variant` against `against`'s: p50 and p99, and what was added. */
function unloadedNote(s: Session, variant: Variant, against: Variant = 'noauth'): string {
  const mine = s.unloaded[variant] ?? [];
  const base = s.unloaded[against] ?? [];
  const ms = (value: number): string => `${value.toFixed(3)} ms`;
  const at = (p: number): string =>
    `p${p} ${ms(percentile(mine, p))} (${against} ${ms(percentile(base, p))}, added ` +
    `${ms(percentile(mine, p) - percentile(base, p))})`;
  return `unloaded, one connection (${mine.length} requests): ${at(50)}, ${at(99)}`;
}

export const benchmarks: readonly LoadBenchmark[] = [
  {
    name: 'fastify.noauth',
    measure: async (options): Promise<Measurement> => {
      const s = await shared(options);
      return { rounds: s.rounds.noauth, latencies: s.latencies.noauth, note: s.note };
    },
  },
  {
    name: 'fastify.protected',
    baseline: { name: 'fastify.noauth' },
    measure: async (options): Promise<Measurement> => {
      const s = await shared(options);
      return {
        rounds: s.rounds.protected,
        baselineRounds: s.rounds.noauth,
        latencies: s.latencies.protected,
        note:
          `${s.note}; the same token on every request; ` +
          `${ratio(s.rounds.protected, s.rounds.fastify_jwt)}x fastify.fastify_jwt; ` +
          `targets: ${targets(s)}; ` +
          unloadedNote(s, 'protected'),
      };
    },
  },
  {
    name: 'fastify.delegated',
    baseline: { name: 'fastify.protected' },
    measure: async (options): Promise<Measurement> => {
      const s = await shared(options);
      return {
        rounds: s.rounds.delegated,
        baselineRounds: s.rounds.protected,
        latencies: s.latencies.delegated,
        note:
          `${s.note}; the protected app's options and policy, the same delegated token on every ` +
          `request (sub a user, tenant_id, an act chain of two services); ` +
          `targets: ${targets(s)}; ${cpuNote(s, 'delegated', 'protected')}; ` +
          unloadedNote(s, 'delegated', 'protected'),
      };
    },
  },
  {
    name: 'fastify.protected.minimal',
    baseline: { name: 'fastify.noauth' },
    measure: async (options): Promise<Measurement> => {
      const s = await shared(options);
      return {
        rounds: s.rounds.protected_minimal,
        baselineRounds: s.rounds.noauth,
        latencies: s.latencies.protected_minimal,
        note:
          `${s.note}; the plugin with rateLimit: false and auditDestination: false, the same ` +
          `token on every request; ` +
          unloadedNote(s, 'protected_minimal'),
      };
    },
  },
  {
    name: 'fastify.fastify_jwt',
    measure: async (options): Promise<Measurement> => {
      const s = await shared(options);
      return {
        rounds: s.rounds.fastify_jwt,
        latencies: s.latencies.fastify_jwt,
        note:
          `${s.note}; @fastify/jwt ES256, verify.cache: true with cacheKeyBuilder returning the ` +
          `token, a synchronous hook, the same token on every request; ` +
          `fastify.protected is ${ratio(s.rounds.protected, s.rounds.fastify_jwt)}x this; ` +
          unloadedNote(s, 'fastify_jwt'),
      };
    },
  },
  {
    name: 'fastify.uncached',
    baseline: { name: 'crypto.verify' },
    measure: async (options): Promise<Measurement> => {
      const s = await shared(options);
      return {
        rounds: s.rounds.uncached,
        baselineRounds: s.ceilings,
        latencies: s.latencies.uncached,
        note:
          `${s.note}; a fresh token on every request, verifier cache off; baseline one raw ` +
          `ES256 verify, measured in the uncached app's process between rounds`,
      };
    },
  },
];
