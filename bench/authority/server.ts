/**
 * The authority under load, run as its own process (`spawnBenchChild`): a dev-mode authority with
 * SQLite in a temporary directory, as a cluster of `authorityWorkers()` processes (or, with one,
 * in this process, pinned to one CPU), logging at `warn` into a counting sink so no per-request
 * line is written. Between load rounds this process measures the raw signature work every
 * request needs at least, on as many threads as there are workers: the benchmark's baseline.
 */
import cluster from 'node:cluster';
import { sign } from 'node:crypto';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey } from '@tessera/core';
import {
  configDocument,
  createAuthorityLogger,
  isAuthorityWorker,
  prepareDevMode,
  runAuthorityWorker,
  startAuthority,
  startAuthorityCluster,
  validateConfig,
} from '@tessera/authority';
import { freePort } from '@tessera/authority/testing';
import { Worker } from 'node:worker_threads';
import { serveParent } from './child-process.ts';
import {
  authorityWorkers,
  type AuthorityClosed,
  type AuthorityReady,
  type AuthorityRequest,
  type Ceiling,
  type CeilingThreadRequest,
} from './messages.ts';

const AUTHORITY_WORKERS = authorityWorkers();

/** Distinct user tokens the token exchange load cycles through. */
const USER_TOKENS = 256;
const USER_TOKEN_LIFETIME_S = 3600;
/** The `aud` of the stub issuer's user tokens, and the actor and audience of token exchange. */
const USER_TOKEN_AUDIENCE = 'bench-gateway';
const BENCH_ACTOR = 'bench-client';
const BENCH_AUDIENCE = 'bench-target';
const BENCH_SCOPE = 'reports:read';
/**
 * The ticketing demo's users (`demo.chain`): tokens of a second stub issuer, for api-gateway, with
 * the chain's scopes and a `tenant_id`, as the demo's IdP issues them (examples/idp).
 */
const DEMO_USERS = 8;
const DEMO_AUDIENCE = 'spiffe://tessera.local/api-gateway';
const DEMO_SCOPE = 'events:read events:write invoices:read invoices:write';

/**
 * A ceiling thread. Node 20 does not run a worker thread's `.ts` entry through the loader the
 * process was started with (`--import tsx`), so the thread registers tsx before importing it.
 */
function startCeilingThread(): Worker {
  const entry = new URL('./ceiling-thread.ts', import.meta.url).href;
  return new Worker(
    `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`,
    { eval: true },
  );
}

let ceilingThreads: Worker[] | undefined;

/**
 * The baseline: the raw work on one thread per authority worker, all at once and while no load
 * runs, so the authority and its baseline are given the same number of cores.
 */
async function measureCeiling(request: CeilingThreadRequest): Promise<Ceiling> {
  ceilingThreads ??= Array.from({ length: AUTHORITY_WORKERS }, startCeilingThread);
  const rates = await Promise.all(
    ceilingThreads.map(async (thread) => {
      const answer = once(thread, 'message') as Promise<[number]>;
      thread.postMessage(request);
      return (await answer)[0];
    }),
  );
  return { opsPerSec: rates.reduce((sum, rate) => sum + rate, 0), threads: rates.length };
}

/** pino levels: 50 error, 60 fatal. Warnings (refused forged requests) are expected. */
const isErrorLine = (line: string) => /"level":[56]0/.test(line);

if (isAuthorityWorker()) {
  // A cluster worker: its error lines go to the primary, which reports them at close.
  await runAuthorityWorker({
    logger: createAuthorityLogger({
      level: 'warn',
      destination: {
        write(line: string) {
          if (isErrorLine(line)) process.send?.({ type: 'bench:error-line', line });
        },
      },
    }),
  });
} else {
  await servePrimary();
}

/**
 * A stub OpenID issuer in this process (discovery and JWKS on loopback, fetched once per worker)
 * and `count` ES256 user tokens with `claims(i)` besides `iss`, `iat` and `exp`: for
 * `authority.token_exchange`, and the demo's users for `demo.chain`.
 */
async function startUserIssuer(
  count: number,
  claims: (i: number) => Record<string, unknown>,
): Promise<{
  issuer: string;
  tokens: string[];
  validUntilMs: number;
  close: () => Promise<void>;
}> {
  const key = generateSigningKey('ES256');
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const server = createServer((request, response) => {
    response.setHeader('content-type', 'application/json');
    if (request.url === '/.well-known/openid-configuration') {
      response.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
    } else if (request.url === '/jwks') {
      response.end(JSON.stringify({ keys: [key.publicJwk] }));
    } else {
      response.statusCode = 404;
      response.end('{}');
    }
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const header = encode({ alg: 'ES256', kid: key.kid, typ: 'at+jwt' });
  const tokens = Array.from({ length: count }, (_, i) => {
    const input = `${header}.${encode({
      iss: issuer,
      iat: now,
      exp: now + USER_TOKEN_LIFETIME_S,
      ...claims(i),
    })}`;
    const signature = sign('sha256', Buffer.from(input), {
      key: key.privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    return `${input}.${signature.toString('base64url')}`;
  });
  return {
    issuer,
    tokens,
    validUntilMs: now * 1000 + USER_TOKEN_LIFETIME_S * 1000,
    close: () =>
      new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      ),
  };
}

async function servePrimary(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tessera-bench-authority-'));
  const dev = await prepareDevMode({
    dataDir,
    listen: { host: '127.0.0.1', port: await freePort() },
  });
  const { adminTokenPath } = dev;
  const userIssuer = await startUserIssuer(USER_TOKENS, (i) => ({
    sub: `user-${i}`,
    aud: USER_TOKEN_AUDIENCE,
    scope: BENCH_SCOPE,
    tenant: `tenant-${i % 4}`,
  }));
  const demoIssuer = await startUserIssuer(DEMO_USERS, (i) => ({
    sub: `user-${i}`,
    aud: DEMO_AUDIENCE,
    scope: DEMO_SCOPE,
    tenant_id: `tenant-${i % 2}`,
  }));
  // The stub issuer's users may be acted for by the bench client towards the bench target; the
  // demo's users as in the demo (examples/ticketing/src/main.ts, MAY_ACT).
  const config = validateConfig(
    {
      ...configDocument(dev.config),
      users: {
        issuers: [
          {
            issuer: userIssuer.issuer,
            audience: USER_TOKEN_AUDIENCE,
            tenantClaim: 'tenant',
            clients: [BENCH_ACTOR],
          },
          { issuer: demoIssuer.issuer, audience: DEMO_AUDIENCE, tenantClaim: 'tenant_id' },
        ],
      },
      tokenExchange: {
        mayAct: [
          { actor: BENCH_ACTOR, audiences: [BENCH_AUDIENCE] },
          { actor: 'api-gateway', audiences: ['event-service', 'billing'] },
          { actor: 'event-service', audiences: ['billing'] },
        ],
      },
    },
    { dev: true },
  );
  let errorLines = 0;
  let lastErrorLine: string | undefined;
  const countError = (line: string) => {
    errorLines++;
    lastErrorLine = line;
  };
  cluster.on('message', (_worker, message: { type?: unknown; line?: unknown }) => {
    if (message.type === 'bench:error-line' && typeof message.line === 'string') {
      countError(message.line);
    }
  });
  const logger = createAuthorityLogger({
    level: 'warn',
    destination: {
      write(line: string) {
        if (isErrorLine(line)) countError(line);
      },
    },
  });
  const running =
    AUTHORITY_WORKERS > 1
      ? await startAuthorityCluster(config, { workers: AUTHORITY_WORKERS, logger })
      : await startAuthority(config, { logger });
  const ready: AuthorityReady = {
    url: running.url,
    issuer: config.issuer,
    adminToken: (await readFile(adminTokenPath, 'utf8')).trim(),
    userTokens: userIssuer.tokens,
    userTokensValidUntilMs: userIssuer.validUntilMs,
    demoUsers: { issuer: demoIssuer.issuer, audience: DEMO_AUDIENCE, tokens: demoIssuer.tokens },
  };

  serveParent<AuthorityRequest>(
    ready,
    async (request): Promise<Ceiling | AuthorityClosed> => {
      if (request.type === 'ceiling') {
        return measureCeiling({
          work: request.work,
          issuer: config.issuer,
          durationMs: request.durationMs,
        });
      }
      await Promise.all((ceilingThreads ?? []).map((thread) => thread.terminate()));
      await running.close();
      await userIssuer.close();
      await demoIssuer.close();
      await rm(dataDir, { recursive: true, force: true });
      return { errorLines, lastErrorLine };
    },
    (request) => request.type === 'close',
  );
}
