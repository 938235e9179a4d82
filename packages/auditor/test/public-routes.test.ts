/**
 * Routes public by nature (sign-in, token, probes, metrics, well-known documents): recognised,
 * named in the evidence, and not counted against SE1/SE12, unless they change state or expose
 * the configuration.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { pathKind, type PublicKind } from '../src/analysis/inbound/public-routes.ts';
import { check, cleanUp, contextFor, decide, type Case } from './inbound-harness.ts';

after(cleanUp);

const PATHS: readonly (readonly [string, PublicKind | undefined])[] = [
  ['/auth/login', 'authentication'],
  ['/api/v2/users/sign-in', 'authentication'],
  ['/oauth2/token', 'authentication'],
  ['/token', 'authentication'],
  ['/auth/refresh-token', 'authentication'],
  ['/accounts/register', 'authentication'],
  ['/auth/github/callback', 'authentication'],
  ['/oauth/callback/:provider', 'authentication'],
  ['/identity/*', undefined],
  ['/oauth/*', 'authentication'],
  ['/healthz', 'probe'],
  ['/api/v1/health/ready', 'probe'],
  ['/billing-health', 'probe'],
  ['/ping', 'probe'],
  ['/metrics', 'metrics'],
  ['/.well-known/openid-configuration', 'well-known'],
  ['/keys/jwks.json', 'well-known'],
  ['/realms/shop/protocol/openid-connect/certs', 'well-known'],
  ['/api-docs', 'documentation'],
  // Not public by nature.
  ['/webhooks/carrier/callback', undefined],
  ['/devices/register', undefined],
  ['/orders/:id/status', undefined],
  ['/reports/status', undefined],
  ['/admin/tokens', undefined],
  ['/users/:id', undefined],
  ['/tenants/:tenant/health', undefined],
];

describe('public-by-nature paths', () => {
  for (const [path, kind] of PATHS) {
    test(`${path} is ${kind ?? 'not public'}`, () => {
      assert.equal(pathKind(path), kind);
    });
  }
});

const AUTHENTICATE = `import { createRemoteJWKSet, jwtVerify } from 'jose';
const keys = createRemoteJWKSet(new URL(process.env.JWKS_URL ?? ''));
export async function requireUser(req, res, next) {
  try {
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    const { payload } = await jwtVerify(token, keys, { issuer: 'https://id.example', audience: 'shop' });
    req.user = payload;
    next();
  } catch (err) {
    req.log.warn({ err: String(err) }, 'token refused');
    res.status(401).json({ error: 'unauthorized' });
  }
}
`;

const gateway = (before: string): string => `import express from 'express';
import { requireUser } from './require-user.js';
import { login, refresh, publicKeys } from './session.js';
const app = express();
app.use(express.json());
${before}
app.use(requireUser);
app.get('/carts/:id', (req, res) => res.json({ id: req.params.id, owner: req.user.sub }));
app.post('/carts/:id/items', (req, res) => res.status(201).end());
app.listen(8080);
`;

const SESSION = `export function login(req, res) { res.json({ token: 'issued' }); }
export function refresh(req, res) { res.json({ token: 'refreshed' }); }
export function publicKeys(req, res) { res.json({ keys: [] }); }
`;

const cases: Case[] = [
  {
    name: 'sign-in, refresh, probes, metrics and JWKS before an app-wide authentication middleware',
    files: {
      'src/require-user.js': AUTHENTICATE,
      'src/session.js': SESSION,
      'src/app.js': gateway(`app.post('/session/login', login);
app.post('/session/refresh', refresh);
app.get('/.well-known/jwks.json', publicKeys);
app.get('/livez', (req, res) => res.send('ok'));
app.get('/metrics', (req, res) => res.type('text/plain').send('up 1'));`),
    },
    expect: { SE1: 'PASS', SE12: 'PASS', SE2: 'PASS' },
    at: {
      SE1: { file: 'src/app.js', line: "app.post('/session/login'" },
    },
  },
  {
    name: 'an export route left before the authentication middleware is still open',
    files: {
      'src/require-user.js': AUTHENTICATE,
      'src/session.js': SESSION,
      'src/app.js': gateway(`app.post('/session/login', login);
app.get('/carts/export', (req, res) => res.json([]));`),
    },
    expect: { SE1: 'FAIL', SE12: 'FAIL' },
    at: {
      SE1: { file: 'src/app.js', line: "app.get('/carts/export'" },
      SE12: { file: 'src/app.js', line: "app.get('/carts/export'" },
    },
  },
  {
    name: 'a probe that answers with the whole environment exposes data',
    files: {
      'src/require-user.js': AUTHENTICATE,
      'src/session.js': SESSION,
      'src/app.js': gateway(
        `app.get('/healthz', (req, res) => res.json({ status: 'ok', env: process.env }));`,
      ),
    },
    expect: { SE1: 'FAIL' },
    at: { SE1: { file: 'src/app.js', line: "app.get('/healthz'" } },
  },
  {
    name: 'a metrics route that resets counters on POST changes state',
    files: {
      'src/require-user.js': AUTHENTICATE,
      'src/session.js': SESSION,
      'src/app.js': gateway(`app.post('/metrics', (req, res) => { res.status(204).end(); });`),
    },
    expect: { SE1: 'FAIL', SE12: 'FAIL' },
    at: { SE1: { file: 'src/app.js', line: "app.post('/metrics'" } },
  },
];

describe('SE1/SE12 with routes public by nature', () => {
  for (const c of cases) test(c.name, () => check(c));

  test('the why names the public routes and their reason', async () => {
    const ctx = await contextFor(cases[0]?.files ?? {});
    const se1 = decide(ctx, 'SE1');
    assert.match(se1.why, /public by nature: POST \/session\/login \(authentication endpoint\)/);
    assert.match(se1.why, /GET \/\.well-known\/jwks\.json \(well-known document\)/);
  });
});

const PROBE_LISTENER = (fallback: string): string => `import http from 'node:http';
import { queueDepth } from './queue.js';
export function serveProbes(port) {
  const server = http.createServer((req, res) => {
    if (req.url === '/livez' || req.url === '/readyz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
      return;
    }
    if (req.url === '/metrics') {
      res.end(\`queue_depth \${queueDepth()}\`);
      return;
    }
    ${fallback}
  });
  server.listen(port);
}
`;

const QUEUE = `export function queueDepth() { return 0; }
export function drain(req, res) { res.end('drained'); }
`;

const workers: Case[] = [
  {
    name: 'a worker whose only listener answers probes and metrics has no authenticated API',
    files: {
      'src/probes.js': PROBE_LISTENER('res.writeHead(404).end();'),
      'src/queue.js': QUEUE,
    },
    expect: {
      SE1: 'PASS',
      SE2: 'N/A',
      SE3: 'N/A',
      SE5: 'N/A',
      SE12: 'N/A',
      SE20: 'N/A',
      FS1: 'N/A',
    },
    at: { SE1: { file: 'src/probes.js', line: 'http.createServer' } },
  },
  {
    name: 'a listener that serves probes and then anything else is an open API',
    files: {
      'src/probes.js': PROBE_LISTENER('drain(req, res);').replace(
        "import { queueDepth } from './queue.js';",
        "import { queueDepth, drain } from './queue.js';",
      ),
      'src/queue.js': QUEUE,
    },
    expect: { SE1: 'FAIL', SE2: 'FAIL', FS1: 'FAIL' },
  },
];

describe('services whose only routes are public by nature', () => {
  for (const c of workers) test(c.name, () => check(c));
});
