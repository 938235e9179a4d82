/** Proxy Headers (PH1–PH5) and Fail-Secure (FS1–FS3) checks. */
import { after, describe, test } from 'node:test';
import { check, cleanUp, type Case } from './inbound-harness.ts';

after(cleanUp);

const AUTH = `
app.addHook('onRequest', async (request, reply) => {
  try {
    request.user = jwt.verify(String(request.headers.authorization).slice(7), process.env.PUB ?? '', {
      algorithms: ['ES256'], issuer: 'a', audience: 'b',
    });
  } catch {
    return reply.code(401).send();
  }
});`;

const headers: Case[] = [
  {
    name: 'tenant taken from x-tenant-id and user from x-user-id',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
import jwt from 'jsonwebtoken';
const app = Fastify();${AUTH}
app.get('/orders', async (request) => {
  const tenantId = request.headers['x-tenant-id'] as string;
  const { 'x-user-id': userId } = request.headers;
  return { tenantId, userId };
});
`,
    },
    // Not a proxy: the trusted headers are SE8's and PH4's findings, not PH1's.
    expect: { PH4: 'FAIL', SE8: 'FAIL', PH1: 'N/A', PH2: 'N/A', PH3: 'N/A', PH5: 'N/A' },
    at: {
      PH4: { file: 'src/app.ts', line: "request.headers['x-tenant-id']" },
    },
  },
  {
    name: 'tenant taken from the verified token',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
import jwt from 'jsonwebtoken';
const app = Fastify();${AUTH}
app.get('/orders', async (request) => {
  const { tenantId } = request.user as { tenantId: string };
  return { tenantId };
});
`,
    },
    expect: { PH4: 'PASS', PH1: 'N/A' },
  },
  {
    name: 'tenant header read under Tessera, which strips it',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
import { tessera } from '@tessera/fastify';
const app = Fastify();
await app.register(tessera, { service: 'orders', policy, authority: { url: 'https://authority' } });
app.get('/orders', async (request) => ({ tenant: request.headers['x-tenant-id'] }));
`,
    },
    expect: { PH4: 'PARTIAL', PH1: 'PASS' },
  },
  {
    name: 'a gateway that strips internal headers, marks and forwards requests (CommonJS)',
    files: {
      'src/gateway.js': `const fastify = require('fastify')({ logger: true });
const proxy = require('@fastify/http-proxy');
const BLOCKED = ['x-gateway-internal', 'x-user-id', 'x-tenant-id'];
fastify.addHook('onRequest', async (request) => {
  for (const name of BLOCKED) delete request.headers[name];
});
fastify.register(proxy, {
  upstream: 'https://orders.internal',
  replyOptions: {
    rewriteRequestHeaders: (req, headers) => ({
      ...headers,
      'x-forwarded-for': req.ip,
      'x-gateway': 'edge-1',
    }),
    rewriteHeaders: (headers) => {
      const { server, 'x-powered-by': poweredBy, ...rest } = headers;
      return rest;
    },
  },
});
`,
    },
    expect: { PH1: 'PASS', PH2: 'PASS', PH3: 'PASS', PH5: 'PASS' },
    at: { PH1: { file: 'src/gateway.js', line: 'delete request.headers[name]' } },
  },
  {
    name: 'a gateway that forwards everything as it came',
    files: {
      'src/gateway.ts': `import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';
const app = Fastify();
app.register(proxy, { upstream: 'http://orders:3000' });
`,
    },
    expect: { PH1: 'FAIL', PH2: 'FAIL', PH3: 'FAIL', PH5: 'FAIL' },
    at: { PH1: { file: 'src/gateway.ts', line: 'app.register(proxy' } },
  },
];

const failSecure: Case[] = [
  {
    name: 'allow everything when the secret is unset (Fastify, TypeScript)',
    files: {
      'src/auth.ts': `import type { FastifyReply, FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
const SECRET = process.env.SERVICE_TOKEN;
export async function requireService(request: FastifyRequest, reply: FastifyReply) {
  if (!SECRET) return;
  const given = Buffer.from(String(request.headers['x-service-token'] ?? ''));
  if (given.length !== SECRET.length || !timingSafeEqual(given, Buffer.from(SECRET))) {
    return reply.code(401).send();
  }
}
`,
      'src/app.ts': `import Fastify from 'fastify';
import { requireService } from './auth.ts';
const app = Fastify();
app.addHook('onRequest', requireService);
app.get('/x', async () => ({}));
`,
    },
    expect: { FS1: 'FAIL', FS2: 'FAIL', SE12: 'FAIL', SE1: 'PASS' },
    at: {
      FS1: { file: 'src/auth.ts', line: 'if (!SECRET) return;' },
      SE12: { file: 'src/auth.ts', line: 'if (!SECRET) return;' },
    },
  },
  {
    name: 'verification errors swallowed, request continues',
    files: {
      'src/app.js': `const express = require('express');
const jwt = require('jsonwebtoken');
const app = express();
app.use((req, res, next) => {
  try {
    req.caller = jwt.verify(req.headers.authorization, process.env.PUB, { algorithms: ['RS256'], issuer: 'a', audience: 'b' });
  } catch (err) {
    console.warn('token invalid, continuing', err.message);
    return next();
  }
  next();
});
app.get('/x', (req, res) => res.json({}));
`,
    },
    expect: { FS1: 'FAIL', FS2: 'FAIL' },
    at: { FS2: { file: 'src/app.js', line: '} catch (err) {' } },
  },
  {
    name: 'errors refused; caught error checked afterwards',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
import jwt from 'jsonwebtoken';
const app = Fastify();
app.addHook('onRequest', async (request, reply) => {
  let claims: unknown;
  try {
    claims = jwt.verify(String(request.headers.authorization), process.env.PUB ?? '', {
      algorithms: ['RS256'], issuer: 'a', audience: 'b',
    });
  } catch (error) {
    request.log.warn({ err: String(error) }, 'invalid token');
  }
  if (claims === undefined) return reply.code(401).send();
});
app.get('/x', async () => ({}));
`,
    },
    expect: { FS1: 'PASS', FS2: 'PASS' },
  },
  {
    name: 'a health check that calls the database without catching',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
import { db } from './db.ts';
const app = Fastify();
app.get('/health', async () => {
  await db.query('SELECT 1');
  return { status: 'ok' };
});
`,
      'src/db.ts': 'export const db = { query: async (sql: string) => sql };\n',
    },
    expect: { FS3: 'FAIL' },
    at: { FS3: { file: 'src/app.ts', line: "app.get('/health'" } },
  },
  {
    name: 'a health check that answers 503 when the database fails',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
import { db } from './db.ts';
const app = Fastify();
app.get('/health', async (request, reply) => {
  try {
    await db.query('SELECT 1');
    return { status: 'ok' };
  } catch (error) {
    request.log.error({ err: error }, 'health check failed');
    return reply.code(503).send({ status: 'unhealthy' });
  }
});
app.get('/livez', async () => ({ status: 'ok' }));
`,
      'src/db.ts': 'export const db = { query: async (sql: string) => sql };\n',
    },
    expect: { FS3: 'PASS' },
  },
];

describe('PH: proxy headers', () => {
  for (const c of headers) test(c.name, () => check(c));
});
describe('FS: fail-secure', () => {
  for (const c of failSecure) test(c.name, () => check(c));
});
