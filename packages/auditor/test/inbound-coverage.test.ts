/**
 * What covers a route in real Express code: routers built by factory functions and mounted behind
 * middleware, proxy middleware mounted under a prefix. Each case has its negative.
 */
import { after, describe, test } from 'node:test';
import { check, cleanUp, type Case } from './inbound-harness.ts';

after(cleanUp);

const REQUIRE_SESSION = `import jwt from 'jsonwebtoken';
export function requireSession(req, res, next) {
  try {
    req.account = jwt.verify(req.cookies.session ?? '', process.env.SESSION_PUBLIC_KEY ?? '', {
      algorithms: ['RS256'],
      issuer: 'https://login.example',
      audience: 'storefront',
    });
    next();
  } catch {
    res.status(401).json({ error: 'sign in again' });
  }
}
`;

const INVOICE_ROUTES = `import { Router } from 'express';
export function invoiceRoutes() {
  const router = Router();
  router.get('/', (req, res) => res.json([]));
  router.post('/:invoiceId/pay', (req, res) => res.status(202).end());
  return router;
}
`;

const server = (mount: string): string => `import express from 'express';
import { requireSession } from './session.js';
import { invoiceRoutes } from './invoices.js';
const app = express();
${mount}
app.listen(3000);
`;

const factories: Case[] = [
  {
    name: 'a router returned by a factory and mounted behind middleware is covered by it',
    files: {
      'src/session.js': REQUIRE_SESSION,
      'src/invoices.js': INVOICE_ROUTES,
      'src/server.js': server(`app.use('/billing/invoices', requireSession, invoiceRoutes());`),
    },
    expect: { SE1: 'PASS', SE3: 'PASS' },
  },
  {
    name: 'the same router mounted without the middleware is open',
    files: {
      'src/session.js': REQUIRE_SESSION,
      'src/invoices.js': INVOICE_ROUTES,
      'src/server.js':
        server(`app.use('/account', requireSession, (req, res) => res.json(req.account));
app.use('/billing/invoices', invoiceRoutes());`),
    },
    expect: { SE1: 'FAIL' },
    at: { SE1: { file: 'src/invoices.js', line: "router.post('/:invoiceId/pay'" } },
  },
];

describe('Express routers built by factory functions', () => {
  for (const c of factories) test(c.name, () => check(c));
});

const PROXY = `import { createProxyMiddleware } from 'http-proxy-middleware';
export function forwardTo(target) {
  return createProxyMiddleware({ target, changeOrigin: true, xfwd: true });
}
`;

const edge = (mounts: string): string => `import express from 'express';
import { requireSession } from './session.js';
import { forwardTo } from './forward.js';
const app = express();
app.get('/livez', (req, res) => res.send('ok'));
app.use('/oauth', forwardTo('http://identity:8080'));
${mounts}
app.use((req, res) => res.status(404).end());
app.listen(8443);
`;

const proxies: Case[] = [
  {
    name: 'proxy mounts behind an app-wide middleware are covered routes',
    files: {
      'src/session.js': REQUIRE_SESSION,
      'src/forward.js': PROXY,
      'src/edge.js': edge(`app.use(requireSession);
app.use('/catalog', forwardTo('http://catalog:8080'));
app.use('/baskets', forwardTo('http://baskets:8080'));`),
    },
    expect: { SE1: 'PASS', SE2: 'PASS', SE3: 'PASS', SE20: 'PASS' },
  },
  {
    name: 'a proxy mounted before the middleware is an open route',
    files: {
      'src/session.js': REQUIRE_SESSION,
      'src/forward.js': PROXY,
      'src/edge.js': edge(`app.use('/reports', forwardTo('http://reports:8080'));
app.use(requireSession);
app.use('/baskets', forwardTo('http://baskets:8080'));`),
    },
    expect: { SE1: 'FAIL', SE2: 'PARTIAL' },
    at: { SE1: { file: 'src/edge.js', line: "app.use('/reports'" } },
  },
];

describe('Express proxy middleware mounted under a path', () => {
  for (const c of proxies) test(c.name, () => check(c));
});

const trustingBackend = (front: string): string => `import express from 'express';
${front}
const app = express();
app.get('/shipments', (req, res) => res.json({ owner: req.headers['x-user-id'] }));
app.listen(3000);
`;

describe('PH1: internal headers are blocked where requests are proxied', () => {
  test('a backend that trusts x-user-id is not a hop that forwards headers (SE8 reports it)', () =>
    check({
      name: 'backend trusting x-user-id',
      files: { 'src/app.js': trustingBackend('') },
      expect: { PH1: 'N/A', SE8: 'FAIL' },
      at: { SE8: { file: 'src/app.js', line: "req.headers['x-user-id']" } },
    }));
  test('a service that proxies upstream and trusts x-user-id fails PH1', () =>
    check({
      name: 'proxy trusting x-user-id',
      files: {
        'src/app.js': trustingBackend(
          "import { createProxyMiddleware } from 'http-proxy-middleware';",
        ).replace(
          'app.listen(3000);',
          "app.use('/tracking', createProxyMiddleware({ target: 'http://tracking:8080' }));\napp.listen(3000);",
        ),
      },
      expect: { PH1: 'FAIL' },
      at: { PH1: { file: 'src/app.js', line: "req.headers['x-user-id']" } },
    }));
});

// CommonJS middleware reached through export objects, the layout of many Express tutorials and
// services: middleware/index.js gathers `{ authJwt }`, each module exports an object of functions.
const VERIFY_TOKEN = `const jwt = require('jsonwebtoken');
const verifyToken = (req, res, next) => {
  const token = req.headers['x-access-token'];
  if (!token) return res.status(403).send({ message: 'No token provided' });
  jwt.verify(token, process.env.TOKEN_PUBLIC_KEY, { algorithms: ['RS256'] }, (err, decoded) => {
    if (err) return res.status(401).send({ message: 'Unauthorized' });
    req.accountId = decoded.sub;
    next();
  });
};
const authJwt = { verifyToken };
module.exports = authJwt;
`;

const commonJsServer = (route: string): string => `const express = require('express');
const { authJwt } = require('./middleware');
const app = express();
${route}
app.listen(3000);
`;

const commonJs: Case[] = [
  {
    name: 'middleware reached as authJwt.verifyToken through an index of export objects covers the route',
    files: {
      'src/middleware/authJwt.js': VERIFY_TOKEN,
      'src/middleware/index.js': `const authJwt = require('./authJwt');\nmodule.exports = { authJwt };\n`,
      'src/server.js': commonJsServer(
        `app.delete('/api/account', [authJwt.verifyToken], (req, res) => res.send('removed'));`,
      ),
    },
    expect: { SE1: 'PASS', SE3: 'PASS' },
  },
  {
    name: 'the same layout, a route without the middleware, is open',
    files: {
      'src/middleware/authJwt.js': VERIFY_TOKEN,
      'src/middleware/index.js': `const authJwt = require('./authJwt');\nmodule.exports = { authJwt };\n`,
      'src/server.js': commonJsServer(
        `app.delete('/api/account', [authJwt.verifyToken], (req, res) => res.send('removed'));
app.get('/api/accounts/export', (req, res) => res.json([]));`,
      ),
    },
    expect: { SE1: 'FAIL' },
    at: { SE1: { file: 'src/server.js', line: "app.get('/api/accounts/export'" } },
  },
];

describe('CommonJS middleware behind export objects', () => {
  for (const c of commonJs) test(c.name, () => check(c));
});
