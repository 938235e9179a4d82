/**
 * The inbound rules never throw, whatever the input, and stay fast on a large codebase.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { STATUSES } from '../src/model.ts';
import { INBOUND_RULES, cleanUp, contextFor, type Files } from './inbound-harness.ts';

after(cleanUp);

const ODD: Files = {
  'src/empty.ts': '',
  'src/only-comments.js': '// nothing here\n/* still nothing */\n',
  'src/broken.ts': `import Fastify from 'fastify';
const app = Fastify(;
app.get('/x', async (request, reply) => {
  if (request.headers['x-gateway-internal'] === 'true' {
    return reply.code(
`,
  'src/dynamic.js': `const express = require('express');
const app = express();
const methods = ['get', 'post'];
for (const m of methods) app[m]('/dyn/' + m, (req, res) => res.end());
app[Symbol.iterator];
const name = 'x-' + Math.random();
app.use((req, res, next) => {
  const value = req.headers[name];
  const computed = req.headers[\`x-\${'user'}-id\`];
  delete req.headers[name];
  if (value == computed) next(value);
  else next();
});
app.use(...[]);
app.use();
app.get();
app.get(undefined, undefined);
app.route();
app.route({});
`,
  'src/weird.ts': `import Fastify from 'fastify';
import fp from 'fastify-plugin';
const app = Fastify();
const plugin = async (i: any) => { i.register(plugin); i.addHook(); i.addHook('onRequest'); };
app.register(plugin);
app.register(fp(fp(fp(plugin))));
app.register(import('./missing.js'));
app.register(require('./nowhere'));
app.addHook('onRequest', app.nonexistentDecorator);
app.decorate('loop', app.loop);
app.get('/loop', { preHandler: app.loop }, async () => ({}));
function a(x: any): any { return b(x); }
function b(x: any): any { return a(x); }
app.get('/recursive', { preHandler: a }, async () => ({}));
export default function self(server: any) { self(server); server.get('/self', () => 1); }
class Service { verify = this.verify; run() { return this.run(); } }
new Service().run;
const jwt = require('jsonwebtoken');
jwt.verify();
jwt.verify(undefined, undefined, undefined, undefined);
jwt.decode();
require('jose').jwtVerify();
require('crypto').createHmac();
const obj = { requestCert: true, ...undefined };
if (!process.env) {}
if (!process.env.SECRET_TOKEN) {}
x = x;
`,
  'src/deep.ts': `export const deep = ${'['.repeat(300)}${']'.repeat(300)};\n`,
  'src/unicode.ts': "export const é = 'ünïcode'; // \u2028\n",
  'policy.yaml': 'version: 1\ntrustDomain: [\n  broken',
  'package.json': '{ not json',
};

describe('robustness', () => {
  test('odd, broken and dynamic code: every rule returns an outcome', async () => {
    const ctx = await contextFor(ODD);
    for (const [id, rule] of INBOUND_RULES) {
      const result = rule(ctx);
      assert.ok(STATUSES.includes(result.status), `${id}: status ${result.status}`);
      assert.ok(result.why.length > 0, `${id}: empty why`);
      for (const evidence of result.evidence) {
        assert.ok(evidence.line >= 1, `${id}: line ${String(evidence.line)}`);
      }
    }
  });

  test('an empty project: every rule is N/A', async () => {
    const ctx = await contextFor({ 'README.md': '# nothing\n' });
    for (const [id, rule] of INBOUND_RULES) {
      assert.equal(rule(ctx).status, 'N/A', id);
    }
  });

  test('50,000 lines of services are analysed by all inbound rules in a few seconds', async () => {
    const files: Record<string, string> = {};
    let lines = 0;
    for (let i = 0; lines < 50_000; i++) {
      const service = syntheticService(i);
      for (const [name, text] of Object.entries(service)) {
        files[`services/s${String(i)}/${name}`] = text;
        lines += text.split('\n').length;
      }
    }
    const ctx = await contextFor(files);
    const started = performance.now();
    for (const rule of INBOUND_RULES.values()) rule(ctx);
    const elapsed = performance.now() - started;
    // The whole audit (every category) must stay well under 15 s on two shared cores.
    assert.ok(elapsed < 8000, `inbound rules took ${String(Math.round(elapsed))} ms`);
  });
});

/** One small Fastify service of about 200 lines, varied by `i`. */
function syntheticService(i: number): Files {
  const routes = Array.from(
    { length: 12 },
    (_, r) => `  app.${r % 3 === 0 ? 'post' : 'get'}('/items${String(r)}/:id', ${
      r % 4 === 0 ? '{ preHandler: [app.authenticate] }, ' : ''
    }async (request, reply) => {
    const id = (request.params as { id: string }).id;
    const tenant = ${i % 5 === 0 ? "request.headers['x-tenant-id']" : '(request.user as { tenant: string }).tenant'};
    request.log.info({ id, tenant }, 'item ${String(r)}');
    const item = await repository.find(id, String(tenant));
    if (item === undefined) return reply.code(404).send({ error: 'not found' });
    return item;
  });`,
  ).join('\n');
  return {
    'src/app.ts': `import Fastify from 'fastify';
import fp from 'fastify-plugin';
import { authenticate } from './auth.ts';
import { routes } from './routes.ts';
export function build() {
  const app = Fastify({ logger: true });
  app.decorate('authenticate', authenticate);
  ${i % 2 === 0 ? "app.register(fp(async (i) => { i.addHook('onRequest', authenticate); }));" : ''}
  app.register(routes, { prefix: '/v1' });
  app.get('/health', async () => ({ ok: true }));
  return app;
}
`,
    'src/auth.ts': `import jwt from 'jsonwebtoken';
import type { FastifyReply, FastifyRequest } from 'fastify';
const key = process.env.JWT_PUBLIC_KEY ?? '';
export async function authenticate(request: FastifyRequest, reply: FastifyReply) {
  const token = request.headers.authorization?.slice(7) ?? '';
  ${i % 7 === 0 ? 'const claims = jwt.decode(token);\n  if (!claims) return reply.code(401).send();' : "try {\n    request.user = jwt.verify(token, key, { algorithms: ['RS256'], issuer: 'a', audience: 'b' });\n  } catch {\n    return reply.code(401).send();\n  }"}
}
`,
    'src/routes.ts': `import type { FastifyInstance } from 'fastify';
import { repository } from './repository.ts';
export async function routes(app: FastifyInstance) {
${routes}
}
`,
    'src/repository.ts': `export const repository = {
  async find(id: string, tenant: string) {
    return { id, tenant, at: Date.now() };
  },
};
${Array.from({ length: 40 }, (_, k) => `export function helper${String(k)}(value: number): number {\n  return value * ${String(k)} + ${String(i)};\n}`).join('\n')}
`,
  };
}
