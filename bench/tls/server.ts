/**
 * One server of the `fastify.tls`/`fastify.mtls`/`tls.handshake.*` benchmarks, run as its own
 * process (`spawnBenchChild`, pinned to one CPU), one process per variant:
 *
 * - `fastify`: `GET /invoices/:id` behind the Tessera plugin (rate limit and audit events off,
 *   as `fastify.protected.minimal`), over HTTPS. `tls`: server-only TLS, a bearer token identifies
 *   the caller. `mtls`: `tesseraHttpsOptions` (client certificates required, the bundle only) and
 *   `mtls: { mode: 'required' }`, the caller's token bound to its certificate;
 * - `handshake`: a bare TLS listener with the same options that writes one byte once the
 *   handshake is complete (the client's certificate checked, for `mtls`) and closes.
 */
import { constants, createPrivateKey } from 'node:crypto';
import { createServer, type Server, type TlsOptions } from 'node:tls';
import type { AddressInfo } from 'node:net';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import {
  createVerifier,
  KeySet,
  parsePolicy,
  signingKeyFromPrivateKey,
  systemClock,
} from '@tessera/core';
import { tessera, tesseraHttpsOptions } from '@tessera/fastify';
import { serveParent } from '../authority/child-process.ts';
import type {
  TlsMaterial,
  TlsServerClosed,
  TlsServerRequest,
  TlsServerStarted,
  TlsServerUsage,
  TlsVariant,
} from './messages.ts';

const ISSUER = 'https://127.0.0.1:7700';
const AUDIENCE = 'spiffe://tessera.local/billing';
const CALLER = 'spiffe://tessera.local/api-gateway';
const SCOPE = 'invoices:read';

const policy = parsePolicy(`
version: 1
trustDomain: tessera.local
services:
  api-gateway: {}
  billing:
    routes:
      - { method: GET, path: /invoices/:id, allow: [{ service: api-gateway, scopes: [${SCOPE}] }] }
`);

/** Requests answered (fastify) or handshakes completed (handshake), for CPU time per operation. */
let served = 0;
let warnLines = 0;
let lastWarnLine: string | undefined;

/** TLS options of a variant: the same certificate and versions; `mtls` adds client certificates. */
function tlsOptions(variant: TlsVariant, material: TlsMaterial): TlsOptions {
  const identity = { key: material.serverKey, cert: material.serverCert, ca: material.ca };
  if (variant === 'mtls') return tesseraHttpsOptions(identity);
  return {
    key: identity.key,
    cert: identity.cert,
    minVersion: 'TLSv1.2',
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
  };
}

async function fastifyApp(
  variant: TlsVariant,
  material: TlsMaterial,
  privateKeyPem: string,
): Promise<FastifyInstance> {
  const key = signingKeyFromPrivateKey(createPrivateKey(privateKeyPem), 'ES256');
  const app = Fastify({
    https: tlsOptions(variant, material),
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
  }) as unknown as FastifyInstance;
  await app.register(tessera, {
    service: 'billing',
    policy,
    verifier: createVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      keys: new KeySet([key]),
      clock: systemClock,
    }),
    auditDestination: false,
    rateLimit: false,
    ...(variant === 'mtls' ? { mtls: { mode: 'required' as const } } : {}),
  });
  app.addHook('onResponse', (_request, _reply, done) => {
    served++;
    done();
  });
  app.get<{ Params: { id: string } }>('/invoices/:id', (request) => ({
    id: request.params.id,
    amount: 4200,
    currency: 'EUR',
  }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  return app;
}

function handshakeServer(variant: TlsVariant, material: TlsMaterial): Promise<Server> {
  const server = createServer(tlsOptions(variant, material), (socket) => {
    socket.on('error', () => undefined);
    served++;
    socket.end('k');
  });
  server.on('tlsClientError', () => undefined);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve(server);
    });
  });
}

let running: { close(): Promise<void>; port: number } | undefined;

async function handle(
  request: TlsServerRequest,
): Promise<TlsServerStarted | TlsServerClosed | TlsServerUsage> {
  if (request.type === 'usage') {
    const { user, system } = process.cpuUsage();
    return { cpuMicros: user + system, served };
  }
  if (request.type === 'close') {
    await running?.close();
    return { warnLines, lastWarnLine };
  }
  if (running !== undefined) throw new Error('already started');
  if (request.kind === 'fastify') {
    const app = await fastifyApp(request.variant, request.material, request.privateKeyPem);
    running = { close: () => app.close(), port: (app.server.address() as AddressInfo).port };
  } else {
    const server = await handshakeServer(request.variant, request.material);
    running = {
      close: () =>
        new Promise((resolve) => {
          server.close(() => {
            resolve();
          });
        }),
      port: (server.address() as AddressInfo).port,
    };
  }
  return {
    port: running.port,
    issuer: ISSUER,
    audience: AUDIENCE,
    subject: CALLER,
    scopes: [SCOPE],
  };
}

serveParent<TlsServerRequest>({ pid: process.pid }, handle, (request) => request.type === 'close');
