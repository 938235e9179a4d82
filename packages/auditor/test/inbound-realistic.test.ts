/**
 * Patterns from real services: gateways proxying upstream, logging wrappers, configuration
 * objects, getter functions for secrets, claims checked only when present, client helpers that
 * look like routes.
 */
import { after, describe, test } from 'node:test';
import { check, cleanUp, type Case } from './inbound-harness.ts';

after(cleanUp);

const GATEWAY: Record<string, string> = {
  'src/config.ts': `const jwtSecret = process.env.JWT_SECRET;
if (!jwtSecret) throw new Error('JWT_SECRET must be set');
export const config = {
  jwt: { secret: jwtSecret, issuer: 'auth', audience: 'api' },
  upstream: process.env.ORDERS_URL ?? 'http://orders:3000',
} as const;
`,
  'src/log.ts': `import pino from 'pino';
export const logger = pino();
export function securityEvent(event: string, details: Record<string, unknown>): void {
  logger.warn({ event, ...details }, 'security event');
}
`,
  'src/auth.ts': `import type { FastifyReply, FastifyRequest } from 'fastify';
import { config } from './config.ts';
import { securityEvent } from './log.ts';
export async function authenticate(request: FastifyRequest, reply: FastifyReply) {
  try {
    await request.jwtVerify();
  } catch (error) {
    securityEvent('jwt_failed', { ip: request.ip, caller: 'unknown' });
    return reply.code(401).send({ error: 'Unauthorized' });
  }
  const user = request.user as { aud?: string };
  if (user.aud !== undefined && user.aud !== config.jwt.audience) {
    return reply.code(401).send({ error: 'Unauthorized' });
  }
}
`,
  'src/proxy.ts': `import proxy from '@fastify/http-proxy';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { config } from './config.ts';
function upstreamHeaders(request: FastifyRequest, headers: Record<string, unknown>) {
  return { ...headers, 'x-gateway-forwarded': 'true', 'x-forwarded-for': request.ip };
}
export async function registerProxies(app: FastifyInstance) {
  await app.register(proxy, {
    upstream: config.upstream,
    prefix: '/api/orders',
    replyOptions: { rewriteRequestHeaders: (request, headers) => upstreamHeaders(request, headers) },
  });
}
`,
  'src/index.ts': `import fastifyJwt from '@fastify/jwt';
import Fastify from 'fastify';
import { authenticate } from './auth.ts';
import { config } from './config.ts';
import { registerProxies } from './proxy.ts';
const app = Fastify({ logger: true, requestIdHeader: 'x-correlation-id' });
await app.register(fastifyJwt, { secret: config.jwt.secret, verify: { allowedIss: config.jwt.issuer } });
app.addHook('onRequest', authenticate);
app.get('/health', async () => ({ ok: true }));
await registerProxies(app);
`,
};

const gateway: Case[] = [
  {
    name: 'a gateway: proxied prefixes behind a global hook, config secret, conditional aud',
    files: GATEWAY,
    expect: {
      SE1: 'PASS',
      SE2: 'PASS',
      SE3: 'PASS',
      SE6: 'PASS',
      SE7: 'PARTIAL',
      SE11: 'PASS',
      SE13: 'PARTIAL',
      SE14: 'PASS',
      SE19: 'FAIL',
      SE20: 'PASS',
      SE21: 'PARTIAL',
      SV7: 'FAIL',
      PH2: 'PASS',
      PH3: 'PASS',
      PH5: 'FAIL',
    },
    at: {
      SE7: { file: 'src/auth.ts', line: 'user.aud !== undefined && user.aud' },
      SE19: { file: 'src/config.ts', line: 'const jwtSecret = process.env.JWT_SECRET' },
      SE13: { file: 'src/auth.ts', line: "securityEvent('jwt_failed'" },
    },
  },
  {
    name: 'the same gateway with the hook inside an encapsulated plugin: proxied routes are open',
    files: {
      ...GATEWAY,
      'src/index.ts': `import fastifyJwt from '@fastify/jwt';
import Fastify from 'fastify';
import { authenticate } from './auth.ts';
import { config } from './config.ts';
import { registerProxies } from './proxy.ts';
const app = Fastify({ logger: true });
await app.register(fastifyJwt, { secret: config.jwt.secret });
app.register(async (scoped) => {
  scoped.addHook('onRequest', authenticate);
  scoped.get('/me', async (request) => request.user);
});
await registerProxies(app);
`,
    },
    expect: { SE1: 'FAIL', SE2: 'PARTIAL' },
    at: { SE1: { file: 'src/proxy.ts', line: 'await app.register(proxy' } },
  },
];

const docsExample: Case[] = [
  {
    name: 'the @fastify/jwt README example',
    files: {
      'src/server.js': `const fastify = require('fastify')({ logger: true })
fastify.register(require('@fastify/jwt'), { secret: 'supersecret' })
fastify.decorate("authenticate", async function(request, reply) {
  try {
    await request.jwtVerify()
  } catch (err) {
    reply.send(err)
  }
})
fastify.get("/", { onRequest: [fastify.authenticate] }, async function(request, reply) {
  return request.user
})
fastify.post("/signup", (req, reply) => {
  const token = fastify.jwt.sign({ payload: 'x' })
  reply.send({ token })
})
`,
      'src/client.js': `const axios = require('axios');
function createOrder(client, body) { return client.post('/orders', body); }
function getUser(client, id) { return client.get('/users', { params: { id } }); }
module.exports = { createOrder, getUser, http: axios.create({ baseURL: 'http://users' }) };
`,
    },
    // `/signup` mints the token: an authentication endpoint, public by nature (SE1 names it).
    expect: {
      SE1: 'PASS',
      SE2: 'PARTIAL',
      SE3: 'PASS',
      SE11: 'PARTIAL',
      SE19: 'FAIL',
      SV7: 'FAIL',
      SV8: 'FAIL',
      SV1: 'FAIL',
    },
    at: {
      SE1: { file: 'src/server.js', line: 'fastify.post("/signup"' },
      SE19: { file: 'src/server.js', line: "secret: 'supersecret'" },
    },
  },
];

const sharedSecret: Case[] = [
  {
    name: 'a shared token read through a getter, skipped when unset, compared with !=',
    files: {
      'src/shared.ts': `import type { NextFunction, Request, Response } from 'express';
const internalToken = (): string | undefined => process.env.INTERNAL_SERVICE_TOKEN;
export function requireInternalToken(req: Request, res: Response, next: NextFunction): void {
  const expected = internalToken();
  if (!expected) return next();
  const received = req.get('X-INTERNAL-TOKEN');
  if (received != expected) {
    console.warn('[SECURITY] Unauthorized request');
    res.status(403).json({ error: 'Forbidden' });
    return;
  }
  next();
}
`,
      'src/server.ts': `import express from 'express';
import { requireInternalToken } from './shared.ts';
const app = express();
app.use(requireInternalToken);
app.get('/files', (req, res) => res.json({ user: req.headers['x-user-id'] }));
`,
    },
    expect: {
      SE1: 'PASS',
      SE3: 'FAIL',
      SE8: 'FAIL',
      SE11: 'PASS',
      SE12: 'FAIL',
      FS1: 'FAIL',
      FS2: 'FAIL',
      SV18: 'FAIL',
      SV19: 'FAIL',
      SV14: 'N/A',
      // Not a proxy: trusting x-user-id is SE8's finding (at the same line), not PH1's.
      PH1: 'N/A',
    },
    at: {
      SE12: { file: 'src/shared.ts', line: 'if (!expected) return next();' },
      FS2: { file: 'src/shared.ts', line: 'if (!expected) return next();' },
      SV18: { file: 'src/shared.ts', line: 'received != expected' },
      SV19: { file: 'src/shared.ts', line: 'process.env.INTERNAL_SERVICE_TOKEN' },
      SE8: { file: 'src/server.ts', line: "req.headers['x-user-id']" },
    },
  },
  {
    name: 'a secret looked up per calling service',
    files: {
      'src/app.ts': `import { timingSafeEqual } from 'node:crypto';
import Fastify from 'fastify';
const keys = new Map<string, Buffer>(JSON.parse(process.env.CALLER_KEYS ?? '[]'));
const app = Fastify();
app.addHook('onRequest', async (request, reply) => {
  const caller = String(request.headers['x-caller-key-id']);
  const given = Buffer.from(String(request.headers['x-api-key']));
  const expected = keys.get(caller) ?? Buffer.alloc(0);
  if (given.length !== expected.length || !timingSafeEqual(given, keys.get(caller) ?? expected)) {
    return reply.code(401).send();
  }
});
app.get('/x', async () => ({}));
`,
    },
    expect: { SV18: 'PASS', SV19: 'PASS' },
  },
];

describe('a gateway', () => {
  for (const c of gateway) test(c.name, () => check(c));
});
describe('the @fastify/jwt README example', () => {
  for (const c of docsExample) test(c.name, () => check(c));
});
describe('shared secrets', () => {
  for (const c of sharedSecret) test(c.name, () => check(c));
});
