/**
 * @tessera/authority benchmarks: real HTTP on 127.0.0.1 against a dev-mode authority (SQLite).
 * Names are published (see bench/README.md): do not rename.
 *
 * Three processes besides the authority's workers: the authority's primary (`authority/server.ts`),
 * autocannon (`authority/load.ts`) and this runner, which only coordinates. By default the
 * authority runs 2 worker processes (`TESSERA_BENCH_AUTHORITY_WORKERS`), one per core of the
 * 2-core machine; nothing is pinned then and autocannon shares the cores. With 1 the authority
 * is one process pinned to CPU 0 and autocannon to CPU 1. Baseline and load rounds alternate: the
 * baseline is the raw ES256 work the endpoint cannot do without, measured in the authority's
 * process on one thread per worker, all at once, while no load runs, so candidate and baseline
 * are given the same number of cores; the published line says how many (`cores`).
 */
import { generateKeyPairSync } from 'node:crypto';
import {
  createCertificationRequest,
  generateSigningKey,
  JWT_BEARER_ASSERTION_TYPE,
  mintClientAssertion,
  type SigningKey,
  systemClock,
} from '@tessera/core';
import { canPin, spawnBenchChild, type BenchChild } from './authority/child-process.ts';
import {
  authorityWorkers,
  type AuthorityClosed,
  type AuthorityReady,
  type AuthorityRequest,
  type Ceiling,
  type CryptoWork,
  type LoadRequest,
  type LoadResult,
} from './authority/messages.ts';
import type { LoadBenchmark, Measurement, RunOptions } from './harness.ts';

const SERVER_CPU = 0;
const LOAD_CPU = 1;
/** The "64 concurrent clients": connections, each with one request in flight. */
const CONNECTIONS = 64;
/** Load runs for this many times `--duration` (10 s by default), split into the rounds. */
const LOAD_TIME_PER_DURATION = 10;
// Rounds shorter than this have too few responses for a p99; longer ones mint too much up front.
const MIN_ROUND_MS = 250;
const MAX_ROUND_MS = 10_000;
/**
 * Warm-up before the measured rounds. With two workers each compiles its own code: after 2 s the
 * first round still ran 10-15 % below the later ones, after 5 s it did not.
 */
const MAX_WARMUP_MS = 5000;
const WARMUP_ROUNDS = 2.5;
const MAX_BASELINE_ROUND_MS = 2000;
/** Long enough to outlive minting plus the longest round; the authority accepts at most 300 s. */
const ASSERTION_LIFETIME_S = 120;
/**
 * Assertions minted per round: what the measured baseline would allow in the round, with this
 * much to spare. The baseline is the authority's own crypto ceiling, so it cannot go faster.
 */
const ASSERTION_HEADROOM = 1.5;
/** Distinct access tokens the introspection load cycles through. */
const INTROSPECTED_TOKENS = 256;
const STARTUP_TIMEOUT_MS = 30_000;
const SLACK_MS = 30_000;
/** Set to a directory to write a V8 CPU profile of the authority (`node --cpu-prof`). */
const CPU_PROFILE_DIR = process.env.TESSERA_BENCH_CPU_PROF;

const TRUST_DOMAIN = 'tessera.local';
const CLIENT = 'bench-client';
const TARGET = 'bench-target';
const SCOPE = 'reports:read';
const TOKEN_PATH = '/oauth2/token';
const TOKEN_FIELDS = { grant_type: 'client_credentials', audience: TARGET, scope: SCOPE };

interface Endpoint {
  readonly name: string;
  readonly path: string;
  readonly baseline: { readonly name: string; readonly work: CryptoWork };
  /** Form fields of every request besides the client assertion (and `token`). */
  readonly fields: Readonly<Record<string, string>>;
  /** Whether requests carry an access token to introspect. */
  readonly introspects: boolean;
  /** Whether requests carry a user token of the stub OpenID issuer to exchange. */
  readonly exchanges?: boolean;
  /** Whether a 200 body is the answer to a valid request. */
  readonly accepts: (body: Record<string, unknown>) => boolean;
}

const ENDPOINTS: readonly Endpoint[] = [
  {
    name: 'authority.client_credentials',
    path: TOKEN_PATH,
    baseline: { name: 'crypto.verify+sign', work: 'verify+sign' },
    fields: TOKEN_FIELDS,
    introspects: false,
    accepts: (body) => typeof body.access_token === 'string' && body.scope === SCOPE,
  },
  {
    name: 'authority.introspect',
    path: '/oauth2/introspect',
    baseline: { name: 'crypto.verify+verify', work: 'verify+verify' },
    fields: {},
    introspects: true,
    accepts: (body) => body.active === true,
  },
  {
    name: 'authority.svid_x509',
    path: '/v1/svid/x509',
    baseline: { name: 'crypto.sign', work: 'sign' },
    // One CSR for every request: the authority takes only its key, and signs a new certificate
    // (new serial, recorded in the store, audited) each time.
    fields: {
      csr: createCertificationRequest(
        generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
      ),
    },
    introspects: false,
    accepts: (body) => typeof body.svid === 'string' && typeof body.bundle === 'string',
  },
  {
    name: 'authority.token_exchange',
    path: TOKEN_PATH,
    baseline: { name: 'crypto.verify+verify+sign', work: 'verify+verify+sign' },
    // A user token of the stub OpenID issuer (ES256, verified against its JWKS every time) for a
    // delegated token to the target: the client assertion's verify, the subject's, one sign.
    fields: {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      audience: TARGET,
      scope: SCOPE,
    },
    introspects: false,
    exchanges: true,
    accepts: (body) =>
      typeof body.access_token === 'string' &&
      body.issued_token_type === 'urn:ietf:params:oauth:token-type:access_token' &&
      body.scope === SCOPE,
  },
];

interface Fixture {
  readonly authority: AuthorityReady;
  /** Who sends the measured requests: the client, or for introspection the tokens' audience. */
  readonly clientId: string;
  readonly clientKey: SigningKey;
  /** Valid tokens for the introspection (`token`) or token exchange (`subject_token`) load. */
  readonly tokens: readonly string[];
  /** When the first of `tokens` expires (epoch ms); Infinity without tokens. */
  readonly tokensValidUntilMs: number;
}

function assertion(
  fixture: Fixture,
  options: { key?: SigningKey; audience?: string; clockSkewMs?: number } = {},
): string {
  const skew = options.clockSkewMs ?? 0;
  return mintClientAssertion(
    { clientId: fixture.clientId, audience: options.audience ?? fixture.authority.issuer },
    { key: options.key ?? fixture.clientKey, clock: { now: () => systemClock.now() + skew } },
  );
}

function unsignedAssertion(fixture: Fixture): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(systemClock.now() / 1000);
  const claims = {
    iss: fixture.clientId,
    sub: fixture.clientId,
    aud: fixture.authority.issuer,
    iat: now,
    exp: now + 60,
    jti: 'unsigned',
  };
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(claims)}.`;
}

/**
 * Requests each endpoint must refuse with 401 before it is loaded: a benchmark of an endpoint
 * that lets these through would measure a broken authority. `accepted` is an assertion the
 * endpoint has just accepted.
 */
const FORGED_ASSERTIONS: readonly {
  readonly forgery: string;
  readonly assertion: (fixture: Fixture, accepted: string) => string;
}[] = [
  { forgery: 'garbage', assertion: () => 'garbage' },
  { forgery: 'alg none, unsigned', assertion: (f) => unsignedAssertion(f) },
  {
    forgery: 'signed by an unregistered key',
    assertion: (f) => assertion(f, { key: generateSigningKey() }),
  },
  { forgery: 'replayed', assertion: (_, accepted) => accepted },
  {
    forgery: 'for another audience',
    assertion: (f) => assertion(f, { audience: 'http://127.0.0.1:1' }),
  },
  { forgery: 'expired', assertion: (f) => assertion(f, { clockSkewMs: -10 * 60_000 }) },
];

async function post(
  url: string,
  form: Readonly<Record<string, string>>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...form }).toString(),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
  };
}

function clientForm(clientAssertion: string): Record<string, string> {
  return { client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: clientAssertion };
}

async function registerService(
  authority: AuthorityReady,
  service: { name: string; audiences: string[]; scopes: string[]; key: SigningKey },
): Promise<void> {
  const response = await fetch(`${authority.url}/v1/admin/services`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${authority.adminToken}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({
      name: service.name,
      audiences: service.audiences,
      scopes: service.scopes,
      jwks: { keys: [service.key.publicJwk] },
    }),
  });
  if (response.status !== 201 && response.status !== 200) {
    throw new Error(`registering ${service.name}: HTTP ${response.status}`);
  }
}

/** Registers the target and the client, and for introspection issues the tokens to introspect. */
async function prepareFixture(authority: AuthorityReady, endpoint: Endpoint): Promise<Fixture> {
  const targetKey = generateSigningKey();
  await registerService(authority, {
    name: TARGET,
    audiences: [],
    scopes: [],
    key: targetKey,
  });
  const clientKey = generateSigningKey();
  await registerService(authority, {
    name: CLIENT,
    audiences: [TARGET],
    scopes: [SCOPE],
    key: clientKey,
  });
  const fixture: Fixture = {
    authority,
    clientId: `spiffe://${TRUST_DOMAIN}/${CLIENT}`,
    clientKey,
    tokens: [],
    tokensValidUntilMs: Infinity,
  };
  if (endpoint.exchanges === true) {
    return {
      ...fixture,
      tokens: authority.userTokens,
      tokensValidUntilMs: authority.userTokensValidUntilMs,
    };
  }
  if (!endpoint.introspects) return fixture;
  // Taken before the requests, so validity is judged on the safe side.
  const issuedAt = systemClock.now();
  const issued = await Promise.all(
    Array.from({ length: INTROSPECTED_TOKENS }, async () => {
      const { status, body } = await post(`${authority.url}${TOKEN_PATH}`, {
        ...TOKEN_FIELDS,
        ...clientForm(assertion(fixture)),
      });
      if (status !== 200 || typeof body.access_token !== 'string') {
        throw new Error(`issuing a token to introspect: HTTP ${status}`);
      }
      if (typeof body.expires_in !== 'number') throw new Error('a token without expires_in');
      return { token: body.access_token, validUntilMs: issuedAt + body.expires_in * 1000 };
    }),
  );
  // Only a token's audience (or an admin) learns that it is active: the target introspects.
  return {
    ...fixture,
    clientId: `spiffe://${TRUST_DOMAIN}/${TARGET}`,
    clientKey: targetKey,
    tokens: issued.map((t) => t.token),
    tokensValidUntilMs: Math.min(...issued.map((t) => t.validUntilMs)),
  };
}

/** One valid request must succeed and every forged one must get 401, or nothing is loaded. */
async function checkRefusals(endpoint: Endpoint, fixture: Fixture): Promise<void> {
  const url = `${fixture.authority.url}${endpoint.path}`;
  const form = (clientAssertion: string) => ({
    ...endpoint.fields,
    ...clientForm(clientAssertion),
    ...(endpoint.introspects ? { token: fixture.tokens[0]! } : {}),
    ...(endpoint.exchanges === true ? { subject_token: fixture.tokens[0]! } : {}),
  });
  const accepted = assertion(fixture);
  const valid = await post(url, form(accepted));
  if (valid.status !== 200 || !endpoint.accepts(valid.body)) {
    throw new Error(`${endpoint.name}: a valid request got HTTP ${valid.status}`);
  }
  for (const { forgery, assertion: forge } of FORGED_ASSERTIONS) {
    const { status, body } = await post(url, form(forge(fixture, accepted)));
    if (status !== 401 || body.error !== 'invalid_client') {
      throw new Error(`${endpoint.name}: a forged assertion (${forgery}) got HTTP ${status}`);
    }
  }
}

/** Throws unless every request of the round got a 2xx answer. */
function checkRound(endpoint: Endpoint, result: LoadResult): void {
  if (result.exhausted) {
    throw new Error(
      `${endpoint.name}: the round needed more assertions than minted; raise ASSERTION_HEADROOM`,
    );
  }
  const refused = Object.entries(result.statuses).filter(([status]) => !status.startsWith('2'));
  if (refused.length > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(
      `${endpoint.name}: under load, responses by status ${JSON.stringify(result.statuses)}, ` +
        `${result.errors} connection errors, ${result.timeouts} timeouts`,
    );
  }
}

async function runRounds(
  endpoint: Endpoint,
  fixture: Fixture,
  children: { server: BenchChild<AuthorityRequest>; load: BenchChild<LoadRequest> },
  options: Required<RunOptions>,
): Promise<Omit<Measurement, 'note'> & { roundMs: number; warmupMs: number }> {
  const { server, load } = children;
  const roundMs = Math.min(
    Math.max((options.durationMs * LOAD_TIME_PER_DURATION) / options.rounds, MIN_ROUND_MS),
    MAX_ROUND_MS,
  );
  const warmupMs = Math.min(WARMUP_ROUNDS * roundMs, MAX_WARMUP_MS);
  const baselineMs = Math.min(options.durationMs / options.rounds, MAX_BASELINE_ROUND_MS);
  const clientKeyPem = fixture.clientKey.privateKey
    .export({ format: 'pem', type: 'pkcs8' })
    .toString();

  let cores = 0;
  const measureCeiling = async (): Promise<number> => {
    const measured = await server.request<Ceiling>(
      { type: 'ceiling', work: endpoint.baseline.work, durationMs: baselineMs },
      baselineMs * 2 + SLACK_MS,
    );
    cores = measured.threads;
    return measured.opsPerSec;
  };
  let ceiling = await measureCeiling();
  const loadRound = async (durationMs: number): Promise<LoadResult> => {
    // An expired token is introspected as `{ active: false }` with a 200: it would still count.
    if (fixture.tokensValidUntilMs < systemClock.now() + durationMs + SLACK_MS) {
      throw new Error(`${endpoint.name}: the introspected tokens would expire during the round`);
    }
    const assertions =
      Math.ceil(((ceiling * durationMs) / 1000) * ASSERTION_HEADROOM) + 2 * CONNECTIONS;
    const result = await load.request<LoadResult>(
      {
        type: 'load',
        url: `${fixture.authority.url}${endpoint.path}`,
        connections: CONNECTIONS,
        durationMs,
        fields: endpoint.fields,
        ...(endpoint.introspects ? { tokens: fixture.tokens } : {}),
        ...(endpoint.exchanges === true
          ? { tokens: fixture.tokens, tokenField: 'subject_token' }
          : {}),
        client: {
          id: fixture.clientId,
          privateKeyPem: clientKeyPem,
          audience: fixture.authority.issuer,
          assertionLifetimeSeconds: ASSERTION_LIFETIME_S,
        },
        assertions,
      },
      // Minting takes well under 1 ms an assertion.
      durationMs + assertions + SLACK_MS,
    );
    checkRound(endpoint, result);
    return result;
  };

  await loadRound(warmupMs);
  const rounds: number[] = [];
  const baselineRounds: number[] = [];
  const latencies: number[] = [];
  for (let r = 0; r < options.rounds; r++) {
    const roundCeiling = await measureCeiling();
    baselineRounds.push(roundCeiling);
    ceiling = Math.max(ceiling, roundCeiling);
    const result = await loadRound(roundMs);
    rounds.push((result.completed2xx * 1000) / roundMs);
    for (const latency of result.latencies) latencies.push(latency);
  }
  return { rounds, baselineRounds, latencies, cores, roundMs, warmupMs };
}

function describeMethod(
  workers: number,
  pinned: boolean,
  roundMs: number,
  warmupMs: number,
  rounds: number,
): string {
  const where =
    workers > 1
      ? `authority as ${workers} worker processes (--workers ${workers}), not pinned: they and ` +
        `autocannon share the machine's CPUs`
      : pinned
        ? `one authority process pinned to CPU ${SERVER_CPU}, autocannon to CPU ${LOAD_CPU} (taskset)`
        : 'one authority process, not pinned (no taskset or fewer than 2 CPUs)';
  return (
    `${where}; ${CONNECTIONS} connections, ${rounds} rounds of ${roundMs / 1000} s after a ` +
    `${warmupMs / 1000} s warm-up, a fresh client assertion per request; baseline: the raw ES256 ` +
    `work on ${workers} thread(s) at once, one per worker, measured between rounds; p50/p99 ` +
    `over every response`
  );
}

async function measureEndpoint(
  endpoint: Endpoint,
  options: Required<RunOptions>,
): Promise<Measurement> {
  const workers = authorityWorkers();
  // Two workers use both cores: then nothing is pinned and autocannon shares the machine.
  const pinned = workers === 1 && canPin([SERVER_CPU, LOAD_CPU]);
  const { child: server, ready } = await spawnBenchChild<AuthorityRequest>(
    new URL('./authority/server.ts', import.meta.url),
    {
      name: 'authority',
      cpu: pinned ? SERVER_CPU : undefined,
      nodeArgs:
        CPU_PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${CPU_PROFILE_DIR}`],
      readyTimeoutMs: STARTUP_TIMEOUT_MS,
    },
  );
  let measured: Awaited<ReturnType<typeof runRounds>>;
  try {
    const fixture = await prepareFixture(ready as AuthorityReady, endpoint);
    await checkRefusals(endpoint, fixture);
    const { child: load } = await spawnBenchChild<LoadRequest>(
      new URL('./authority/load.ts', import.meta.url),
      {
        name: 'load generator',
        cpu: pinned ? LOAD_CPU : undefined,
        readyTimeoutMs: STARTUP_TIMEOUT_MS,
      },
    );
    try {
      measured = await runRounds(endpoint, fixture, { server, load }, options);
    } finally {
      await load.stop({ type: 'close' }, SLACK_MS);
    }
  } catch (error) {
    await server.stop({ type: 'close' }, SLACK_MS).catch(() => undefined);
    throw error;
  }
  const closed = await server.stop<AuthorityClosed>({ type: 'close' }, SLACK_MS);
  if (closed !== undefined && closed.errorLines > 0) {
    throw new Error(
      `${endpoint.name}: the authority logged ${closed.errorLines} error(s), the last: ${closed.lastErrorLine ?? ''}`,
    );
  }
  const { roundMs, warmupMs, ...measurement } = measured;
  return {
    ...measurement,
    note: describeMethod(workers, pinned, roundMs, warmupMs, options.rounds),
  };
}

export const benchmarks: readonly LoadBenchmark[] = ENDPOINTS.map((endpoint) => ({
  name: endpoint.name,
  baseline: { name: endpoint.baseline.name },
  measure: (options) => measureEndpoint(endpoint, options),
}));
