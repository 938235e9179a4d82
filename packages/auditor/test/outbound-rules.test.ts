import {
  contextFor,
  expectOutcomes,
  removeTempProjects,
  runRule,
  type Expectation,
  type Files,
} from './support/project.ts';
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { CheckId, Outcome } from '../src/model.ts';
import type { AuditContext, RuleSet } from '../src/rules/rule.ts';
import { serviceClientRules } from '../src/rules/service-client.ts';
import { tokenManagementRules } from '../src/rules/token-management.ts';

after(removeTempProjects);

const RULES: RuleSet = { ...serviceClientRules, ...tokenManagementRules };

const run = (ctx: AuditContext, id: CheckId): Outcome => runRule(RULES, ctx, id);

interface Case {
  readonly name: string;
  readonly files: Files;
  readonly expect: Readonly<Partial<Record<CheckId, Expectation>>>;
}

/** Asserts every expectation of a case, with the outcome in the message when it fails. */
const check = (c: Case) => expectOutcomes(RULES, c.files, c.expect);

const AUTH_CLIENT_VULNERABLE = `import axios from 'axios';
import CircuitBreaker from 'opossum';

export class AuthServiceClient {
  private httpClient;
  private breaker;
  constructor() {
    this.httpClient = axios.create({
      baseURL: process.env.AUTH_SERVICE_URL || 'http://auth-service:3001',
      timeout: 5000,
      headers: {
        'x-gateway-internal': 'true',
      },
    });
    this.breaker = new CircuitBreaker(this.getUser.bind(this), { timeout: 5000 });
  }
  async getUser(userId: string) {
    const response = await this.httpClient.get(\`/users/\${userId}\`);
    return response.data;
  }
}
`;

const TESSERA_SERVICE = `import {
  ClientCredentialsTokenSource,
  createServiceDispatcher,
  createServiceMap,
} from '@tessera/client';
import { request } from 'undici';
import { key } from './keys.ts';

const dispatcher = createServiceDispatcher({
  tokens: new ClientCredentialsTokenSource({
    authorityUrl: process.env.AUTHORITY_URL ?? 'https://authority.internal',
    clientId: 'spiffe://tessera.local/event-service',
    key,
  }),
  services: createServiceMap(
    { billing: { url: process.env.BILLING_URL ?? 'https://billing.internal', scopes: ['invoices:write'] } },
    { trustDomain: 'tessera.local' },
  ),
});

export async function bill(body: unknown) {
  try {
    const response = await request(new URL('/invoices', process.env.BILLING_URL), {
      method: 'POST',
      dispatcher,
      body: JSON.stringify(body),
    });
    if (response.statusCode === 401 || response.statusCode === 403) {
      console.warn('billing refused our token', response.statusCode);
    }
    return response;
  } catch (error) {
    console.error('billing unavailable', error);
    throw error;
  }
}
`;

describe('SC1/SC4: how outbound calls authenticate', () => {
  const cases: Case[] = [
    {
      name: 'static x-gateway-internal header on an axios instance fails SC1 at the header line',
      files: { 'src/auth-client.ts': AUTH_CLIENT_VULNERABLE },
      expect: {
        SC1: { status: 'FAIL', file: 'src/auth-client.ts', line: 12 },
        SC4: { status: 'FAIL', file: 'src/auth-client.ts', line: 12 },
        SC5: 'FAIL',
        TM1: 'FAIL',
      },
    },
    {
      name: 'inbound Authorization forwarded as the outbound credential fails',
      files: {
        'src/routes.js': `const axios = require('axios');
module.exports = async function routes(app) {
  app.get('/orders/:id', async (req, res) => {
    const r = await axios.get('https://orders.internal/orders/' + req.params.id, {
      headers: { Authorization: req.headers.authorization },
      timeout: 2000,
    });
    res.send(r.data);
  });
};
`,
      },
      expect: {
        SC1: { status: 'FAIL', file: 'src/routes.js', line: 5 },
        SC4: 'FAIL',
        SC9: 'FAIL',
        TM1: 'FAIL',
        TM2: 'FAIL',
        TM3: 'FAIL',
        TM7: 'FAIL',
      },
    },
    {
      name: "a parameter named authToken passed into the client's headers (seed 000) fails",
      files: {
        'src/event-client.ts': `import axios from 'axios';
const client = axios.create({ baseURL: 'https://events.internal', timeout: 3000 });
export async function getEvent(id: string, authToken: string) {
  return client.get(\`/events/\${id}\`, { headers: { Authorization: \`Bearer \${authToken}\` } });
}
`,
      },
      expect: {
        SC1: { status: 'FAIL', file: 'src/event-client.ts', line: 4 },
        SC4: 'FAIL',
        TM1: 'FAIL',
      },
    },
    {
      name: 'shared X-INTERNAL-TOKEN from the environment fails SC4 (review 004)',
      files: {
        'src/billing.ts': `const INTERNAL = process.env.INTERNAL_SERVICE_TOKEN;
export function internalHeaders() {
  return { 'X-INTERNAL-TOKEN': INTERNAL };
}
export async function deduct(userId: string) {
  return fetch(\`https://billing.internal/deduct/\${userId}\`, {
    method: 'POST',
    headers: internalHeaders(),
    signal: AbortSignal.timeout(2000),
  });
}
`,
      },
      expect: {
        SC1: 'FAIL',
        SC4: { status: 'FAIL', file: 'src/billing.ts', line: 3 },
        SC3: 'FAIL',
        SC6: 'FAIL',
        TM1: 'FAIL',
      },
    },
    {
      name: 'a token signed per call with an audience passes SC1 and TM1/TM3/TM7',
      files: {
        'src/client.ts': `import axios from 'axios';
import jwt from 'jsonwebtoken';
import fs from 'node:fs';
const privateKey = fs.readFileSync('/etc/keys/order-service.pem');
const client = axios.create({ baseURL: 'https://payments.internal', timeout: 3000 });
function serviceToken() {
  return jwt.sign({ sub: 'order-service' }, privateKey, { algorithm: 'ES256', expiresIn: '5m', audience: 'payments' });
}
export function pay(body: unknown) {
  return client.post('/payments', body, { headers: { Authorization: \`Bearer \${serviceToken()}\` } });
}
`,
      },
      expect: {
        SC1: 'PASS',
        SC4: 'PASS',
        SC5: 'PASS',
        TM1: 'PASS',
        TM2: 'PASS',
        TM3: 'PASS',
        TM7: 'PASS',
        SC9: 'PASS',
        SC16: 'PASS',
      },
    },
    {
      name: 'a token minted without expiry or audience fails TM1 and TM7 (SC1 PARTIAL: replayable forever)',
      files: {
        'src/client.ts': `import axios from 'axios';
import jwt from 'jsonwebtoken';
const client = axios.create({ baseURL: 'https://payments.internal', timeout: 3000 });
export function pay(body: unknown) {
  const serviceToken = jwt.sign({ sub: 'order-service' }, process.env.SIGNING_KEY);
  return client.post('/payments', body, { headers: { Authorization: \`Bearer \${serviceToken}\` } });
}
`,
      },
      expect: {
        SC1: 'PARTIAL',
        TM1: 'FAIL',
        TM3: 'FAIL',
        TM7: 'FAIL',
        SC4: 'PARTIAL',
        SC3: 'FAIL',
      },
    },
    {
      name: 'no outbound calls: the SC rows are N/A',
      files: { 'src/index.ts': `export const add = (a: number, b: number) => a + b;\n` },
      expect: {
        SC1: 'N/A',
        SC3: 'N/A',
        SC8: 'N/A',
        SC10: 'N/A',
        SC11: 'N/A',
        SC12: 'N/A',
        SC15: 'N/A',
        TM1: 'N/A',
        TM6: 'N/A',
        TM8: 'N/A',
      },
    },
    {
      name: 'calls without any credential fail SC1',
      files: {
        'src/index.mjs': `import got from 'got';
export const getUser = (id) => got(\`https://users.internal/users/\${id}\`, { timeout: { request: 2000 } }).json();
`,
      },
      expect: { SC1: 'FAIL', SC9: 'FAIL', TM1: 'FAIL' },
    },
  ];
  for (const c of cases) it(c.name, () => check(c));
});

describe("Tessera's client passes what it implements", () => {
  it('createServiceDispatcher with a token source and service map', () =>
    check({
      name: 'tessera',
      files: {
        'src/upstreams.ts': TESSERA_SERVICE,
        'src/keys.ts': `import { generateSigningKey } from '@tessera/core';\nexport const key = generateSigningKey();\n`,
      },
      expect: {
        SC1: 'PASS',
        SC3: 'PASS',
        SC4: 'PASS',
        SC5: 'PASS',
        SC6: 'PASS',
        SC7: 'PASS',
        SC8: 'PASS',
        SC9: 'PASS',
        SC10: 'PASS',
        SC11: 'PASS',
        SC12: 'PASS',
        SC13: 'PASS',
        SC14: 'PASS',
        SC15: 'PASS',
        SC16: 'PASS',
        TM1: 'PASS',
        TM2: 'PASS',
        TM3: 'PASS',
        TM7: 'PASS',
        // A client only: it accepts no token, so there is no scope check for it to make.
        TM6: 'N/A',
      },
    }));

  it('interceptors composed by hand onto an undici Agent, with the dispatcher set globally for fetch', () =>
    check({
      name: 'compose',
      files: {
        'src/client.ts': `import { auth, circuitBreakerPerUpstream, retry, timeout, trace, ClientCredentialsTokenSource, createServiceMap } from '@tessera/client';
import { Agent, setGlobalDispatcher } from 'undici';
const tokens = new ClientCredentialsTokenSource({ authorityUrl: 'https://authority.internal', clientId: 'spiffe://t/svc', key: undefined as never });
const services = createServiceMap({ billing: { url: 'https://billing.internal' } }, { trustDomain: 't' });
setGlobalDispatcher(new Agent().compose(auth({ tokens, services }), timeout(), retry(), circuitBreakerPerUpstream(), trace()));
export const invoices = () => fetch('https://billing.internal/invoices');
`,
      },
      expect: { SC1: 'PASS', SC10: 'PASS', SC11: 'PASS', SC12: 'PASS', SC8: 'PASS' },
    }));
});

describe('SC10: correlation id / traceparent propagation', () => {
  const cases: Case[] = [
    {
      name: 'a client that sends nothing from the inbound request fails (audit 001)',
      files: {
        'src/client.ts': `import axios from 'axios';
const http = axios.create({ baseURL: 'https://auth.internal', timeout: 1000 });
export const user = (id: string) => http.get(\`/users/\${id}\`);
`,
      },
      expect: { SC10: 'FAIL' },
    },
    {
      name: 'a new random id per call is not propagation',
      files: {
        'src/client.ts': `import axios from 'axios';
import { randomUUID } from 'node:crypto';
export const user = (id: string) => axios.get(\`https://auth.internal/users/\${id}\`, { timeout: 1000, headers: { 'x-correlation-id': randomUUID() } });
`,
      },
      expect: { SC10: 'FAIL' },
    },
    {
      name: 'x-correlation-id taken from the inbound request passes',
      files: {
        'src/client.js': `import axios from 'axios';
export async function handler(request, reply) {
  const r = await axios.get('https://auth.internal/me', {
    timeout: 1000,
    headers: { 'x-correlation-id': request.headers['x-correlation-id'] },
  });
  return reply.send(r.data);
}
`,
      },
      expect: { SC10: 'PASS' },
    },
    {
      name: 'traceparent injected by an axios request interceptor (OpenTelemetry) passes',
      files: {
        'src/client.ts': `import axios from 'axios';
import { context, propagation } from '@opentelemetry/api';
const http = axios.create({ baseURL: 'https://auth.internal', timeout: 1000 });
http.interceptors.request.use((config) => {
  propagation.inject(context.active(), config.headers);
  return config;
});
export const user = (id: string) => http.get(\`/users/\${id}\`);
`,
      },
      expect: { SC10: 'PASS' },
    },
    {
      name: 'a correlation id from AsyncLocalStorage set in an interceptor passes',
      files: {
        'src/client.ts': `import axios from 'axios';
import { als } from './context.ts';
const http = axios.create({ baseURL: 'https://auth.internal', timeout: 1000 });
http.interceptors.request.use((config) => {
  config.headers['x-correlation-id'] = als.getStore()?.correlationId;
  return config;
});
export const user = (id: string) => http.get(\`/users/\${id}\`);
`,
        'src/context.ts': `import { AsyncLocalStorage } from 'node:async_hooks';\nexport const als = new AsyncLocalStorage<{ correlationId: string }>();\n`,
      },
      expect: { SC10: 'PASS' },
    },
  ];
  for (const c of cases) it(c.name, () => check(c));
});

describe('SC11/SC12: timeouts, circuit breakers, retries', () => {
  const cases: Case[] = [
    {
      name: 'fetch without a timeout fails SC11; a breaker-less client fails SC12',
      files: { 'src/a.ts': `export const load = () => fetch('https://catalog.internal/items');\n` },
      expect: { SC11: 'FAIL', SC12: 'FAIL' },
    },
    {
      name: 'timeout: 0 switches the timeout off',
      files: {
        'src/a.ts': `import axios from 'axios';\nexport const http = axios.create({ baseURL: 'https://x.internal', timeout: 0 });\nexport const go = () => http.get('/');\n`,
      },
      expect: { SC11: { status: 'FAIL', file: 'src/a.ts', line: 2 } },
    },
    {
      name: 'AbortSignal.timeout on fetch passes SC11',
      files: {
        'src/a.ts': `export const load = () => fetch('https://catalog.internal/items', { signal: AbortSignal.timeout(2000) });\n`,
      },
      expect: { SC11: 'PASS' },
    },
    {
      name: 'undici request with headersTimeout passes SC11',
      files: {
        'src/a.ts': `import { request } from 'undici';\nexport const load = () => request('https://catalog.internal/items', { headersTimeout: 2000, bodyTimeout: 5000 });\n`,
      },
      expect: { SC11: 'PASS' },
    },
    {
      name: 'one client with and one without a timeout is PARTIAL',
      files: {
        'src/a.ts': `import axios from 'axios';
export const a = axios.create({ baseURL: 'https://a.internal', timeout: 1000 });
export const b = axios.create({ baseURL: 'https://b.internal' });
`,
      },
      expect: { SC11: 'PARTIAL' },
    },
    {
      name: 'opossum breaker with a timeout passes SC11 and SC12 (seed 000)',
      files: {
        'src/client.cjs': `const CircuitBreaker = require('opossum');
const fetch = require('node-fetch');
async function callVenue(id) {
  return fetch('https://venue.internal/venues/' + id);
}
const breaker = new CircuitBreaker(callVenue, { timeout: 5000, errorThresholdPercentage: 50 });
module.exports = { getVenue: (id) => breaker.fire(id) };
`,
      },
      expect: { SC11: 'PASS', SC12: 'PASS' },
    },
    {
      name: 'cockatiel policies wrapping the call pass SC12',
      files: {
        'src/client.ts': `import { circuitBreaker, ConsecutiveBreaker, handleAll, retry, ExponentialBackoff, wrap } from 'cockatiel';
const policy = wrap(retry(handleAll, { maxAttempts: 3, backoff: new ExponentialBackoff() }), circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }));
export const load = () => policy.execute(() => fetch('https://catalog.internal/items', { signal: AbortSignal.timeout(1000) }));
`,
      },
      expect: { SC12: 'PASS', SC11: 'PASS' },
    },
    {
      name: 'got.extend with a request timeout and hooks passes SC11 (and got retries by default)',
      files: {
        'src/client.ts': `import got from 'got';
export const api = got.extend({
  prefixUrl: 'https://inventory.internal',
  timeout: { request: 3000 },
  hooks: { beforeRequest: [(options) => { options.headers['x-request-id'] = currentRequestId(); }] },
});
declare function currentRequestId(): string;
export const stock = (sku: string) => api.get(\`stock/\${sku}\`).json();
`,
      },
      expect: { SC11: 'PASS', SC10: 'PASS' },
    },
  ];
  for (const c of cases) it(c.name, () => check(c));

  it('SC12 mentions retries (axios-retry) in its why', async () => {
    const ctx = await contextFor({
      'src/a.ts': `import axios from 'axios';
import axiosRetry from 'axios-retry';
const http = axios.create({ baseURL: 'https://x.internal', timeout: 1000 });
axiosRetry(http, { retries: 3, retryDelay: axiosRetry.exponentialDelay });
export const go = () => http.get('/');
`,
    });
    const result = run(ctx, 'SC12');
    assert.equal(result.status, 'FAIL');
    assert.match(result.why, /Retries: src\/a\.ts:4/);
  });

  it('SC12 notes a hand-rolled retry loop with exponential backoff', async () => {
    const ctx = await contextFor({
      'src/a.ts': `const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export async function load() {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await fetch('https://x.internal/', { signal: AbortSignal.timeout(500) });
    } catch {
      await sleep(100 * 2 ** attempt);
    }
  }
  throw new Error('unavailable');
}
`,
    });
    assert.match(run(ctx, 'SC12').why, /Retries: src\/a\.ts:3/);
  });
});

describe('SC8: HTTPS for internal calls', () => {
  const cases: Case[] = [
    {
      name: 'an env URL defaulting to http:// for a cluster service is PARTIAL (seed: relies on URL protocol)',
      files: { 'src/auth-client.ts': AUTH_CLIENT_VULNERABLE },
      expect: { SC8: { status: 'PARTIAL', file: 'src/auth-client.ts', line: 9 }, SC13: 'PARTIAL' },
    },
    {
      name: 'a fixed http:// URL for a cluster service fails',
      files: {
        'src/a.ts': `import axios from 'axios';\nexport const http = axios.create({ baseURL: 'http://auth-service:3001', timeout: 1000 });\n`,
      },
      expect: { SC8: { status: 'FAIL', file: 'src/a.ts', line: 2 } },
    },
    {
      // Found by a hold-out service: the env value only fills the query, not scheme and host.
      name: 'a fixed http:// origin in a template with configured query parts fails',
      files: {
        'src/a.ts': `import got from 'got';\nexport const get = (id: string) => got(\`http://templates.internal/t/\${id}?v=\${process.env.TEMPLATE_VERSION}\`, { timeout: { request: 1000 } });\n`,
      },
      expect: { SC8: { status: 'FAIL', file: 'src/a.ts', line: 2 } },
    },
    {
      name: 'a URL only from configuration relies on its protocol (PARTIAL)',
      files: {
        'src/a.ts': `import axios from 'axios';\nexport const http = axios.create({ baseURL: process.env.AUTH_URL, timeout: 1000 });\n`,
      },
      expect: { SC8: 'PARTIAL' },
    },
    {
      name: 'a guard that throws on non-https URLs passes',
      files: {
        'src/a.ts': `import axios from 'axios';
const url = process.env.AUTH_URL ?? '';
if (!url.startsWith('https://')) throw new Error('HTTPS required');
export const http = axios.create({ baseURL: url, timeout: 1000 });
`,
      },
      expect: { SC8: 'PASS' },
    },
    {
      name: 'https URLs and loopback pass',
      files: {
        'src/a.ts': `export const a = () => fetch('https://a.internal/x');\nexport const b = () => fetch('http://127.0.0.1:9000/metrics');\n`,
      },
      expect: { SC8: 'PASS' },
    },
    {
      name: 'a Tessera service map with allowInsecureHttp: true fails',
      files: {
        'src/a.ts': `import { createServiceMap, createServiceDispatcher } from '@tessera/client';
const services = createServiceMap({ billing: { url: 'http://billing:3000' } }, { trustDomain: 't', allowInsecureHttp: true });
export const dispatcher = createServiceDispatcher({ tokens: undefined as never, services });
`,
      },
      expect: { SC8: { status: 'FAIL', file: 'src/a.ts', line: 2 } },
    },
  ];
  for (const c of cases) it(c.name, () => check(c));
});

describe('SC13/SC15: TLS validation', () => {
  const cases: Case[] = [
    {
      name: 'rejectUnauthorized: false on an https.Agent fails SC13 at that line',
      files: {
        'src/a.ts': `import https from 'node:https';
import axios from 'axios';
const agent = new https.Agent({
  rejectUnauthorized: false,
});
export const http = axios.create({ baseURL: 'https://a.internal', httpsAgent: agent, timeout: 1000 });
`,
      },
      expect: { SC13: { status: 'FAIL', file: 'src/a.ts', line: 4 }, SC15: 'PASS' },
    },
    {
      name: 'NODE_TLS_REJECT_UNAUTHORIZED=0 in a committed .env fails SC15 and SC13',
      files: {
        'src/a.ts': `export const a = () => fetch('https://a.internal/x', { signal: AbortSignal.timeout(100) });\n`,
        '.env': `PORT=3000\nNODE_TLS_REJECT_UNAUTHORIZED=0\n`,
      },
      expect: { SC15: { status: 'FAIL', file: '.env', line: 2 }, SC13: 'FAIL' },
    },
    {
      name: 'NODE_TLS_REJECT_UNAUTHORIZED set to "0" in code fails SC15',
      files: {
        'src/a.js': `process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';\nexports.a = () => fetch('https://a.internal/x');\n`,
      },
      expect: { SC15: { status: 'FAIL', file: 'src/a.js', line: 1 } },
    },
    {
      name: 'NODE_TLS_REJECT_UNAUTHORIZED=1 and a commented-out 0 do not fire',
      files: {
        'src/a.ts': `export const a = () => fetch('https://a.internal/x');\n`,
        '.env': `NODE_TLS_REJECT_UNAUTHORIZED=1\n# NODE_TLS_REJECT_UNAUTHORIZED=0\n`,
        'test/setup.ts': `process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';\n`,
      },
      expect: { SC15: 'PASS', SC13: 'PASS' },
    },
  ];
  for (const c of cases) it(c.name, () => check(c));
});

describe('SC14: HTTP client library', () => {
  const cases: Case[] = [
    {
      name: 'the deprecated request package fails',
      files: {
        'src/a.js': `const request = require('request');\nrequest.get({ url: 'https://a.internal/x', timeout: 1000 }, () => {});\n`,
      },
      expect: { SC14: { status: 'FAIL', file: 'src/a.js', line: 1 } },
    },
    {
      name: 'undici passes',
      files: {
        'src/a.ts': `import { request } from 'undici';\nexport const a = () => request('https://a.internal/x');\n`,
      },
      expect: { SC14: 'PASS' },
    },
  ];
  for (const c of cases) it(c.name, () => check(c));
});

describe('SC7: failed authentication logged', () => {
  const cases: Case[] = [
    {
      name: 'no logging of outbound failures fails',
      files: {
        'src/a.ts': `import axios from 'axios';\nexport const a = () => axios.get('https://a.internal/x', { timeout: 100 });\n`,
      },
      expect: { SC7: 'FAIL' },
    },
    {
      name: 'axios errors (which include 401/403) logged in a catch pass',
      files: {
        'src/a.ts': `import axios from 'axios';
import { logger } from './logger.ts';
export async function a() {
  try {
    return await axios.get('https://a.internal/x', { timeout: 100 });
  } catch (err) {
    logger.warn({ err }, 'auth service call failed');
    throw err;
  }
}
`,
        'src/logger.ts': `export const logger = console;\n`,
      },
      expect: { SC7: 'PASS' },
    },
    {
      // The ticketing demo's shape: the handler calls a wrapper, then a helper judges the answer.
      name: 'fetch/undici 401/403 logged in a helper that receives the answer passes',
      files: {
        'src/upstream.ts': `import { request } from 'undici';
export async function callBilling(body: string) {
  const res = await request('https://billing.internal/invoices', { method: 'POST', body, headersTimeout: 1000 });
  return { status: res.statusCode, body: await res.body.json() };
}
`,
        'src/relay.ts': `import { logger } from './logger.ts';
export function relay(answer: { status: number }) {
  if (answer.status === 401 || answer.status === 403) logger.error('upstream refused us');
  if (answer.status >= 500) logger.warn({ status: answer.status }, 'upstream failed');
  return answer;
}
`,
        'src/route.ts': `import { callBilling } from './upstream.ts';
import { relay } from './relay.ts';
export async function createInvoice(body: string) {
  const answer = await callBilling(body);
  return relay(answer);
}
`,
        'src/logger.ts': `export const logger = console;\n`,
      },
      expect: { SC7: 'PASS' },
    },
    {
      name: 'the same helper without a 401/403 branch fails (undici does not throw on them)',
      files: {
        'src/upstream.ts': `import { request } from 'undici';
export async function callBilling(body: string) {
  const res = await request('https://billing.internal/invoices', { method: 'POST', body, headersTimeout: 1000 });
  return { status: res.statusCode, body: await res.body.json() };
}
`,
        'src/relay.ts': `import { logger } from './logger.ts';
export function relay(answer: { status: number }) {
  if (answer.status >= 500) logger.warn({ status: answer.status }, 'upstream failed');
  return answer;
}
`,
        'src/route.ts': `import { callBilling } from './upstream.ts';
import { relay } from './relay.ts';
export async function createInvoice(body: string) {
  const answer = await callBilling(body);
  return relay(answer);
}
`,
        'src/logger.ts': `export const logger = console;\n`,
      },
      expect: { SC7: 'FAIL' },
    },
  ];
  for (const c of cases) it(c.name, () => check(c));
});

describe('scoping', () => {
  it('two functions each with their own `const headers` are told apart', () =>
    check({
      name: 'scoped',
      files: {
        'src/a.ts': `export async function audit(id: string) {
  const headers = { 'content-type': 'application/json' };
  return fetch(\`https://audit.internal/\${id}\`, { headers, signal: AbortSignal.timeout(500) });
}
export async function billing(id: string) {
  const headers = {
    'x-gateway-internal': 'true',
  };
  return fetch(\`https://billing.internal/\${id}\`, { headers, signal: AbortSignal.timeout(500) });
}
`,
      },
      expect: { SC1: { status: 'FAIL', file: 'src/a.ts', line: 7 } },
    }));
});

describe('following imports, ESM and CommonJS', () => {
  it('an axios instance created in one file and used in another (ESM, TS)', () =>
    check({
      name: 'esm',
      files: {
        'src/http.ts': `import axios from 'axios';\nexport const http = axios.create({ baseURL: 'https://a.internal', headers: { 'X-Internal-Request': 'true' } });\n`,
        'src/users.ts': `import { http } from './http.ts';\nexport const user = (id: string) => http.get(\`/users/\${id}\`);\n`,
      },
      expect: { SC1: { status: 'FAIL', file: 'src/http.ts', line: 2 }, SC11: 'FAIL' },
    }));

  it('an axios instance exported with module.exports and required elsewhere (CommonJS, JS)', () =>
    check({
      name: 'cjs',
      files: {
        'lib/http.js': `const axios = require('axios');\nmodule.exports = axios.create({ baseURL: 'http://orders:8080', timeout: 2500 });\n`,
        'lib/orders.js': `const http = require('./http');\nexports.order = (id) => http.get('/orders/' + id);\n`,
      },
      expect: { SC8: { status: 'FAIL', file: 'lib/http.js', line: 2 }, SC11: 'PASS' },
    }));
});

/** A request-path client done right for SC10 and SC12: a breaker, and the inbound correlation id. */
const SERVING = `import { circuitBreaker, ConsecutiveBreaker, handleAll } from 'cockatiel';
const breaker = circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) });
export async function me(request, reply) {
  const r = await breaker.execute(() =>
    fetch('https://users.internal/me', {
      signal: AbortSignal.timeout(1000),
      headers: { 'x-correlation-id': request.headers['x-correlation-id'] },
    }),
  );
  return reply.send(await r.json());
}
`;

/** Registers this instance with a registry: one request per listed service, no breaker, no trace. */
const REGISTER = `export async function register(names) {
  for (const name of names) {
    const response = await fetch('https://registry.internal/services', {
      method: 'POST',
      body: JSON.stringify({ name }),
      signal: AbortSignal.timeout(5000),
    });
    if (!response.ok) throw new Error('registration failed: ' + response.status);
  }
}
`;

describe('SC10/SC12: requests made only at start-up serve no request', () => {
  // Positive: start-up code, followed through callers and files, is left out of SC10 and SC12.
  const startup: Case[] = [
    {
      name: 'a registration awaited at top level, next to a good request-path client, passes',
      files: {
        'src/register.js': REGISTER,
        'src/routes.js': SERVING,
        'src/main.js': `import { register } from './register.js';\nimport { me } from './routes.js';\nawait register(['users']);\nexport { me };\n`,
      },
      expect: {
        SC10: { status: 'PASS', file: 'src/main.js', line: 3 },
        SC12: { status: 'PASS', file: 'src/register.js', line: 3 },
        SC11: 'PASS',
      },
    },
    {
      name: 'followed through two functions: main() → start() → register()',
      files: {
        'src/register.js': REGISTER,
        'src/routes.js': SERVING,
        'src/start.js': `import { register } from './register.js';\nexport async function start(config) {\n  await register(config.names);\n}\n`,
        'src/main.js': `import { start } from './start.js';\nconst main = async () => {\n  await start({ names: ['users'] });\n};\nmain().catch(() => process.exit(1));\n`,
      },
      expect: {
        SC10: { status: 'PASS', file: 'src/main.js', line: 5 },
        SC12: 'PASS',
      },
    },
    {
      name: 'a service whose only request is a configuration fetch in a top-level IIFE: N/A',
      files: {
        'src/main.js': `(async () => {\n  const config = await fetch('https://config.internal/app', { signal: AbortSignal.timeout(2000) });\n  console.log(await config.json());\n})();\n`,
      },
      expect: { SC10: 'N/A', SC12: 'N/A', SC11: 'PASS' },
    },
  ];
  for (const c of startup) it(c.name, () => check(c));

  // Negative: a request that may happen while serving, or whose callers cannot all be seen, counts.
  const serving: Case[] = [
    {
      name: 'the same registration also called from a route handler counts',
      files: {
        'src/register.js': REGISTER,
        'src/main.js': `import Fastify from 'fastify';\nimport { register } from './register.js';\nconst app = Fastify();\nawait register(['users']);\napp.post('/reregister', async () => { await register(['users']); return { ok: true }; });\nawait app.listen({ port: 3000 });\n`,
      },
      expect: { SC10: 'FAIL', SC12: 'FAIL' },
    },
    {
      name: 'a function passed to setInterval (a poller) counts',
      files: {
        'src/main.js': `async function poll() {\n  await fetch('https://config.internal/app', { signal: AbortSignal.timeout(2000) });\n}\nsetInterval(poll, 60_000);\n`,
      },
      expect: { SC10: 'FAIL', SC12: 'FAIL' },
    },
    {
      name: 'a polling loop at top level counts',
      files: {
        'src/main.js': `const sleep = (ms) => new Promise((r) => setTimeout(r, ms));\nwhile (true) {\n  await fetch('https://config.internal/app', { signal: AbortSignal.timeout(2000) });\n  await sleep(60_000);\n}\n`,
      },
      expect: { SC10: 'FAIL', SC12: 'FAIL' },
    },
    {
      name: 'a call for each message of a for-await stream at top level counts',
      files: {
        'src/main.js': `import { subscribe } from './bus.js';\nfor await (const message of subscribe('orders')) {\n  await fetch('https://billing.internal/invoices', { method: 'POST', body: message, signal: AbortSignal.timeout(2000) });\n}\n`,
        'src/bus.js': `export async function* subscribe(topic) {\n  yield topic;\n}\n`,
      },
      expect: { SC10: 'FAIL', SC12: 'FAIL' },
    },
    {
      name: 'a named handler registered on a route counts',
      files: {
        'src/main.js': `import Fastify from 'fastify';\nconst app = Fastify();\nasync function stock(request) {\n  const r = await fetch('https://inventory.internal/stock', { signal: AbortSignal.timeout(2000) });\n  return r.json();\n}\napp.get('/stock', stock);\nawait app.listen({ port: 3000 });\n`,
      },
      expect: { SC10: 'FAIL', SC12: 'FAIL' },
    },
    {
      name: 'an exported function called nowhere in the project (a library export) counts',
      files: { 'src/register.js': REGISTER },
      expect: { SC10: 'FAIL', SC12: 'FAIL' },
    },
    {
      name: 'a function called only from a test file counts',
      files: {
        'src/register.js': REGISTER,
        'test/register.test.js': `import { register } from '../src/register.js';\nawait register(['users']);\n`,
      },
      expect: { SC10: 'FAIL', SC12: 'FAIL' },
    },
    {
      name: 'a class method called at top level counts (methods are not followed)',
      files: {
        'src/main.js': `class Registry {\n  async announce() {\n    await fetch('https://registry.internal/services', { method: 'POST', signal: AbortSignal.timeout(2000) });\n  }\n}\nawait new Registry().announce();\n`,
      },
      expect: { SC10: 'FAIL', SC12: 'FAIL' },
    },
    {
      name: 'a module imported through a namespace import counts (callers not followed)',
      files: {
        'src/register.js': REGISTER,
        'src/main.js': `import * as registry from './register.js';\nawait registry.register(['users']);\n`,
      },
      expect: { SC10: 'FAIL', SC12: 'FAIL' },
    },
    {
      name: 'the same name imported from a workspace package elsewhere counts (callers not followed)',
      files: {
        'packages/registry/src/register.js': REGISTER,
        'packages/registry/src/main.js': `import { register } from './register.js';\nawait register(['users']);\n`,
        'packages/api/src/routes.js': `import { register } from '@acme/registry';\nexport const reregister = async () => { await register(['users']); };\n`,
      },
      expect: { SC10: 'FAIL', SC12: 'FAIL' },
    },
    {
      name: 'a module also loaded with import() counts (callers not followed)',
      files: {
        'src/register.js': REGISTER,
        'src/main.js': `import { register } from './register.js';\nawait register(['users']);\nexport async function later() {\n  const m = await import('./register.js');\n  await m.register(['users']);\n}\n`,
      },
      expect: { SC10: 'FAIL', SC12: 'FAIL' },
    },
  ];
  for (const c of serving) it(c.name, () => check(c));
});
