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
import type { CheckId } from '../src/model.ts';
import type { RuleSet } from '../src/rules/rule.ts';
import { messageQueueRules } from '../src/rules/message-queue.ts';
import { serviceClientRules } from '../src/rules/service-client.ts';

after(removeTempProjects);

const RULES: RuleSet = { ...serviceClientRules, ...messageQueueRules };

const check = (files: Files, expect: Readonly<Partial<Record<CheckId, Expectation>>>) =>
  expectOutcomes(RULES, files, expect);

/** An OAuth client-credentials token cache posting to the IdP with axios, in its own file. */
const ACCESS_TOKENS = `import axios from 'axios';

export class AccessTokens {
  private current: { value: string; until: number } | undefined;

  async bearer(): Promise<string> {
    if (this.current && this.current.until > Date.now() + 30_000) return this.current.value;
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: 'billing-service',
      client_secret: process.env.OAUTH_CLIENT_SECRET ?? '',
    });
    const { data } = await axios.post(process.env.OAUTH_TOKEN_URL ?? '', form, { timeout: 4000 });
    this.current = { value: data.access_token, until: Date.now() + data.expires_in * 1000 };
    return this.current.value;
  }
}

export const accessTokens = new AccessTokens();
`;

describe('client-credentials access tokens obtained from a token endpoint', () => {
  it('count as the service own short-lived credential; the token request is no service call', () =>
    check(
      {
        'src/oauth.ts': ACCESS_TOKENS,
        'src/invoices.ts': `import axios from 'axios';
import CircuitBreaker from 'opossum';
import { accessTokens } from './oauth.ts';

const invoices = axios.create({ baseURL: process.env.INVOICES_URL, timeout: 3000 });
invoices.interceptors.request.use(async (config) => {
  config.headers.Authorization = \`Bearer \${await accessTokens.bearer()}\`;
  config.headers['x-correlation-id'] = String(config.params?.correlationId);
  return config;
});
const breaker = new CircuitBreaker((id: string) => invoices.get(\`/invoices/\${id}\`));
export const invoice = (id: string) => breaker.fire(id);
`,
      },
      {
        SC1: { status: 'PASS', file: 'src/invoices.ts', line: 7 },
        SC3: 'FAIL',
        SC4: 'PASS',
        SC5: 'PASS',
        SC6: 'PARTIAL',
        SC9: 'PASS',
        SC12: 'PASS',
        SC16: 'PASS',
      },
    ));

  it('a POST without grant_type is a service call, and a bearer from an unrelated class is static', () =>
    check(
      {
        'src/keys.ts': `export class Keys {
  bearer(): string {
    return process.env.REPORTS_KEY ?? '';
  }
}
export const keys = new Keys();
`,
        'src/reports.ts': `import axios from 'axios';
import { keys } from './keys.ts';

export async function publish(report: object) {
  await axios.post(process.env.REPORTS_URL ?? '', new URLSearchParams({ kind: 'daily' }), {
    headers: { Authorization: \`Bearer \${keys.bearer()}\` },
    timeout: 2000,
  });
  return report;
}
`,
      },
      { SC1: 'PARTIAL', SC4: 'FAIL', SC12: 'FAIL' },
    ));
});

/** An Express gateway relaying to upstreams with http-proxy-middleware v3 hooks. */
const relay = (proxyReq: string) => `import { createProxyMiddleware } from 'http-proxy-middleware';
import jwt from 'jsonwebtoken';

const upstreamToken = (user: { id: string }) =>
  jwt.sign({ sub: user.id, iss: 'storefront-edge' }, process.env.EDGE_SIGNING_KEY ?? '', { algorithm: 'HS256' });

export const toBasket = createProxyMiddleware({
  target: process.env.BASKET_URL,
  proxyTimeout: 4000,
  on: {
    proxyReq: (outgoing, req) => {
${proxyReq}
    },
    proxyRes: (answer, req) => {
      if (answer.statusCode === 401 || answer.statusCode === 403) {
        console.warn('basket refused the edge', answer.statusCode, req.url);
      }
    },
  },
});
`;

describe('reverse proxies: what the gateway adds in its hooks', () => {
  it('a credential set in on.proxyReq makes the proxy a service call of the gateway', () =>
    check(
      {
        'src/relay.ts':
          relay(`      outgoing.setHeader('x-correlation-id', String(req.headers['x-correlation-id']));
      outgoing.setHeader('authorization', \`Bearer \${upstreamToken(req.user)}\`);`),
      },
      {
        SC1: { status: 'PARTIAL', file: 'src/relay.ts', line: 13 },
        SC5: 'FAIL',
        SC6: 'FAIL',
        SC7: { status: 'PASS', file: 'src/relay.ts', line: 17 },
        SC9: 'PARTIAL',
        SC10: 'PASS',
        SC12: 'FAIL',
        SC16: 'PASS',
      },
    ));

  it('a proxy that only relays its clients (no credential of its own) stays out of SC1 and SC12', () =>
    check(
      {
        'src/relay.ts': relay(
          `      outgoing.setHeader('x-correlation-id', String(req.headers['x-correlation-id']));`,
        ),
      },
      { SC1: 'N/A', SC10: 'PASS', SC12: 'N/A' },
    ));
});

describe('signed service tokens: expiry and whom they name', () => {
  const caller = (payload: string, options: string) => ({
    'src/stock.ts': `import axios from 'axios';
import jwt from 'jsonwebtoken';

const stock = axios.create({ baseURL: 'https://stock.internal', timeout: 2000 });
export async function level(sku: string) {
  const token = jwt.sign(${payload}, process.env.STOCK_KEY ?? '', ${options});
  return stock.get(\`/levels/\${sku}\`, { headers: { authorization: \`Bearer \${token}\` } });
}
`,
  });

  it('a token without exp is PARTIAL for SC1 and FAIL for SC6; one naming only the receiver identifies no caller', () =>
    check(caller(`{ target: 'stock' }`, `{ algorithm: 'HS256' }`), {
      SC1: 'PARTIAL',
      SC6: 'FAIL',
      SC9: 'FAIL',
      SC16: 'FAIL',
    }));

  it('a short-lived RS256 token naming the caller in sub passes SC1, SC9 and SC16', () =>
    check(
      caller(
        `{ sub: 'pricing-service' }`,
        `{ algorithm: 'RS256', expiresIn: '5m', audience: 'stock' }`,
      ),
      { SC1: 'PASS', SC6: 'PARTIAL', SC9: 'PASS', SC16: 'PASS' },
    ));
});

describe('mixed credentials: some calls strong, others static', () => {
  const files = (second: string): Files => ({
    'src/clients.ts': `import axios from 'axios';
import jwt from 'jsonwebtoken';

const http = axios.create({ timeout: 2000 });
export const charge = (body: object) =>
  http.post('https://payments.internal/charges', body, {
    headers: {
      authorization: \`Bearer \${jwt.sign({ sub: 'checkout' }, process.env.PAY_KEY ?? '', { expiresIn: 300 })}\`,
    },
  });
export const reserve = (body: object) =>
  http.post('https://stock.internal/reservations', body, { headers: { ${second} } });
`,
  });

  it('a signed, expiring token on one call and a shared static token on another is PARTIAL', () =>
    check(files(`'x-internal-token': process.env.INTERNAL_TOKEN ?? ''`), {
      SC1: 'PARTIAL',
      SC5: 'PARTIAL',
      SC6: 'PARTIAL',
    }));

  it('the same signed token on both calls passes SC1 and SC5', () =>
    check(
      files(
        `authorization: \`Bearer \${jwt.sign({ sub: 'checkout' }, process.env.PAY_KEY ?? '', { expiresIn: 300 })}\``,
      ),
      {
        SC1: 'PASS',
        SC5: 'PASS',
      },
    ));
});

describe('MQ1: a broker URL read from configuration is what it is configured with', () => {
  const consumer = `import amqp from 'amqplib';
export const connect = () => amqp.connect(process.env.BROKER_URL ?? '');
`;

  it('a plain amqp:// value in the Kubernetes manifest fails', () =>
    check(
      {
        'src/consumer.ts': consumer,
        'deploy/configmap.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: invoicing\ndata:\n  BROKER_URL: amqp://invoicing:s3cret@broker.queues.svc:5672/billing\n`,
      },
      { MQ1: { status: 'FAIL', file: 'deploy/configmap.yaml', line: 6 } },
    ));

  it('an amqps:// value keeps it undecided from code alone (PARTIAL), never FAIL', () =>
    check(
      {
        'src/consumer.ts': consumer,
        'deploy/configmap.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: invoicing\ndata:\n  BROKER_URL: amqps://invoicing@broker.queues.svc:5671/billing\n`,
      },
      { MQ1: 'PARTIAL' },
    ));
});

describe('SC12: a policy built by a factory in another module', () => {
  const files = (policy: string): Files => ({
    'src/resilience/policies.ts': `import { ConsecutiveBreaker, circuitBreaker, handleAll, retry, wrap } from 'cockatiel';

export function upstreamPolicy() {
  const attempts = retry(handleAll, { maxAttempts: 3 });
  ${policy}
}
`,
    'src/catalog.ts': `import got from 'got';
import { upstreamPolicy } from './resilience/policies.ts';

const guard = upstreamPolicy();
const catalog = got.extend({ prefixUrl: 'https://catalog.internal', timeout: { request: 2000 } });
export const item = (id: string) => guard.execute(() => catalog.get(\`items/\${id}\`).json());
`,
  });

  it('a breaker wrapped with a retry and returned by the factory protects the calls', () =>
    check(
      files(`const breaker = circuitBreaker(handleAll, { halfOpenAfter: 5000, breaker: new ConsecutiveBreaker(4) });
  return wrap(attempts, breaker);`),
      { SC12: 'PASS' },
    ));

  it('a factory returning only a retry is no circuit breaker', () =>
    check(files('return attempts;'), { SC12: 'FAIL' }));
});

describe('SC10: trace headers from a helper that returns one object or another', () => {
  const files = (value: string): Files => ({
    'src/trace.ts': `import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

export const store = new AsyncLocalStorage<{ requestId: string }>();
export function forwardHeaders(): Record<string, string> {
  const current = store.getStore();
  return current ? { 'x-request-id': ${value} } : {};
}
`,
    'src/shipping.ts': `import { request } from 'undici';
import { forwardHeaders } from './trace.ts';

export const quote = (id: string) =>
  request(\`https://shipping.internal/quotes/\${id}\`, { headers: { ...forwardHeaders() }, headersTimeout: 2000 });
`,
  });

  it('the id of the request being served, in either branch, is propagated', () =>
    check(files('current.requestId'), { SC10: 'PASS' }));

  it('a fresh random id per call is no propagation', () =>
    check(files('randomUUID()'), { SC10: 'FAIL' }));
});

describe('confidence of SC rows decided from an absence', () => {
  it('no breaker found is a medium-confidence FAIL; a breaker found is not marked down', async () => {
    const call = (wrapped: boolean) => ({
      'src/geo.ts': `import axios from 'axios';
import CircuitBreaker from 'opossum';
const lookup = (ip: string) => axios.get(\`https://geo.internal/ip/\${ip}\`, { timeout: 1000 });
export const locate = ${wrapped ? 'new CircuitBreaker(lookup)' : 'lookup'};
`,
    });
    const absent = runRule(RULES, await contextFor(call(false)), 'SC12');
    assert.equal(absent.status, 'FAIL');
    assert.equal(absent.confidence, 'medium');
    const present = runRule(RULES, await contextFor(call(true)), 'SC12');
    assert.equal(present.status, 'PASS');
    assert.notEqual(present.confidence, 'medium');
  });
});
