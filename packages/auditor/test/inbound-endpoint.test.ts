/**
 * Service Endpoint checks (SE1–SE22): for each detection a vulnerable project that must FAIL at
 * the decisive line, and the fixed project that must PASS.
 */
import { after, describe, test } from 'node:test';
import { check, cleanUp, type Case } from './inbound-harness.ts';

after(cleanUp);

const VERIFY_HOOK = `
  instance.addHook('onRequest', async (request, reply) => {
    const token = (request.headers.authorization ?? '').slice(7);
    try {
      request.user = jwt.verify(token, publicKey, {
        algorithms: ['RS256'],
        issuer: 'https://authority.internal',
        audience: 'billing',
      });
    } catch (error) {
      request.log.warn({ err: String(error) }, 'authentication failed');
      return reply.code(401).send({ error: 'unauthorized' });
    }
  });`;

const encapsulation: Case[] = [
  {
    name: 'route registered outside the plugin whose hook authenticates',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
import jwt from 'jsonwebtoken';
const publicKey = process.env.JWT_PUBLIC_KEY ?? '';
const app = Fastify({ logger: true });
app.register(async (instance) => {${VERIFY_HOOK}
  instance.get('/invoices', async () => []);
});
app.get('/admin/export', async () => ({ rows: [] }));
`,
    },
    expect: { SE1: 'FAIL', SE2: 'PARTIAL', SE12: 'FAIL' },
    at: {
      SE1: { file: 'src/app.ts', line: "app.get('/admin/export'" },
      SE12: { file: 'src/app.ts', line: "app.get('/admin/export'" },
    },
  },
  {
    name: 'sibling plugin is not covered by an encapsulated hook',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
import jwt from 'jsonwebtoken';
import { reports } from './reports.ts';
const publicKey = process.env.JWT_PUBLIC_KEY ?? '';
const app = Fastify();
app.register(async (instance) => {${VERIFY_HOOK}
  instance.get('/invoices', async () => []);
});
app.register(reports, { prefix: '/reports' });
`,
      'src/reports.ts': `import type { FastifyInstance } from 'fastify';
export async function reports(app: FastifyInstance) {
  app.get('/daily', async () => ({}));
}
`,
    },
    expect: { SE1: 'FAIL' },
    at: { SE1: { file: 'src/reports.ts', line: "app.get('/daily'" } },
  },
  {
    name: 'fastify-plugin makes the hook cover sibling routes',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
import fp from 'fastify-plugin';
import jwt from 'jsonwebtoken';
import { reports } from './reports.ts';
const publicKey = process.env.JWT_PUBLIC_KEY ?? '';
const app = Fastify();
app.register(fp(async (instance) => {${VERIFY_HOOK}
}));
app.register(async (instance) => {
  instance.get('/invoices', async () => []);
});
app.register(reports, { prefix: '/reports' });
app.get('/admin/export', async () => ({ rows: [] }));
app.get('/healthz', async () => ({ ok: true }));
`,
      'src/reports.ts': `import type { FastifyInstance } from 'fastify';
export async function reports(app: FastifyInstance) {
  app.get('/daily', async () => ({}));
}
`,
    },
    expect: { SE1: 'PASS', SE2: 'PASS', SE3: 'PASS', SE12: 'PASS', SE20: 'PASS' },
  },
  {
    name: 'awaited register before the root hook: the child loaded without it',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
import jwt from 'jsonwebtoken';
const publicKey = process.env.JWT_PUBLIC_KEY ?? '';
const instance = Fastify();
await instance.register(async (child) => {
  child.get('/early', async () => ({}));
});
${VERIFY_HOOK.replace(/^\n {2}/, '')}
instance.get('/late', async () => ({}));
`,
    },
    expect: { SE1: 'FAIL' },
    at: { SE1: { file: 'src/app.ts', line: "child.get('/early'" } },
  },
  {
    name: 'hook added after a non-awaited register still reaches the child',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
import jwt from 'jsonwebtoken';
const publicKey = process.env.JWT_PUBLIC_KEY ?? '';
const instance = Fastify();
instance.register(async (child) => {
  child.get('/early', async () => ({}));
});
${VERIFY_HOOK.replace(/^\n {2}/, '')}
`,
    },
    expect: { SE1: 'PASS' },
  },
  {
    name: 'decorated authenticate used as preHandler (@fastify/jwt, CommonJS)',
    files: {
      'src/server.js': `const fastify = require('fastify')({ logger: true });
fastify.register(require('@fastify/jwt'), {
  secret: { public: process.env.JWT_PUBLIC_KEY, private: process.env.JWT_PRIVATE_KEY },
  verify: { algorithms: ['RS256'], allowedIss: 'https://authority', allowedAud: 'orders' },
});
fastify.decorate('authenticate', async function (request, reply) {
  try {
    await request.jwtVerify();
  } catch (err) {
    reply.send(err);
  }
});
fastify.get('/orders', { preHandler: [fastify.authenticate] }, async (request) => request.user.sub);
fastify.post('/orders', { onRequest: fastify.authenticate }, async () => ({ ok: true }));
`,
    },
    expect: {
      SE1: 'PASS',
      SE2: 'PARTIAL',
      SE3: 'PASS',
      SE6: 'PASS',
      SE7: 'PASS',
      SE18: 'PASS',
      SE20: 'PASS',
    },
  },
  {
    name: 'a route without the per-route preHandler is open (CommonJS)',
    files: {
      'src/server.js': `const fastify = require('fastify')({ logger: true });
fastify.register(require('@fastify/jwt'), { secret: process.env.JWT_SECRET });
fastify.decorate('authenticate', async function (request, reply) {
  try {
    await request.jwtVerify();
  } catch (err) {
    reply.send(err);
  }
});
fastify.get('/orders', { preHandler: [fastify.authenticate] }, async () => []);
fastify.delete('/orders/:id', async () => ({ deleted: true }));
`,
    },
    expect: { SE1: 'FAIL', SE12: 'FAIL', SE19: 'FAIL' },
    at: { SE1: { file: 'src/server.js', line: "fastify.delete('/orders/:id'" } },
  },
];

const EXPRESS_AUTH = `const jwt = require('jsonwebtoken');
function verifyToken(req, res, next) {
  const token = (req.headers.authorization || '').replace('Bearer ', '');
  try {
    req.caller = jwt.verify(token, process.env.JWT_PUBLIC_KEY, {
      algorithms: ['RS256'],
      issuer: 'https://authority.internal',
      audience: 'orders',
    });
    next();
  } catch (err) {
    console.warn('rejected token', err.message);
    res.status(401).json({ error: 'unauthorized' });
  }
}
module.exports = { verifyToken };
`;

const express: Case[] = [
  {
    name: 'Express route registered before app.use(auth)',
    files: {
      'src/auth.js': EXPRESS_AUTH,
      'src/app.js': `const express = require('express');
const { verifyToken } = require('./auth');
const app = express();
app.get('/internal/stats', (req, res) => res.json({ count: 1 }));
app.use(verifyToken);
app.get('/orders', (req, res) => res.json([]));
module.exports = app;
`,
    },
    expect: { SE1: 'FAIL', SE2: 'PARTIAL' },
    at: { SE1: { file: 'src/app.js', line: "app.get('/internal/stats'" } },
  },
  {
    name: 'Express app.use(auth) before every route and router',
    files: {
      'src/auth.js': EXPRESS_AUTH,
      'src/routes.js': `const { Router } = require('express');
const router = Router();
router.get('/:id', (req, res) => res.json({ id: req.params.id, by: req.caller.sub }));
module.exports = router;
`,
      'src/app.js': `const express = require('express');
const { verifyToken } = require('./auth');
const app = express();
app.use(express.json());
app.use(verifyToken);
app.get('/orders', (req, res) => res.json([]));
app.use('/orders', require('./routes'));
module.exports = app;
`,
    },
    expect: { SE1: 'PASS', SE2: 'PASS', SE3: 'PASS', SE8: 'PASS', SE11: 'PASS', SE12: 'PASS' },
  },
  {
    name: 'Express router mounted before the auth middleware (ESM)',
    files: {
      'src/auth.js': EXPRESS_AUTH,
      'src/app.mjs': `import express, { Router } from 'express';
import { verifyToken } from './auth.js';
const app = express();
const admin = Router();
admin.post('/reset', (req, res) => res.sendStatus(204));
app.use('/admin', admin);
app.use(verifyToken);
`,
    },
    expect: { SE1: 'FAIL' },
    at: { SE1: { file: 'src/app.mjs', line: "admin.post('/reset'" } },
  },
];

const decode: Case[] = [
  {
    name: 'jwt.decode used to decide (ESM TypeScript)',
    files: {
      'src/auth.ts': `import jwt from 'jsonwebtoken';
import type { FastifyReply, FastifyRequest } from 'fastify';
export async function authenticate(request: FastifyRequest, reply: FastifyReply) {
  const token = request.headers.authorization?.split(' ')[1] ?? '';
  const claims = jwt.decode(token) as { role?: string } | null;
  if (claims?.role !== 'service') return reply.code(401).send();
}
`,
      'src/app.ts': `import Fastify from 'fastify';
import { authenticate } from './auth.ts';
const app = Fastify();
app.addHook('onRequest', authenticate);
app.get('/events', async () => []);
`,
    },
    expect: { SE1: 'FAIL', SE3: 'FAIL', SE4: 'FAIL', SE5: 'FAIL', SE18: 'FAIL', SV7: 'FAIL' },
    at: {
      SE4: { file: 'src/auth.ts', line: 'jwt.decode(token)' },
      SE1: { file: 'src/app.ts', line: "app.get('/events'" },
    },
  },
  {
    name: 'jwt.decode used to decide (CommonJS JavaScript)',
    files: {
      'src/app.js': `const express = require('express');
const { decode } = require('jsonwebtoken');
const app = express();
app.use((req, res, next) => {
  const payload = decode(req.headers.authorization.split(' ')[1]);
  if (!payload || payload.iss !== 'auth') return res.status(401).end();
  req.caller = payload.sub;
  next();
});
app.get('/events', (req, res) => res.json([]));
`,
    },
    expect: { SE4: 'FAIL', SE6: 'FAIL', SV9: 'PASS' },
    at: { SE4: { file: 'src/app.js', line: 'decode(req.headers' } },
  },
  {
    name: 'payload read by hand from base64',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
const app = Fastify();
app.addHook('preHandler', async (request, reply) => {
  const token = String(request.headers.authorization).slice(7);
  const payload = JSON.parse(Buffer.from(token.split('.')[1], 'base64').toString());
  if (payload.exp < Date.now() / 1000) return reply.code(401).send();
  request.caller = payload.sub;
});
app.get('/x', async () => ({}));
`,
    },
    expect: { SE4: 'FAIL', SE18: 'FAIL' },
    at: { SE4: { file: 'src/app.ts', line: "Buffer.from(token.split('.')[1]" } },
  },
  {
    name: 'verify instead of decode',
    files: {
      'src/auth.ts': `import jwt from 'jsonwebtoken';
import type { FastifyReply, FastifyRequest } from 'fastify';
const key = process.env.JWT_PUBLIC_KEY ?? '';
export async function authenticate(request: FastifyRequest, reply: FastifyReply) {
  const token = request.headers.authorization?.split(' ')[1] ?? '';
  const header = jwt.decode(token, { complete: true })?.header;
  try {
    const claims = jwt.verify(token, key, {
      algorithms: ['ES256'],
      issuer: 'https://authority.internal',
      audience: 'events',
    });
    request.log.info({ caller: (claims as { sub: string }).sub, kid: header?.kid }, 'authenticated');
  } catch {
    request.log.warn('token rejected');
    return reply.code(401).send();
  }
}
`,
      'src/app.ts': `import Fastify from 'fastify';
import { authenticate } from './auth.ts';
const app = Fastify();
app.addHook('onRequest', authenticate);
app.get('/events', async () => []);
`,
    },
    expect: {
      SE1: 'PASS',
      SE3: 'PASS',
      SE4: 'PASS',
      SE5: 'PASS',
      SE6: 'PASS',
      SE7: 'PASS',
      SE8: 'PASS',
      SE11: 'PASS',
      SE13: 'PASS',
      SE18: 'PASS',
    },
  },
];

const claims: Case[] = [
  {
    name: 'verify without issuer and audience',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
import jwt from 'jsonwebtoken';
const app = Fastify();
app.addHook('onRequest', async (request, reply) => {
  try {
    request.user = jwt.verify(String(request.headers.authorization).slice(7), process.env.PUB ?? '', {
      algorithms: ['RS256'],
    });
  } catch {
    return reply.code(401).send();
  }
});
app.get('/x', async () => ({}));
`,
    },
    expect: { SE6: 'FAIL', SE7: 'FAIL', SV10: 'FAIL', SV11: 'FAIL', SE4: 'PASS' },
    at: {
      SE6: { file: 'src/app.ts', line: 'jwt.verify(' },
      SE7: { file: 'src/app.ts', line: 'jwt.verify(' },
    },
  },
  {
    name: 'ignoreExpiration accepts expired tokens',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
import jwt from 'jsonwebtoken';
const options = { algorithms: ['RS256'], issuer: 'a', audience: 'b', ignoreExpiration: true };
const app = Fastify();
app.addHook('onRequest', async (request, reply) => {
  try {
    jwt.verify(String(request.headers.authorization), process.env.PUB ?? '', options);
  } catch {
    return reply.code(401).send();
  }
});
app.get('/x', async () => ({}));
`,
    },
    expect: { SE5: 'FAIL', SV12: 'FAIL', SV13: 'FAIL', SE6: 'PASS', SE7: 'PASS' },
    at: { SE5: { file: 'src/app.ts', line: 'ignoreExpiration: true' } },
  },
  {
    name: 'jose with a remote JWKS, issuer and audience',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
import { createRemoteJWKSet, jwtVerify } from 'jose';
const JWKS = createRemoteJWKSet(new URL('https://authority.internal/.well-known/jwks.json'));
const app = Fastify();
app.addHook('onRequest', async (request, reply) => {
  try {
    const { payload } = await jwtVerify(String(request.headers.authorization).slice(7), JWKS, {
      issuer: 'https://authority.internal',
      audience: 'spiffe://tessera.local/billing',
      maxTokenAge: '10m',
    });
    request.log.info({ caller: payload.sub }, 'caller');
  } catch {
    return reply.code(401).send();
  }
});
app.get('/x', async () => ({}));
`,
    },
    expect: {
      SE5: 'PASS',
      SE6: 'PASS',
      SE7: 'PASS',
      SE19: 'PASS',
      SV7: 'PASS',
      SV8: 'PASS',
      SV12: 'PASS',
    },
  },
];

const tesseraFiles = (policy: string): Record<string, string> => ({
  'package.json': '{ "name": "billing", "dependencies": { "@tessera/fastify": "0.1.0" } }',
  'policy.yaml': policy,
  'src/main.ts': `import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { parsePolicy } from '@tessera/core';
import { tessera } from '@tessera/fastify';
import { invoiceRoutes } from './invoices.ts';

const app = Fastify({ logger: true });
await app.register(tessera, {
  service: 'billing',
  policy: parsePolicy(readFileSync('policy.yaml', 'utf8')),
  authority: { url: 'https://authority.internal' },
});
app.register(invoiceRoutes);
app.get('/healthz', async () => ({ ok: true }));
await app.listen({ port: 3000 });
`,
  'src/invoices.ts': `import type { FastifyInstance } from 'fastify';
export async function invoiceRoutes(app: FastifyInstance) {
  app.post('/invoices', async (request) => {
    request.log.info({ caller: request.caller?.spiffeId, tenant: request.caller?.tenant }, 'invoice created');
    return { createdBy: request.caller?.spiffeId };
  });
  app.get('/invoices/:id', async (request) => ({ id: (request.params as { id: string }).id }));
}
`,
});

const POLICY = `version: 1
trustDomain: tessera.local
services:
  api-gateway: {}
  event-service: {}
  billing:
    routes:
      - method: POST
        path: /invoices
        allow:
          - { service: event-service, scopes: [invoices:write] }
      - method: GET
        path: /invoices/:id
        allow:
          - { service: api-gateway, scopes: [invoices:read] }
      - { method: GET, path: /healthz, public: true }
`;

const tessera: Case[] = [
  {
    name: 'a service protected by @tessera/fastify with a policy',
    files: tesseraFiles(POLICY),
    expect: {
      SE1: 'PASS',
      SE2: 'PASS',
      SE3: 'PASS',
      SE4: 'PASS',
      SE5: 'PASS',
      SE6: 'PASS',
      SE7: 'PASS',
      SE8: 'PASS',
      SE9: 'PASS',
      SE10: 'PASS',
      SE11: 'PASS',
      SE12: 'PASS',
      SE13: 'PASS',
      SE14: 'PASS',
      SE15: 'PASS',
      SE16: 'PASS',
      SE17: 'PASS', // Fastify's logger writes JSON lines to stdout.
      SE18: 'PASS',
      SE19: 'PASS',
      SE20: 'PASS',
      SE21: 'PASS',
      SE22: 'PASS',
    },
  },
  {
    name: 'a Tessera policy that lets any authenticated service call a route',
    files: tesseraFiles(
      POLICY.replace(
        `allow:
          - { service: api-gateway, scopes: [invoices:read] }`,
        'allow: any-authenticated',
      ),
    ),
    expect: { SE9: 'PASS', SE10: 'PARTIAL' },
    at: { SE10: { file: 'policy.yaml', line: 'allow: any-authenticated' } },
  },
  {
    name: 'a Tessera policy that makes a business route public',
    files: tesseraFiles(
      POLICY.replace('path: /healthz, public: true', 'path: /invoices/export, public: true'),
    ),
    expect: { SE1: 'FAIL' },
    at: { SE1: { file: 'policy.yaml', line: '/invoices/export' } },
  },
];

const markers: Case[] = [
  {
    name: 'x-gateway-internal === "true" used as authentication',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
const app = Fastify();
app.addHook('onRequest', async (request, reply) => {
  if (request.headers['x-gateway-internal'] !== 'true') {
    return reply.code(403).send({ error: 'forbidden' });
  }
});
app.get('/internal/users/:id', async () => ({}));
`,
    },
    expect: { SE1: 'FAIL', SE3: 'FAIL', SE12: 'FAIL' },
    at: {
      SE1: { file: 'src/app.ts', line: "request.headers['x-gateway-internal']" },
      SE3: { file: 'src/app.ts', line: "request.headers['x-gateway-internal']" },
    },
  },
  {
    name: 'caller identity taken from x-service-name',
    files: {
      'src/app.js': `const express = require('express');
const app = express();
app.use((req, res, next) => {
  const token = req.get('x-internal-token');
  if (!token || token !== process.env.INTERNAL_TOKEN) return res.sendStatus(403);
  next();
});
app.post('/charge', (req, res) => {
  const caller = req.headers['x-service-name'];
  res.json({ charged: true, caller });
});
`,
    },
    expect: { SE1: 'PASS', SE3: 'FAIL', SE8: 'FAIL', SE9: 'FAIL', SE10: 'FAIL', SE11: 'FAIL' },
    at: {
      SE8: { file: 'src/app.js', line: "req.headers['x-service-name']" },
      SE3: { file: 'src/app.js', line: 'token !== process.env.INTERNAL_TOKEN' },
    },
  },
];

const unset: Case[] = [
  {
    name: 'authentication skipped when the token is not configured',
    files: {
      'src/middleware.js': `const crypto = require('crypto');
function requireInternalToken(req, res, next) {
  const expected = process.env.INTERNAL_SERVICE_TOKEN;
  if (!expected) return next();
  const provided = Buffer.from(req.get('X-INTERNAL-TOKEN') || '');
  const wanted = Buffer.from(expected);
  if (provided.length !== wanted.length || !crypto.timingSafeEqual(provided, wanted)) {
    return res.status(403).json({ error: 'Forbidden' });
  }
  next();
}
module.exports = { requireInternalToken };
`,
      'src/app.js': `const express = require('express');
const { requireInternalToken } = require('./middleware');
const app = express();
app.use(requireInternalToken);
app.post('/deduct', (req, res) => res.json({ ok: true }));
`,
    },
    expect: { SE12: 'FAIL', SE1: 'PASS' },
    at: { SE12: { file: 'src/middleware.js', line: 'if (!expected) return next();' } },
  },
  {
    name: 'authentication refuses when the token is not configured',
    files: {
      'src/middleware.js': `const crypto = require('crypto');
function requireInternalToken(req, res, next) {
  const expected = process.env.INTERNAL_SERVICE_TOKEN;
  if (!expected) return res.status(503).json({ error: 'not configured' });
  const provided = Buffer.from(req.get('X-INTERNAL-TOKEN') || '');
  const wanted = Buffer.from(expected);
  if (provided.length !== wanted.length || !crypto.timingSafeEqual(provided, wanted)) {
    return res.status(403).json({ error: 'Forbidden' });
  }
  next();
}
module.exports = { requireInternalToken };
`,
      'src/app.js': `const express = require('express');
const { requireInternalToken } = require('./middleware');
const app = express();
app.use(requireInternalToken);
app.post('/deduct', (req, res) => res.json({ ok: true }));
`,
    },
    expect: { SE12: 'PASS', SE1: 'PASS', SE3: 'FAIL' },
  },
];

const noServer: Case[] = [
  {
    name: 'a worker with no HTTP server',
    files: {
      'src/worker.ts': `import { setTimeout } from 'node:timers/promises';
export async function run(): Promise<void> {
  for (;;) {
    await setTimeout(1000);
  }
}
`,
    },
    expect: {
      SE1: 'N/A',
      SE2: 'N/A',
      SE4: 'N/A',
      SE12: 'N/A',
      SE22: 'N/A',
      SV1: 'N/A',
      SV7: 'N/A',
      SV14: 'N/A',
      SV18: 'N/A',
      PH1: 'N/A',
      FS1: 'N/A',
    },
  },
];

const logging: Case[] = [
  {
    name: 'per-request hook logs the caller and correlation id; error handler logs',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
import fp from 'fastify-plugin';
import jwt from 'jsonwebtoken';
const app = Fastify({ logger: true, requestIdHeader: 'x-correlation-id' });
app.register(fp(async (instance) => {
  instance.addHook('onRequest', async (request, reply) => {
    try {
      const claims = jwt.verify(String(request.headers.authorization).slice(7), process.env.PUB ?? '', {
        algorithms: ['RS256'], issuer: 'auth', audience: 'me',
      }) as { sub: string };
      request.log.info({ caller: claims.sub }, 'caller authenticated');
    } catch {
      return reply.code(401).send();
    }
  });
}));
app.setErrorHandler((error, request, reply) => {
  request.log.warn({ err: error.message, statusCode: error.statusCode }, 'request failed');
  return reply.code(error.statusCode ?? 500).send({ error: 'failed' });
});
app.post('/things', async (request) => {
  request.log.info({ thing: request.body }, 'thing created');
  return {};
});
`,
    },
    expect: {
      SE13: 'PASS',
      SE14: 'PASS',
      SE15: 'PASS',
      SE16: 'PASS',
      SE17: 'PASS', // Fastify's logger writes JSON lines to stdout.
      SE21: 'PASS',
      SE22: 'PASS',
    },
  },
  {
    name: 'no logging at all',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
const app = Fastify();
app.setErrorHandler((error, request, reply) => reply.code(500).send({ error: 'failed' }));
app.post('/things', async () => ({}));
`,
    },
    expect: { SE13: 'FAIL', SE14: 'FAIL', SE15: 'FAIL', SE16: 'FAIL', SE21: 'FAIL', SE22: 'FAIL' },
  },
  {
    name: 'logs shipped by a pino transport',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
const app = Fastify({ logger: { transport: { target: 'pino-loki', options: { host: 'http://loki:3100' } } } });
app.get('/x', async () => ({}));
`,
    },
    expect: { SE17: 'PASS' },
    at: { SE17: { file: 'src/app.ts', line: "target: 'pino-loki'" } },
  },
];

const authorization: Case[] = [
  {
    name: 'per-route scope checks and caller allowlists',
    files: {
      'src/app.ts': `import Fastify from 'fastify';
import fp from 'fastify-plugin';
import { createVerifier } from 'fast-jwt';
const verify = createVerifier({
  key: async () => process.env.PUBLIC_KEY ?? '',
  algorithms: ['ES256'],
  allowedIss: 'https://authority',
  allowedAud: 'orders',
});
function requireScope(scope: string, callers: string[]) {
  return async (request: any, reply: any) => {
    if (!request.user.scope.includes(scope) || !callers.includes(request.user.sub)) {
      return reply.code(403).send();
    }
  };
}
const app = Fastify();
app.register(fp(async (i) => {
  i.addHook('onRequest', async (request: any, reply: any) => {
    try {
      request.user = await verify(String(request.headers.authorization).slice(7));
    } catch {
      return reply.code(401).send();
    }
  });
}));
app.get('/orders', { preHandler: requireScope('orders:read', ['api-gateway']) }, async () => []);
app.post('/orders', { preHandler: requireScope('orders:write', ['checkout']) }, async () => ({}));
`,
    },
    expect: { SE1: 'PASS', SE9: 'PASS', SE10: 'PASS', SE6: 'PASS', SE7: 'PASS', SV7: 'PASS' },
  },
];

describe('SE: route coverage and Fastify encapsulation', () => {
  for (const c of encapsulation) test(c.name, () => check(c));
});
describe('SE: Express middleware order', () => {
  for (const c of express) test(c.name, () => check(c));
});
describe('SE4: decode versus verify', () => {
  for (const c of decode) test(c.name, () => check(c));
});
describe('SE5–SE7: claims', () => {
  for (const c of claims) test(c.name, () => check(c));
});
describe('SE with @tessera/fastify', () => {
  for (const c of tessera) test(c.name, () => check(c));
});
describe('SE: spoofable markers and identity headers', () => {
  for (const c of markers) test(c.name, () => check(c));
});
describe('SE12: default allow', () => {
  for (const c of unset) test(c.name, () => check(c));
});
describe('SE: no server', () => {
  for (const c of noServer) test(c.name, () => check(c));
});
describe('SE13–SE22: logging', () => {
  for (const c of logging) test(c.name, () => check(c));
});
describe('SE9–SE10: authorisation per endpoint', () => {
  for (const c of authorization) test(c.name, () => check(c));
});

const FASTIFY_APP = (limiter: string) => `import Fastify from 'fastify';
import rateLimit from '@fastify/rate-limit';
import jwt from 'jsonwebtoken';
const publicKey = process.env.JWT_PUBLIC_KEY ?? '';
const instance = Fastify();
${limiter}${VERIFY_HOOK}
instance.get('/invoices', async () => []);
`;

const rateLimiting: Case[] = [
  {
    name: 'no rate limiter at all fails',
    files: { 'src/app.ts': FASTIFY_APP('') },
    expect: { SE23: 'FAIL' },
  },
  {
    name: 'a global (per-address) @fastify/rate-limit fails (seed 000: "Global only")',
    files: {
      'src/app.ts': FASTIFY_APP(
        "await instance.register(rateLimit, { global: true, max: 100, timeWindow: '1 minute' });",
      ),
    },
    expect: { SE23: 'FAIL' },
    at: { SE23: { file: 'src/app.ts', line: 'await instance.register(rateLimit' } },
  },
  {
    name: 'a limiter keyed on the verified caller passes',
    files: {
      'src/app.ts': FASTIFY_APP(
        "await instance.register(rateLimit, { max: 100, timeWindow: '1 minute', keyGenerator: (request) => request.user.sub });",
      ),
    },
    expect: { SE23: 'PASS' },
    at: { SE23: { file: 'src/app.ts', line: 'await instance.register(rateLimit' } },
  },
  {
    name: 'express-rate-limit with its default (address) key fails',
    files: {
      'src/app.js': `const express = require('express');
const rateLimit = require('express-rate-limit');
const app = express();
app.use(rateLimit({ windowMs: 60000, max: 100 }));
app.get('/invoices', (req, res) => res.json([]));
`,
    },
    expect: { SE23: 'FAIL' },
    at: { SE23: { file: 'src/app.js', line: 'app.use(rateLimit(' } },
  },
  {
    name: "Tessera's plugin limits per caller unless rateLimit is false",
    files: {
      'src/app.ts': `import Fastify from 'fastify';
import { tessera } from '@tessera/fastify';
const app = Fastify();
await app.register(tessera, { service: 'billing', authority: { url: 'https://authority.internal' }, rateLimit: false });
app.get('/invoices', async () => []);
`,
    },
    expect: { SE23: 'FAIL' },
    at: { SE23: { file: 'src/app.ts', line: 'rateLimit: false' } },
  },
];

describe('SE23: rate limiting per calling service (seed 000, IA7)', () => {
  for (const c of rateLimiting) test(c.name, () => check(c));
});
