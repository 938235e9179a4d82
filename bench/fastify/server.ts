/**
 * One Fastify app under load, run as its own process (`spawnBenchChild`, pinned to one CPU), one
 * process per variant: the same `GET /invoices/:id` route on a loopback port, with the same logger
 * settings in every variant (Fastify's per-request logging off, `warn` and above counted, not
 * printed). The runner's `start` says which variant:
 *
 * - `noauth`: no authentication at all;
 * - `protected`: the Tessera plugin with a local verifier (verified-token cache on), the per-caller
 *   rate limit, and the audit events going to a real file through `auditDestination:
 *   auditFileDestination(file)` (hand-serialized lines, asynchronous, one write per turn);
 * - `delegated`: exactly `protected` (same plugin options, same policy), loaded with a delegated
 *   token instead: `sub` a user, `tenant_id`, an `act` chain of two services whose nearest is the
 *   service `protected`'s token names (the route's policy admits it: `user` and `delegated` are
 *   `allowed` by default);
 * - `protected_minimal`: the same plugin with the rate limit and the audit events off;
 * - `fastify_jwt`: `@fastify/jwt` in its fastest configuration: ES256, `verify: { cache: true,
 *   cacheKeyBuilder: token => token }` (no hash of the token per request), and a synchronous
 *   `onRequest` hook calling `request.jwtVerify(callback)`;
 * - `uncached`: the Tessera plugin with the verifier's cache off (every request a fresh token).
 *
 * Between load rounds the `uncached` process measures, on the same CPU, one raw ES256 verify of
 * an access token: the `fastify.uncached` baseline.
 */
import { createPrivateKey, verify } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fastifyJwt, { type FastifyJwtVerifyOptions } from '@fastify/jwt';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import {
  createVerifier,
  KeySet,
  mintAccessToken,
  parsePolicy,
  type SigningKey,
  signingKeyFromPrivateKey,
  systemClock,
} from '@tessera/core';
import { auditFileDestination, tessera } from '@tessera/fastify';
import { runBenchmark } from '../harness.ts';
import { serveParent } from '../authority/child-process.ts';
import type {
  Ceiling,
  ServerClosed,
  ServerRequest,
  ServerStarted,
  ServerUsage,
  Variant,
} from './messages.ts';

const ISSUER = 'http://127.0.0.1:7700';
const SERVICE = 'billing';
const AUDIENCE = 'spiffe://tessera.local/billing';
const CALLER = 'spiffe://tessera.local/api-gateway';
/** The delegated token's user, tenant, and the actor before {@link CALLER} (`act.act.sub`). */
const USER = 'alice';
const USER_ISSUER = 'http://127.0.0.1:7704';
const TENANT = 'acme';
const PREVIOUS_ACTOR = 'spiffe://tessera.local/web-frontend';
const SCOPE = 'invoices:read';
/**
 * The plugin's default is 1,000 requests per second per caller: a load from one caller would be
 * refused with 429 after the first thousand. High enough never to trigger, still evaluated.
 */
const RATE_LIMIT = { max: 1_000_000_000, timeWindowMs: 1000 };

const policy = parsePolicy(`
version: 1
trustDomain: tessera.local
services:
  api-gateway: {}
  ${SERVICE}:
    routes:
      - { method: GET, path: /invoices/:id, allow: [{ service: api-gateway, scopes: [${SCOPE}] }] }
`);

const dir = await mkdtemp(join(tmpdir(), 'tessera-bench-fastify-'));
const auditFile = join(dir, 'audit.log');
const audit = auditFileDestination(auditFile);

let warnLines = 0;
/** Requests the app's HTTP server received, for CPU time per request (`usage`). */
let served = 0;
let lastWarnLine: string | undefined;

/** The same logger settings for every variant; the counting sink writes nothing anywhere. */
function app(): FastifyInstance {
  return Fastify({
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
}

function route(instance: FastifyInstance): void {
  instance.get<{ Params: { id: string } }>('/invoices/:id', (request) => ({
    id: request.params.id,
    amount: 4200,
    currency: 'EUR',
  }));
}

function verifier(key: SigningKey, cache: boolean) {
  return createVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    keys: new KeySet([key]),
    clock: systemClock,
    ...(cache ? {} : { cache: false as const }),
  });
}

async function build(variant: Variant, key: SigningKey): Promise<FastifyInstance> {
  const instance = app();
  switch (variant) {
    case 'noauth':
      break;
    case 'protected':
    case 'delegated':
    case 'uncached':
      await instance.register(tessera, {
        service: SERVICE,
        policy,
        verifier: verifier(key, variant !== 'uncached'),
        auditDestination: audit,
        rateLimit: RATE_LIMIT,
      });
      break;
    case 'protected_minimal':
      await instance.register(tessera, {
        service: SERVICE,
        policy,
        verifier: verifier(key, true),
        auditDestination: false,
        rateLimit: false,
      });
      break;
    case 'fastify_jwt':
      await instance.register(fastifyJwt, {
        secret: { public: key.key.export({ format: 'pem', type: 'spki' }).toString() },
        verify: {
          algorithms: ['ES256'],
          cache: true,
          // fast-jwt's default cache key is a SHA-256 of the token; the token itself is cheaper.
          cacheKeyBuilder: (token: string) => token,
          allowedIss: ISSUER,
          allowedAud: AUDIENCE,
        },
      });
      // Synchronous: no promise per request (the callback form of jwtVerify). Options must be
      // undefined, not omitted: `jwtVerify(callback)` counts as per-call options and builds a new
      // fast-jwt verifier, with an empty cache, on every request.
      instance.addHook('onRequest', (request, _reply, done) => {
        request.jwtVerify(undefined as unknown as FastifyJwtVerifyOptions, (error) => {
          done(error ?? undefined);
        });
      });
      break;
  }
  route(instance);
  // A plain listener next to Fastify's, the same in every variant: no hook in the request path.
  instance.server.on('request', () => {
    served++;
  });
  await instance.listen({ host: '127.0.0.1', port: 0 });
  return instance;
}

function urlOf(instance: FastifyInstance): string {
  const address = instance.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no listening address');
  return `http://127.0.0.1:${address.port}`;
}

/** One raw ES256 verify of an access token of the size the load sends. */
function rawVerify(key: SigningKey): () => boolean {
  const token = mintAccessToken(
    { issuer: ISSUER, subject: CALLER, audience: AUDIENCE, scopes: [SCOPE] },
    { key, clock: systemClock },
  ).token;
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const input = Buffer.from(`${header}.${payload}`);
  const sig = Buffer.from(signature, 'base64url');
  const verifyKey = { key: key.key, dsaEncoding: 'ieee-p1363' as const };
  return () => {
    if (!verify('sha256', input, verifyKey, sig)) throw new Error('baseline did not verify');
    return true;
  };
}

let running: { app: FastifyInstance; baseline: () => boolean } | undefined;

async function handle(
  request: ServerRequest,
): Promise<ServerStarted | Ceiling | ServerUsage | ServerClosed> {
  switch (request.type) {
    case 'start': {
      if (running !== undefined) throw new Error('already started');
      const key = signingKeyFromPrivateKey(createPrivateKey(request.privateKeyPem), 'ES256');
      running = { app: await build(request.variant, key), baseline: rawVerify(key) };
      return {
        url: urlOf(running.app),
        issuer: ISSUER,
        audience: AUDIENCE,
        subject: CALLER,
        scopes: [SCOPE],
        delegation: {
          user: USER,
          userIssuer: USER_ISSUER,
          tenant: TENANT,
          previousActor: PREVIOUS_ACTOR,
        },
      };
    }
    case 'ceiling': {
      if (running === undefined) throw new Error('not started');
      const report = await runBenchmark(
        { name: 'crypto.verify', fn: running.baseline },
        { durationMs: request.durationMs, rounds: 1 },
      );
      return { opsPerSec: report.rounds[0]! };
    }
    case 'usage': {
      const { user, system } = process.cpuUsage();
      return { cpuMicros: user + system, served };
    }
    case 'close': {
      await running?.app.close();
      await new Promise<void>((resolve) => {
        audit.flush(() => {
          resolve();
        });
      });
      const auditBytes = (await stat(auditFile)).size;
      await rm(dir, { recursive: true, force: true });
      return { auditBytes, warnLines, lastWarnLine };
    }
  }
}

serveParent<ServerRequest>({ pid: process.pid }, handle, (request) => request.type === 'close');
