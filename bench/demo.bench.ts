/**
 * The ticketing demo's chain under HTTP load: `POST /events` on api-gateway, which calls
 * event-service, which calls billing, with Tessera on every service (`demo.chain`) and with no
 * authentication at all (`demo.chain.noauth`). Names are published (see bench/README.md): do
 * not rename.
 *
 * As for `fastify.*`: the authority (`authority/server.ts`) and the two chains
 * (`demo/chain.ts`, one process per variant, the three services in each) are pinned to CPU 0,
 * autocannon (`demo/load.ts`) to CPU 1, and this runner only coordinates. The two chains are
 * loaded in alternating rounds (noauth, tessera, noauth, …) so both see the same machine
 * conditions; the two benchmarks share one such session, which the first of them to run starts.
 */
import { rm } from 'node:fs/promises';
import {
  generateSigningKey,
  mintAccessToken,
  serviceSpiffeId,
  type SigningKey,
  systemClock,
} from '@tessera/core';
import { canPin, spawnBenchChild, type BenchChild } from './authority/child-process.ts';
import type { AuthorityClosed, AuthorityReady, AuthorityRequest } from './authority/messages.ts';
import type {
  ChainClosed,
  ChainRequest,
  ChainStarted,
  ChainVariant,
  ChildReady,
  HttpLoadRequest,
  HttpLoadResult,
} from './demo/messages.ts';
import { CHAIN_VARIANTS } from './demo/messages.ts';
import {
  median,
  percentile,
  type LoadBenchmark,
  type Measurement,
  type RunOptions,
} from './harness.ts';

const SERVER_CPU = 0;
const LOAD_CPU = 1;
/**
 * Connections, each with one request in flight. Fewer than the 64 of the other load benchmarks:
 * one core serves all three services, and 8 requests in flight already keep it busy. On the
 * 2-core machine 64 gave no more throughput (noauth: 1,332 ops/s against 1,458 with 8), only
 * queueing (p50 36 ms, p99 298 ms, against 4.2 and 22 ms with 8), which would make the per-hop
 * latency mostly time spent waiting in line.
 */
const CONNECTIONS = 8;
/** Load runs for this many times `--duration` per variant (10 s by default), split into rounds. */
const LOAD_TIME_PER_DURATION = 10;
const MIN_ROUND_MS = 250;
const MAX_ROUND_MS = 10_000;
const MAX_WARMUP_MS = 2000;
const STARTUP_TIMEOUT_MS = 30_000;
const SLACK_MS = 30_000;
/** Set to a directory to write V8 CPU profiles of the authority and chains (`node --cpu-prof`). */
const CPU_PROFILE_DIR = process.env.TESSERA_BENCH_CPU_PROF;

/**
 * Verified hops per request: client → api-gateway (the user's token of the stub IdP),
 * api-gateway → event-service and event-service → billing (delegated tokens, exchanged at the
 * authority once per user and audience and then cached by the client's `delegate()`).
 */
const VERIFIED_HOPS = 3;
const SERVICES = ['api-gateway', 'event-service', 'billing'] as const;
/** The demo's own example request (banner.ts). */
const NEW_EVENT = JSON.stringify({ name: 'Tessera Live', priceCents: 4500 });

interface Fixture {
  readonly authority: AuthorityReady;
  readonly chains: Readonly<Record<ChainVariant, ChainStarted>>;
}

interface Session {
  readonly rounds: Readonly<Record<ChainVariant, number[]>>;
  readonly latencies: Readonly<Record<ChainVariant, number[]>>;
  readonly note: string;
}

interface Answer {
  readonly status: number;
  readonly json: unknown;
}

async function post(url: string, body: string, headers: Record<string, string>): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
    signal: AbortSignal.timeout(SLACK_MS),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json };
}

/** The `hops` of a created event, or undefined when the answer is not one. */
function hopsOf(answer: Answer): readonly Record<string, unknown>[] | undefined {
  const body = answer.json as { event?: unknown; invoice?: unknown; hops?: unknown } | undefined;
  if (answer.status !== 201 || body?.event === undefined || body.invoice === undefined) {
    return undefined;
  }
  return Array.isArray(body.hops) ? (body.hops as Record<string, unknown>[]) : undefined;
}

/**
 * Before any load: both chains must create an event through all three services (the `tessera`
 * one as a user of the stub IdP); in the `tessera` chain each hop must have seen the caller the
 * policy names, with one trace id, and the three authenticated services must refuse (401) a
 * request with no token, one that only says `x-gateway-internal: true` (the demo's audit
 * finding), and tokens signed by another key (under its own `kid`, and under the authority's). A
 * chain that let these through would be measured doing nothing.
 */
async function checkChains(fixture: Fixture): Promise<void> {
  const user = { authorization: `Bearer ${fixture.authority.demoUsers.tokens[0]!}` };
  for (const variant of CHAIN_VARIANTS) {
    const hops = hopsOf(
      await post(
        `${fixture.chains[variant].gateway}/events`,
        NEW_EVENT,
        variant === 'tessera' ? user : {},
      ),
    );
    if (hops?.length !== SERVICES.length) {
      throw new Error(
        `demo.chain (${variant}): POST /events did not go through the three services`,
      );
    }
    if (variant === 'noauth') continue;
    const { trustDomain } = fixture.chains.tessera;
    const expected = [
      null,
      serviceSpiffeId(trustDomain, SERVICES[0]),
      serviceSpiffeId(trustDomain, SERVICES[1]),
    ];
    if (
      hops.some((hop, i) => hop.service !== SERVICES[i] || hop.caller !== expected[i]) ||
      hops.some((hop) => typeof hop.traceId !== 'string' || hop.traceId !== hops[0]!.traceId)
    ) {
      throw new Error(`demo.chain: unexpected hops ${JSON.stringify(hops)}`);
    }
  }

  const jwks = (await (
    await fetch(`${fixture.authority.url}/.well-known/jwks.json`, {
      signal: AbortSignal.timeout(SLACK_MS),
    })
  ).json()) as { keys?: { kid?: unknown }[] };
  const kid = jwks.keys?.[0]?.kid;
  if (typeof kid !== 'string') throw new Error('demo.chain: the authority published no key');
  const stranger = generateSigningKey('ES256');
  const { chains, authority } = fixture;
  const { trustDomain } = chains.tessera;
  const targets = [
    {
      url: `${chains.tessera.gateway}/events`,
      body: NEW_EVENT,
      caller: SERVICES[1],
      audience: SERVICES[0],
      scopes: ['events:write'],
    },
    {
      url: `${chains.tessera.eventService}/events`,
      body: NEW_EVENT,
      caller: SERVICES[0],
      audience: SERVICES[1],
      scopes: ['events:write'],
    },
    {
      url: `${chains.tessera.billing}/invoices`,
      body: JSON.stringify({ eventId: 'evt-1', amountCents: 1 }),
      caller: SERVICES[1],
      audience: SERVICES[2],
      scopes: ['invoices:write'],
    },
  ];
  for (const target of targets) {
    const forge = (key: SigningKey): string =>
      mintAccessToken(
        {
          issuer: authority.issuer,
          subject: serviceSpiffeId(trustDomain, target.caller),
          audience: serviceSpiffeId(trustDomain, target.audience),
          scopes: target.scopes,
        },
        { key, clock: systemClock },
      ).token;
    const forgeries: readonly { forgery: string; headers: Record<string, string> }[] = [
      { forgery: 'no token', headers: {} },
      { forgery: 'x-gateway-internal: true, no token', headers: { 'x-gateway-internal': 'true' } },
      {
        forgery: 'signed by another key',
        headers: { authorization: `Bearer ${forge(stranger)}` },
      },
      {
        forgery: "signed by another key under the authority's kid",
        headers: { authorization: `Bearer ${forge({ ...stranger, kid })}` },
      },
    ];
    for (const { forgery, headers } of forgeries) {
      const { status } = await post(target.url, target.body, headers);
      if (status !== 401) {
        throw new Error(
          `demo.chain: ${target.audience} answered a forged request (${forgery}) with HTTP ${status}`,
        );
      }
    }
  }
}

/** Throws unless every request of the round got a 2xx answer. */
function checkRound(variant: ChainVariant, result: HttpLoadResult): void {
  const refused = Object.entries(result.statuses).filter(([status]) => !status.startsWith('2'));
  if (refused.length > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(
      `demo.chain (${variant}): under load, responses by status ${JSON.stringify(result.statuses)}, ` +
        `${result.errors} connection errors, ${result.timeouts} timeouts`,
    );
  }
}

async function runRounds(
  fixture: Fixture,
  load: BenchChild<HttpLoadRequest>,
  options: Required<RunOptions>,
): Promise<Omit<Session, 'note'> & { roundMs: number; warmupMs: number }> {
  const roundMs = Math.min(
    Math.max((options.durationMs * LOAD_TIME_PER_DURATION) / options.rounds, MIN_ROUND_MS),
    MAX_ROUND_MS,
  );
  const warmupMs = Math.min(roundMs, MAX_WARMUP_MS);
  const loadRound = async (variant: ChainVariant, durationMs: number): Promise<HttpLoadResult> => {
    const result = await load.request<HttpLoadResult>(
      {
        type: 'load',
        url: `${fixture.chains[variant].gateway}/events`,
        method: 'POST',
        body: NEW_EVENT,
        // The demo's users, in turn: each one's delegated tokens are exchanged once, then cached.
        ...(variant === 'tessera'
          ? { authorizations: fixture.authority.demoUsers.tokens.map((t) => `Bearer ${t}`) }
          : {}),
        connections: CONNECTIONS,
        durationMs,
      },
      durationMs + SLACK_MS,
    );
    checkRound(variant, result);
    return result;
  };

  for (const variant of CHAIN_VARIANTS) await loadRound(variant, warmupMs);
  const rounds: Record<ChainVariant, number[]> = { noauth: [], tessera: [] };
  const latencies: Record<ChainVariant, number[]> = { noauth: [], tessera: [] };
  for (let r = 0; r < options.rounds; r++) {
    for (const variant of CHAIN_VARIANTS) {
      const result = await loadRound(variant, roundMs);
      rounds[variant].push((result.completed2xx * 1000) / roundMs);
      for (const latency of result.latencies) latencies[variant].push(latency);
    }
  }
  return { rounds, latencies, roundMs, warmupMs };
}

async function measureSession(options: Required<RunOptions>, dirs: string[]): Promise<Session> {
  const pinned = canPin([SERVER_CPU, LOAD_CPU]);
  const cpu = (which: number): number | undefined => (pinned ? which : undefined);
  const nodeArgs =
    CPU_PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${CPU_PROFILE_DIR}`];
  const chainChildren: BenchChild<ChainRequest>[] = [];
  const stopChains = (): Promise<(ChainClosed | undefined)[]> =>
    Promise.all(chainChildren.map((child) => child.stop<ChainClosed>({ type: 'close' }, SLACK_MS)));
  // A child that does not get ready in time is killed by spawnBenchChild.
  const { child: authorityChild, ready } = await spawnBenchChild<AuthorityRequest>(
    new URL('./authority/server.ts', import.meta.url),
    { name: 'authority', cpu: cpu(SERVER_CPU), nodeArgs, readyTimeoutMs: STARTUP_TIMEOUT_MS },
  );
  const authority = ready as AuthorityReady;
  let measured: Awaited<ReturnType<typeof runRounds>>;
  try {
    const chains = {} as Record<ChainVariant, ChainStarted>;
    for (const variant of CHAIN_VARIANTS) {
      const { child, ready: chainReady } = await spawnBenchChild<ChainRequest>(
        new URL('./demo/chain.ts', import.meta.url),
        {
          name: `ticketing chain (${variant})`,
          cpu: cpu(SERVER_CPU),
          nodeArgs,
          readyTimeoutMs: STARTUP_TIMEOUT_MS,
        },
      );
      chainChildren.push(child);
      dirs.push((chainReady as ChildReady).dir);
      chains[variant] = await child.request<ChainStarted>(
        variant === 'tessera' ? { type: 'start', variant, authority } : { type: 'start', variant },
        STARTUP_TIMEOUT_MS,
      );
    }
    const fixture: Fixture = { authority, chains };
    await checkChains(fixture);
    const { child: load } = await spawnBenchChild<HttpLoadRequest>(
      new URL('./demo/load.ts', import.meta.url),
      { name: 'load generator', cpu: cpu(LOAD_CPU), readyTimeoutMs: STARTUP_TIMEOUT_MS },
    );
    try {
      measured = await runRounds(fixture, load, options);
    } finally {
      await load.stop({ type: 'close' }, SLACK_MS);
    }
  } catch (error) {
    await stopChains().catch(() => undefined);
    await authorityChild.stop({ type: 'close' }, SLACK_MS).catch(() => undefined);
    throw error;
  }
  // The chains first: their revocation streams and keep-alive sockets end with them.
  let closed: (ChainClosed | undefined)[];
  let authorityClosed: AuthorityClosed | undefined;
  try {
    closed = await stopChains();
  } finally {
    authorityClosed = await authorityChild.stop<AuthorityClosed>({ type: 'close' }, SLACK_MS);
  }
  CHAIN_VARIANTS.forEach((variant, i) => {
    const report = closed[i];
    if (report !== undefined && report.warnLines > 0) {
      throw new Error(
        `demo.chain (${variant}): a service logged ${report.warnLines} warning(s) or worse, the last: ${report.lastWarnLine ?? ''}`,
      );
    }
    if (variant === 'tessera' && report?.auditBytes === 0) {
      throw new Error('demo.chain: the plugin wrote no audit events');
    }
  });
  if (authorityClosed !== undefined && authorityClosed.errorLines > 0) {
    throw new Error(
      `demo.chain: the authority logged an error: ${authorityClosed.lastErrorLine ?? ''}`,
    );
  }
  const { roundMs, warmupMs, ...session } = measured;
  const where = pinned
    ? `authority and chains pinned to CPU ${SERVER_CPU} (one process per chain, its three services in it), autocannon to CPU ${LOAD_CPU} (taskset)`
    : 'not pinned (no taskset or fewer than 2 CPUs): services and autocannon share the CPUs';
  return {
    ...session,
    note:
      `${where}; ${CONNECTIONS} connections, POST /events on api-gateway (→ event-service → ` +
      `billing), chains alternating in ${options.rounds} rounds of ${roundMs / 1000} s each ` +
      `after a ${warmupMs / 1000} s warm-up each; p50/p99 over every response`,
  };
}

/** Runs the session; removes the chains' temporary directories on every path. */
async function measureAll(options: Required<RunOptions>): Promise<Session> {
  const dirs: string[] = [];
  try {
    return await measureSession(options, dirs);
  } finally {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  }
}

// The two benchmarks share one session: the first to run starts it, the other reuses it.
let session: { options: string; result: Promise<Session> } | undefined;

function shared(options: Required<RunOptions>): Promise<Session> {
  const key = JSON.stringify(options);
  if (session?.options !== key) session = { options: key, result: measureAll(options) };
  return session.result;
}

/** The added latency per verified hop, from the medians of both chains. */
function perHop(s: Session): string {
  const p50 = (variant: ChainVariant) => percentile(s.latencies[variant], 50);
  const perRequestMs = (variant: ChainVariant) => 1000 / median(s.rounds[variant]);
  const latency = (p50('tessera') - p50('noauth')) / VERIFIED_HOPS;
  const work = (perRequestMs('tessera') - perRequestMs('noauth')) / VERIFIED_HOPS;
  return (
    `added latency per verified hop (${VERIFIED_HOPS} hops: client → api-gateway with the ` +
    `user's token, api-gateway → event-service and event-service → billing with delegated ` +
    `tokens, exchanged once per user and cached): ` +
    `(p50 ${p50('tessera').toFixed(2)} ms − ${p50('noauth').toFixed(2)} ms) / ${VERIFIED_HOPS} = ` +
    `${latency.toFixed(2)} ms at ${CONNECTIONS} requests in flight; added CPU time per hop ` +
    `(1 / ops_per_s of each, one core serving the chain) ${work.toFixed(3)} ms`
  );
}

export const benchmarks: readonly LoadBenchmark[] = [
  {
    name: 'demo.chain.noauth',
    measure: async (options): Promise<Measurement> => {
      const s = await shared(options);
      return {
        rounds: s.rounds.noauth,
        latencies: s.latencies.noauth,
        note: `${s.note}; no plugin, plain undici calls`,
      };
    },
  },
  {
    name: 'demo.chain',
    baseline: { name: 'demo.chain.noauth' },
    measure: async (options): Promise<Measurement> => {
      const s = await shared(options);
      return {
        rounds: s.rounds.tessera,
        baselineRounds: s.rounds.noauth,
        latencies: s.latencies.tessera,
        note: `${s.note}; the plugin on all three services, the user's token at the gateway and a delegated token per hop behind it (the stub IdP's users in turn); ${perHop(s)}`,
      };
    },
  },
];
