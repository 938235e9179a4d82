/**
 * Koa and Hono services: routes, the middleware in front of them (in registration order), routers
 * and sub-applications with their prefixes, koa-jwt and hono/jwt, and the Koa/Hono ways of
 * refusing (`ctx.throw(401)`, `ctx.status = 401`, `c.json(…, 401)`) or passing (`await next()`).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { loadProject } from '../src/project/load.ts';
import { detectServices } from '../src/project/services.ts';
import { check, cleanUp, type Case } from './inbound-harness.ts';

after(cleanUp);

const KOA_JWT_CONFIG = `import jwksRsa from 'jwks-rsa';
export const jwtOptions = {
  secret: jwksRsa.koaJwtSecret({ jwksUri: 'https://idp.example.net/.well-known/jwks.json', cache: true }),
  audience: 'stock-api',
  issuer: 'https://idp.example.net/',
  algorithms: ['RS256'],
};
`;

const koa: Case[] = [
  {
    name: 'koa: koa-jwt on the app before the router covers every route',
    files: {
      'src/auth.ts': KOA_JWT_CONFIG,
      'src/server.ts': `import Koa from 'koa';
import Router from '@koa/router';
import jwt from 'koa-jwt';
import { jwtOptions } from './auth.ts';

const app = new Koa();
const router = new Router({ prefix: '/v1' });
router.get('/shelves', async (ctx) => { ctx.body = []; });
router.post('/shelves/:id/count', async (ctx) => { ctx.status = 204; });

app.use(jwt(jwtOptions));
app.use(router.routes()).use(router.allowedMethods());
app.listen(8080);
`,
    },
    expect: { SE1: 'PASS', SE2: 'PASS', SE4: 'PASS', SE6: 'PASS', SE7: 'PASS' },
    at: { SE1: { file: 'src/server.ts', line: 'app.use(jwt(jwtOptions));' } },
  },
  {
    name: 'koa: a router mounted before the JWT middleware is open',
    files: {
      'src/auth.ts': KOA_JWT_CONFIG,
      'src/server.ts': `import Koa from 'koa';
import Router from '@koa/router';
import jwt from 'koa-jwt';
import { jwtOptions } from './auth.ts';

const exportRouter = new Router();
exportRouter.get('/export/ledger', async (ctx) => { ctx.body = 'csv'; });
const api = new Router();
api.get('/shelves', async (ctx) => { ctx.body = []; });

const app = new Koa();
app.use(exportRouter.routes());
app.use(jwt(jwtOptions));
app.use(api.routes());
app.listen(8080);
`,
    },
    expect: { SE1: 'FAIL', SE2: 'PARTIAL' },
    at: { SE1: { file: 'src/server.ts', line: "exportRouter.get('/export/ledger'" } },
  },
  {
    name: 'koa: unless paths leave those routes open',
    files: {
      'src/auth.ts': KOA_JWT_CONFIG,
      'src/server.ts': `import Koa from 'koa';
import Router from '@koa/router';
import jwt from 'koa-jwt';
import { jwtOptions } from './auth.ts';

const router = new Router();
router.get('/healthz', async (ctx) => { ctx.body = 'ok'; });
router.get('/partners/feed', async (ctx) => { ctx.body = []; });
router.get('/shelves', async (ctx) => { ctx.body = []; });

const app = new Koa();
app.use(jwt(jwtOptions).unless({ path: ['/healthz', /^\\/partners/] }));
app.use(router.routes());
app.listen(8080);
`,
    },
    expect: { SE1: 'FAIL', SE2: 'PARTIAL' },
    at: { SE1: { file: 'src/server.ts', line: "router.get('/partners/feed'" } },
  },
  {
    name: 'koa: unless limited to a health path keeps the rest protected',
    files: {
      'src/auth.ts': KOA_JWT_CONFIG,
      'src/server.ts': `import Koa from 'koa';
import Router from '@koa/router';
import jwt from 'koa-jwt';
import { jwtOptions } from './auth.ts';

const router = new Router();
router.get('/healthz', async (ctx) => { ctx.body = 'ok'; });
router.get('/shelves', async (ctx) => { ctx.body = []; });

const app = new Koa();
app.use(jwt(jwtOptions).unless({ path: ['/healthz'] }));
app.use(router.routes());
app.listen(8080);
`,
    },
    expect: { SE1: 'PASS', SE2: 'PASS' },
  },
  {
    name: 'koa: passthrough verifies tokens but requires none',
    files: {
      'src/server.ts': `import Koa from 'koa';
import Router from '@koa/router';
import jwt from 'koa-jwt';

const router = new Router();
router.get('/shelves', async (ctx) => { ctx.body = []; });
const app = new Koa();
app.use(jwt({ secret: process.env.JWT_PUBLIC_KEY as string, algorithms: ['RS256'], passthrough: true }));
app.use(router.routes());
app.listen(8080);
`,
    },
    expect: { SE1: 'FAIL' },
  },
  {
    name: 'koa: router-level key middleware with ctx.throw protects that router only',
    files: {
      'src/internal-key.ts': `import { timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';

const expected = Buffer.from(process.env.INTERNAL_API_KEY ?? '');

export async function requireInternalKey(ctx: Context, next: Next) {
  const provided = Buffer.from(ctx.get('x-internal-key'));
  if (provided.length !== expected.length || !timingSafeEqual(provided, expected)) {
    ctx.throw(401, 'invalid internal key');
  }
  await next();
}
`,
      'src/server.ts': `import Koa from 'koa';
import Router from '@koa/router';
import { requireInternalKey } from './internal-key.ts';

const internal = new Router({ prefix: '/internal' });
internal.use(requireInternalKey);
internal.post('/recount', async (ctx) => { ctx.status = 202; });

const reports = new Router({ prefix: '/reports' });
reports.get('/daily', async (ctx) => { ctx.body = {}; });

const app = new Koa();
app.use(internal.routes());
app.use(reports.routes());
app.listen(8080);
`,
    },
    expect: { SE1: 'FAIL' },
    at: { SE1: { file: 'src/server.ts', line: "reports.get('/daily'" } },
  },
  {
    name: 'koa: ctx.status = 401 without next refuses; the route after it is protected',
    files: {
      'src/server.ts': `import Koa from 'koa';
import Router from '@koa/router';
import { timingSafeEqual } from 'node:crypto';

const key = Buffer.from(process.env.SERVICE_KEY ?? '');
const app = new Koa();
app.use(async (ctx, next) => {
  const sent = Buffer.from(ctx.headers['x-service-key'] as string ?? '');
  if (sent.length !== key.length || !timingSafeEqual(sent, key)) {
    ctx.status = 401;
    ctx.body = { error: 'unauthorized' };
    return;
  }
  await next();
});
const router = new Router();
router.get('/pallets', async (ctx) => { ctx.body = []; });
app.use(router.routes());
app.listen(8080);
`,
    },
    expect: { SE1: 'PASS', SE2: 'PASS', SE12: 'PASS' },
  },
  {
    name: 'koa: a key check that lets requests through when the key is unset',
    files: {
      'src/server.ts': `import Koa from 'koa';
import Router from '@koa/router';

const app = new Koa();
app.use(async (ctx, next) => {
  const apiKey = process.env.PARTNER_API_KEY;
  if (!apiKey) {
    await next();
    return;
  }
  if (ctx.get('x-api-key') !== apiKey) ctx.throw(403);
  await next();
});
const router = new Router();
router.get('/pallets', async (ctx) => { ctx.body = []; });
app.use(router.routes());
app.listen(8080);
`,
    },
    expect: { SE12: 'FAIL' },
    at: { SE12: { file: 'src/server.ts', line: 'if (!apiKey) {' } },
  },
  {
    name: 'koa: a middleware that only logs and calls next protects nothing',
    files: {
      'src/server.ts': `import Koa from 'koa';
import Router from '@koa/router';

const app = new Koa();
app.use(async (ctx, next) => {
  const started = Date.now();
  await next();
  console.log(ctx.method, ctx.path, Date.now() - started);
});
const router = new Router();
router.get('/pallets', async (ctx) => { ctx.body = []; });
app.use(router.routes());
app.listen(8080);
`,
    },
    expect: { SE1: 'FAIL', SE2: 'FAIL' },
  },
  {
    name: 'koa: nested routers and koa-mount keep prefixes and the middleware before them',
    files: {
      'src/auth.ts': KOA_JWT_CONFIG,
      'src/server.ts': `import Koa from 'koa';
import mount from 'koa-mount';
import Router from '@koa/router';
import jwt from 'koa-jwt';
import { jwtOptions } from './auth.ts';

const bins = new Router();
bins.get('/:id', async (ctx) => { ctx.body = {}; });
const api = new Router();
api.use('/bins', bins.routes());

const admin = new Koa();
admin.use(async (ctx) => { ctx.body = 'admin'; });

const app = new Koa();
app.use(mount('/admin', admin));
app.use(jwt(jwtOptions));
app.use(api.routes());
app.listen(8080);
`,
    },
    expect: { SE1: 'PASS' },
  },
];

/** A Koa service behind koa-jwt, with `extra` middleware installed first. */
function koaService(imports: string, extra: string): Record<string, string> {
  return {
    'src/auth.ts': KOA_JWT_CONFIG,
    'src/server.ts': `import Koa from 'koa';
import Router from '@koa/router';
import jwt from 'koa-jwt';
import { jwtOptions } from './auth.ts';
${imports}
const app = new Koa();
${extra}
app.use(jwt(jwtOptions));
const router = new Router();
router.get('/shelves', async (ctx) => { ctx.body = []; });
app.use(router.routes());
app.listen(8080);
`,
  };
}

const koaOperations: Case[] = [
  {
    name: 'koa: ctx.throw with a named status constant is a refusal',
    files: {
      'src/server.ts': `import Koa from 'koa';
import Router from '@koa/router';
import { StatusCodes } from 'http-status-codes';
import { timingSafeEqual } from 'node:crypto';

const key = Buffer.from(process.env.INTERNAL_API_KEY ?? '');
const app = new Koa();
app.use(async (ctx, next) => {
  const sent = Buffer.from(ctx.get('x-api-key'));
  if (sent.length !== key.length || !timingSafeEqual(sent, key)) ctx.throw(StatusCodes.FORBIDDEN);
  await next();
});
const router = new Router();
router.get('/pallets', async (ctx) => { ctx.body = []; });
app.use(router.routes());
app.listen(8080);
`,
    },
    expect: { SE1: 'PASS', SE11: 'FAIL' },
    at: { SE11: { file: 'src/server.ts', line: 'ctx.throw(StatusCodes.FORBIDDEN)' } },
  },

  {
    name: "koa: app.on('error') logs the errors Koa catches",
    files: koaService(
      "import pino from 'pino';\nconst logger = pino();",
      `app.on('error', (err, ctx) => {
  logger.error({ err, path: ctx?.path, status: err.status }, 'request error');
});`,
    ),
    expect: { SE22: 'PASS' },
    at: { SE22: { file: 'src/server.ts', line: "app.on('error', (err, ctx) => {" } },
  },

  {
    name: 'koa: a probe that pings a dependency through ctx without catching',
    files: koaService(
      '',
      `app.use(async (ctx, next) => {
  if (ctx.path !== '/healthz') return next();
  await ctx.redis.ping();
  ctx.body = { status: 'ok' };
});
const health = new Router();
health.get('/healthz', async (ctx) => {
  await ctx.state.db.query('select 1');
  ctx.set('cache-control', 'no-store');
  ctx.body = 'ok';
});
app.use(health.routes());`,
    ),
    expect: { FS3: 'FAIL' },
  },
  {
    name: 'koa: a probe that catches its dependency error',
    files: koaService(
      '',
      `const health = new Router();
health.get('/healthz', async (ctx) => {
  try {
    await ctx.state.db.query('select 1');
    ctx.body = 'ok';
  } catch {
    ctx.status = 503;
  }
});
app.use(health.routes());`,
    ),
    expect: { FS3: 'PASS' },
  },

  {
    name: 'koa: koa-compose runs the verifier it composes',
    files: {
      'src/server.ts': `import Koa from 'koa';
import compose from 'koa-compose';
import Router from '@koa/router';
import jsonwebtoken from 'jsonwebtoken';

const publicKey = process.env.JWT_PUBLIC_KEY as string;

async function requestId(ctx: Koa.Context, next: Koa.Next) {
  ctx.set('x-request-id', ctx.get('x-request-id') || crypto.randomUUID());
  await next();
}

async function authenticate(ctx: Koa.Context, next: Koa.Next) {
  const token = ctx.get('authorization').replace(/^Bearer /, '');
  try {
    ctx.state.caller = jsonwebtoken.verify(token, publicKey, { algorithms: ['RS256'], audience: 'stock' });
  } catch {
    ctx.throw(401, 'invalid token');
  }
  await next();
}

const router = new Router();
router.get('/bins', async (ctx) => { ctx.body = []; });
const app = new Koa();
app.use(compose([requestId, authenticate]));
app.use(router.routes());
app.listen(8080);
`,
    },
    expect: { SE1: 'PASS', SE2: 'PASS', SE4: 'PASS' },
  },
  {
    name: 'koa: koa-passport on each route is per-route authentication',
    files: {
      'src/server.ts': `import Koa from 'koa';
import Router from '@koa/router';
import passport from 'koa-passport';

const router = new Router();
router.get('/bins', passport.authenticate('jwt', { session: false }), async (ctx) => { ctx.body = []; });
router.get('/bins/:id', passport.authenticate('jwt', { session: false }), async (ctx) => { ctx.body = {}; });
const app = new Koa();
app.use(passport.initialize());
app.use(router.routes());
app.listen(8080);
`,
    },
    expect: { SE1: 'PASS', SE2: 'PARTIAL' },
  },

  {
    name: 'koa: an error middleware that logs covers refusals thrown downstream',
    files: koaService(
      "import pinoLogger from 'koa-pino-logger';",
      `app.use(pinoLogger());
app.use(async (ctx, next) => {
  try {
    await next();
  } catch (err) {
    const status = (err as { status?: number }).status ?? 500;
    ctx.log.warn({ err, status, path: ctx.path }, 'request failed');
    ctx.status = status;
    ctx.body = { error: status === 401 ? 'unauthorized' : 'error' };
  }
});`,
    ),
    // pinoLogger() without genReqId numbers requests per process: no correlation id (SE14).
    expect: { SE14: 'FAIL', SE15: 'PASS', SE22: 'PASS' },
    at: { SE22: { file: 'src/server.ts', line: 'app.use(async (ctx, next) => {' } },
  },
  {
    name: 'koa: an error middleware that answers without logging',
    files: koaService(
      '',
      `app.use(async (ctx, next) => {
  try {
    await next();
  } catch (err) {
    ctx.status = (err as { status?: number }).status ?? 500;
    ctx.body = { error: 'request failed' };
  }
});`,
    ),
    expect: { SE14: 'FAIL', SE15: 'FAIL', SE22: 'FAIL' },
  },
  {
    name: 'koa: koa-ratelimit keyed by the verified caller',
    files: koaService(
      "import ratelimit from 'koa-ratelimit';",
      `app.use(ratelimit({
  driver: 'memory',
  db: new Map(),
  duration: 60_000,
  max: 600,
  id: (ctx) => ctx.state.user?.azp ?? ctx.ip,
}));`,
    ),
    expect: { SE23: 'PASS' },
  },
  {
    name: 'koa: koa-ratelimit keyed by address only',
    files: koaService(
      "import ratelimit from 'koa-ratelimit';",
      `app.use(ratelimit({ driver: 'memory', db: new Map(), duration: 60_000, max: 600, id: (ctx) => ctx.ip }));`,
    ),
    expect: { SE23: 'FAIL' },
  },
  {
    name: 'koa: route modules loaded from a directory hang off the only app',
    files: {
      'src/auth.ts': KOA_JWT_CONFIG,
      'src/routes/stock.ts': `import type Router from '@koa/router';
export default function registerStock(router: Router) {
  router.get('/stock/:sku', async (ctx) => { ctx.body = { sku: ctx.params.sku }; });
}
`,
      'src/server.ts': `import { readdirSync } from 'node:fs';
import Koa from 'koa';
import Router from '@koa/router';
import jwt from 'koa-jwt';
import { jwtOptions } from './auth.ts';

const router = new Router();
for (const file of readdirSync(new URL('./routes', import.meta.url))) {
  const routes = await import(new URL(\`./routes/\${file}\`, import.meta.url).href);
  routes.default(router);
}
const app = new Koa();
app.use(jwt(jwtOptions));
app.use(router.routes());
app.listen(8080);
`,
    },
    expect: { SE1: 'PASS' },
  },
  {
    name: 'koa: koa-route routes are ordered with the middleware around them',
    files: {
      'src/auth.ts': KOA_JWT_CONFIG,
      'src/server.ts': `import Koa from 'koa';
import route from 'koa-route';
import jwt from 'koa-jwt';
import { jwtOptions } from './auth.ts';

const app = new Koa();
app.use(route.get('/catalogue', async (ctx) => { ctx.body = []; }));
app.use(jwt(jwtOptions));
app.use(route.post('/orders', async (ctx) => { ctx.status = 201; }));
app.listen(8080);
`,
    },
    expect: { SE1: 'FAIL', SE2: 'PARTIAL' },
    at: { SE1: { file: 'src/server.ts', line: "app.use(route.get('/catalogue'" } },
  },
];

const hono: Case[] = [
  {
    name: 'hono: jwt on /api/* covers the api routes',
    files: {
      'src/index.ts': `import { Hono } from 'hono';
import { jwt } from 'hono/jwt';
import { serve } from '@hono/node-server';

const app = new Hono();
app.get('/health', (c) => c.text('ok'));
app.use('/api/*', jwt({ secret: process.env.JWT_PUBLIC_KEY as string, alg: 'RS256' }));
app.get('/api/parcels/:id', (c) => c.json({ id: c.req.param('id') }));
app.post('/api/parcels', async (c) => c.json(await c.req.json(), 201));

serve({ fetch: app.fetch, port: 3000 });
`,
    },
    expect: { SE1: 'PASS', SE2: 'PASS', SE4: 'PASS' },
    at: { SE1: { file: 'src/index.ts', line: "app.use('/api/*', jwt(" } },
  },
  {
    name: 'hono: a route registered before the middleware, and one outside its path, are open',
    files: {
      'src/index.ts': `import { Hono } from 'hono';
import { jwt } from 'hono/jwt';
import { serve } from '@hono/node-server';

const app = new Hono();
app.get('/api/export', (c) => c.text('all parcels'));
app.use('/api/*', jwt({ secret: process.env.JWT_PUBLIC_KEY as string, alg: 'RS256' }));
app.get('/api/parcels', (c) => c.json([]));
app.get('/reports/daily', (c) => c.json([]));
serve({ fetch: app.fetch, port: 3000 });
`,
    },
    expect: { SE1: 'FAIL', SE2: 'PARTIAL' },
    at: { SE1: { file: 'src/index.ts', line: "app.get('/api/export'" } },
  },
  {
    name: 'hono: a middleware path without * matches only that path',
    files: {
      'src/index.ts': `import { Hono } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';

const app = new Hono();
app.use('/admin', bearerAuth({ token: process.env.ADMIN_TOKEN as string }));
app.get('/admin', (c) => c.text('dashboard'));
app.delete('/admin/cache', (c) => c.body(null, 204));
export default app;
`,
    },
    expect: { SE1: 'FAIL' },
    at: { SE1: { file: 'src/index.ts', line: "app.delete('/admin/cache'" } },
  },
  {
    name: 'hono: a custom middleware answering 401 guards the sub-app mounted after it',
    files: {
      'src/auth.ts': `import type { Context, Next } from 'hono';
import { timingSafeEqual } from 'node:crypto';

export async function serviceKey(c: Context, next: Next) {
  const sent = Buffer.from(c.req.header('x-service-key') ?? '');
  const key = Buffer.from(process.env.SERVICE_KEY ?? '');
  if (sent.length !== key.length || !timingSafeEqual(sent, key)) {
    return c.json({ error: 'unauthorized' }, 401);
  }
  await next();
}
`,
      'src/parcels.ts': `import { Hono } from 'hono';
export const parcels = new Hono();
parcels.get('/', (c) => c.json([]));
parcels.put('/:id', (c) => c.json({}));
`,
      'src/index.ts': `import { Hono } from 'hono';
import { serve } from '@hono/node-server';
import { serviceKey } from './auth.ts';
import { parcels } from './parcels.ts';

const app = new Hono().basePath('/v2');
app.use('*', serviceKey);
app.route('/parcels', parcels);
serve({ fetch: app.fetch, port: 3000 });
`,
    },
    expect: { SE1: 'PASS', SE2: 'PASS' },
    at: { SE1: { file: 'src/index.ts', line: "app.use('*', serviceKey);" } },
  },
  {
    name: 'hono: a sub-app mounted before the middleware is open',
    files: {
      'src/index.ts': `import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';

const bulk = new Hono();
bulk.get('/all', (c) => c.json([]));
const app = new Hono();
app.route('/exports', bulk);
app.use('*', async (c, next) => {
  if (c.req.header('authorization') !== \`Bearer \${process.env.API_TOKEN}\`) {
    throw new HTTPException(401, { message: 'unauthorized' });
  }
  await next();
});
app.get('/parcels', (c) => c.json([]));
export default app;
`,
    },
    expect: { SE1: 'FAIL' },
    at: { SE1: { file: 'src/index.ts', line: "bulk.get('/all'" } },
  },
  {
    name: 'hono: hono/logger logs each request; onError logs failures',
    files: {
      'src/index.ts': `import { Hono } from 'hono';
import { jwt } from 'hono/jwt';
import { logger } from 'hono/logger';
import { HTTPException } from 'hono/http-exception';

const app = new Hono();
app.use('*', logger());
app.use('*', jwt({ secret: process.env.JWT_PUBLIC_KEY as string, alg: 'ES256' }));
app.get('/parcels', (c) => c.json([]));
app.onError((err, c) => {
  console.error({ path: c.req.path, message: err.message });
  return err instanceof HTTPException ? err.getResponse() : c.json({ error: 'internal' }, 500);
});
export default app;
`,
    },
    expect: { SE15: 'PASS', SE22: 'PASS' },
    at: { SE22: { file: 'src/index.ts', line: 'app.onError((err, c) => {' } },
  },
  {
    name: 'hono: createMiddleware with jose, refusing with new Response(…, { status: 401 }) and logging',
    files: {
      'src/auth.ts': `import { createMiddleware } from 'hono/factory';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const jwks = createRemoteJWKSet(new URL('https://idp.example.net/jwks'));

export const requireToken = createMiddleware(async (c, next) => {
  const token = c.req.header('authorization')?.replace(/^Bearer /, '') ?? '';
  try {
    const { payload } = await jwtVerify(token, jwks, { issuer: 'https://idp.example.net', audience: 'parcels' });
    c.set('caller', payload.azp);
  } catch (error) {
    console.warn({ path: c.req.path, reason: (error as Error).message }, 'token refused');
    return new Response('unauthorized', { status: 401 });
  }
  await next();
});
`,
      'src/index.ts': `import { Hono } from 'hono';
import { requireToken } from './auth.ts';

const app = new Hono();
app.use('/v1/*', requireToken);
app.get('/v1/parcels', (c) => c.json([]));
export default app;
`,
    },
    expect: { SE1: 'PASS', SE4: 'PASS', SE11: 'PASS' },
    at: { SE1: { file: 'src/index.ts', line: "app.use('/v1/*', requireToken);" } },
  },
  {
    name: 'hono: the same middleware refusing without a log line',
    files: {
      'src/index.ts': `import { Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const jwks = createRemoteJWKSet(new URL('https://idp.example.net/jwks'));
const requireToken = createMiddleware(async (c, next) => {
  try {
    await jwtVerify(c.req.header('authorization')?.slice(7) ?? '', jwks, { audience: 'parcels' });
  } catch {
    return new Response('unauthorized', { status: 401 });
  }
  await next();
});

const app = new Hono();
app.use('*', requireToken);
app.get('/parcels', (c) => c.json([]));
export default app;
`,
    },
    expect: { SE1: 'PASS', SE11: 'FAIL' },
    at: {
      SE11: { file: 'src/index.ts', line: "return new Response('unauthorized', { status: 401 });" },
    },
  },
  {
    name: 'hono: a probe that only answers through the context calls no dependency',
    files: {
      'src/index.ts': `import { Hono } from 'hono';
import { jwt } from 'hono/jwt';

const app = new Hono();
app.get('/healthz', (c) => c.text('ok'));
app.use('*', jwt({ secret: process.env.JWT_PUBLIC_KEY as string, alg: 'RS256' }));
app.get('/parcels', (c) => c.json([]));
export default app;
`,
    },
    expect: { FS3: 'PASS' },
  },
  {
    name: 'hono: app.on routes count like the others',
    files: {
      'src/index.ts': `import { Hono } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';

const app = new Hono();
app.on(['PUT', 'DELETE'], '/cache/:key', (c) => c.body(null, 204));
app.use('*', bearerAuth({ token: process.env.CACHE_ADMIN_TOKEN as string }));
app.get('/cache/:key', (c) => c.json({}));
export default app;
`,
    },
    expect: { SE1: 'FAIL' },
    at: { SE1: { file: 'src/index.ts', line: "app.on(['PUT', 'DELETE'], '/cache/:key'" } },
  },
  {
    name: 'hono: verify() from hono/jwt with a Workers binding secret, HS256 and no issuer',
    files: {
      'src/index.ts': `import { Hono } from 'hono';
import { verify } from 'hono/jwt';

const app = new Hono<{ Bindings: { JWT_SECRET: string } }>();
app.use('/api/*', async (c, next) => {
  const token = c.req.header('Authorization')?.replace('Bearer ', '');
  if (!token) return c.json({ error: 'missing token' }, 401);
  try {
    c.set('jwtPayload', await verify(token, c.env.JWT_SECRET, 'HS256'));
  } catch {
    return c.json({ error: 'invalid token' }, 401);
  }
  await next();
});
app.get('/api/orders', (c) => c.json({ caller: c.get('jwtPayload').sub }));
export default app;
`,
    },
    expect: { SE1: 'PASS', SE4: 'PASS', SE6: 'FAIL', SE19: 'FAIL' },
    at: { SE19: { file: 'src/index.ts', line: "await verify(token, c.env.JWT_SECRET, 'HS256')" } },
  },
  {
    name: 'hono: jwk() against the issuer JWKS with an algorithm allowlist and claims',
    files: {
      'src/index.ts': `import { Hono } from 'hono';
import { jwk } from 'hono/jwk';

const app = new Hono();
app.use(
  '/v1/*',
  jwk({
    jwks_uri: 'https://idp.example.net/.well-known/jwks.json',
    alg: ['RS256'],
    verification: { iss: 'https://idp.example.net/', aud: 'shipments' },
  }),
);
app.get('/v1/shipments', (c) => c.json([]));
export default app;
`,
    },
    expect: { SE1: 'PASS', SE6: 'PASS', SE7: 'PASS', SE19: 'PASS' },
  },
  {
    name: 'hono: jwk() with allow_anon requires no token',
    files: {
      'src/index.ts': `import { Hono } from 'hono';
import { jwk } from 'hono/jwk';

const app = new Hono();
app.use('/v1/*', jwk({ jwks_uri: 'https://idp.example.net/.well-known/jwks.json', alg: ['RS256'], allow_anon: true }));
app.get('/v1/shipments', (c) => c.json([]));
export default app;
`,
    },
    expect: { SE1: 'FAIL' },
  },
];

describe('Koa', () => {
  for (const testCase of koa) test(testCase.name, () => check(testCase));
});

describe('Koa logging, error middleware and rate limits', () => {
  for (const testCase of koaOperations) test(testCase.name, () => check(testCase));
});

describe('Hono', () => {
  for (const testCase of hono) test(testCase.name, () => check(testCase));
});

describe('unless paths are read for express-jwt too', () => {
  test('a path express-jwt skips is open', () =>
    check({
      name: 'express-jwt unless',
      files: {
        'src/app.ts': `import express from 'express';
import { expressjwt } from 'express-jwt';
import jwksRsa from 'jwks-rsa';

const app = express();
app.use(
  expressjwt({
    secret: jwksRsa.expressJwtSecret({ jwksUri: 'https://idp.example.net/jwks' }) as never,
    algorithms: ['RS256'],
    audience: 'ledger',
    issuer: 'https://idp.example.net/',
  }).unless({ path: [{ url: '/ledger/export', methods: ['GET'] }] }),
);
app.get('/ledger/export', (req, res) => { res.json([]); });
app.post('/ledger/export', (req, res) => { res.status(202).end(); });
app.listen(3000);
`,
      },
      expect: { SE1: 'FAIL' },
      at: { SE1: { file: 'src/app.ts', line: "app.get('/ledger/export'" } },
    }));
});

describe('Hono services in a monorepo', () => {
  test('a package that default-exports { fetch } (Bun, Workers) is a service; a sub-app package is not', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'tessera-hono-'));
    const files: Record<string, string> = {
      'package.json': JSON.stringify({
        name: 'shop',
        private: true,
        workspaces: ['apps/*', 'packages/*'],
      }),
      'apps/edge/package.json': JSON.stringify({ name: 'edge', dependencies: { hono: '^4' } }),
      'apps/edge/src/index.ts': `import { Hono } from 'hono';
import { catalogue } from '@shop/catalogue';
const app = new Hono();
app.route('/catalogue', catalogue);
export default { port: 8787, fetch: app.fetch };
`,
      'apps/worker/package.json': JSON.stringify({ name: 'worker', dependencies: { hono: '^4' } }),
      'apps/worker/src/index.ts': `import { Hono } from 'hono';
import { serve } from '@hono/node-server';
const app = new Hono();
app.get('/jobs', (c) => c.json([]));
serve({ fetch: app.fetch, port: 3001 });
`,
      'packages/catalogue/package.json': JSON.stringify({
        name: '@shop/catalogue',
        main: 'src/index.ts',
      }),
      'packages/catalogue/src/index.ts': `import { Hono } from 'hono';
export const catalogue = new Hono();
catalogue.get('/', (c) => c.json([]));
export default catalogue;
`,
    };
    try {
      for (const [file, text] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(root, file)), { recursive: true });
        await writeFile(path.join(root, file), text);
      }
      const services = detectServices(await loadProject(root));
      assert.deepEqual(services.map((s) => s.name).sort(), ['edge', 'worker']);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
