/**
 * The service credential (what a service issues and what it verifies) and the SV/TM rows that
 * start from it: each row applies only where its mechanism exists, and says what the code does.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { CheckId } from '../src/model.ts';
import { identityVerificationRules } from '../src/rules/identity-verification.ts';
import type { RuleSet } from '../src/rules/rule.ts';
import { tokenManagementRules } from '../src/rules/token-management.ts';
import {
  contextFor,
  expectOutcomes,
  removeTempProjects,
  runRule,
  type Expectation,
  type Files,
} from './support/project.ts';

after(removeTempProjects);

const RULES: RuleSet = { ...identityVerificationRules, ...tokenManagementRules };

const check = (files: Files, expect: Readonly<Partial<Record<CheckId, Expectation>>>) =>
  expectOutcomes(RULES, files, expect);

/** An OAuth client-credentials token source with axios: per-resource cache, renewed early. */
const CLIENT_CREDENTIALS_SOURCE = `import axios from 'axios';

type Entry = { value: string; validUntil: number };

export class MachineTokens {
  private readonly entries = new Map<string, Entry>();

  async forResource(resource: string): Promise<string> {
    const entry = this.entries.get(resource);
    if (entry !== undefined && entry.validUntil - 45_000 > Date.now()) return entry.value;
    const params = new URLSearchParams();
    params.set('grant_type', 'client_credentials');
    params.set('client_id', process.env.CLIENT_ID ?? '');
    params.set('client_secret', process.env.CLIENT_SECRET ?? '');
    const { data } = await axios.post(process.env.TOKEN_ENDPOINT ?? '', params, {
      timeout: 2000,
    });
    this.entries.set(resource, { value: data.access_token, validUntil: Date.now() + data.expires_in * 1000 });
    return data.access_token;
  }
}
`;

const BILLING_CALLER = `import axios from 'axios';
import { MachineTokens } from './machine-tokens';

const tokens = new MachineTokens();
const billing = axios.create({ baseURL: process.env.BILLING_URL, timeout: 3000 });

export async function invoice(orderId: string) {
  const token = await tokens.forResource('billing');
  return billing.post('/invoices', { orderId }, { headers: { Authorization: \`Bearer \${token}\` } });
}
`;

describe('service credential: OAuth client-credentials tokens from an identity provider', () => {
  it('counts as expiring, renewed service tokens; the worker verifies nothing, so TM6/TM8 are N/A', async () => {
    await check(
      {
        'src/machine-tokens.ts': CLIENT_CREDENTIALS_SOURCE.replace(
          "params.set('client_secret'",
          "params.set('resource', resource);\n    params.set('client_secret'",
        ),
        'src/billing.ts': BILLING_CALLER,
      },
      {
        TM1: 'PASS',
        TM2: 'PASS',
        TM3: 'PASS',
        TM7: 'PASS',
        TM6: 'N/A',
        TM8: 'N/A',
        // The IdP mints these tokens: their claims are not in this code.
        SV7: 'N/A',
        SV12: 'N/A',
      },
    );
  });

  it('a grant without audience fails TM7, and one whose expires_in is never read is PARTIAL for TM2', async () => {
    const source = `import got from 'got';
let cached: string | undefined;
export async function machineToken(): Promise<string> {
  if (cached) return cached;
  const body = await got
    .post(process.env.TOKEN_URL ?? '', { form: { grant_type: 'client_credentials' }, timeout: { request: 2000 } })
    .json<{ access_token: string }>();
  cached = body.access_token;
  return cached;
}
`;
    const caller = `import got from 'got';
import { machineToken } from './machine-token';
export async function ship(id: string) {
  return got.post(\`\${process.env.SHIPPING_URL}/shipments\`, {
    json: { id },
    headers: { authorization: \`Bearer \${await machineToken()}\` },
    timeout: { request: 3000 },
  });
}
`;
    await check(
      { 'src/machine-token.ts': source, 'src/ship.ts': caller },
      { TM7: 'FAIL', TM2: 'PARTIAL', TM1: 'PASS' },
    );
  });
});

/** A shared workspace-style helper: an HS256 JWT signed with one secret, no exp, no aud. */
const GATEWAY_TOKEN = `import jwt from 'jsonwebtoken';

const edgeSecret = (): string => process.env.EDGE_SIGNING_SECRET ?? '';

export function mintEdgeToken(target: string): string {
  return jwt.sign({ target }, edgeSecret());
}

export function checkEdgeToken(header: string | undefined): void {
  if (!header) throw new Error('missing edge token');
  const claims = jwt.verify(header, edgeSecret()) as { target?: string };
  if (!claims.target) throw new Error('bad edge token');
}
`;

describe('service credential: an HS256 JWT signed with a shared secret and no exp', () => {
  it('a service that only verifies them fails TM1, TM3 and TM7, and TM2 is N/A', async () => {
    await check(
      {
        'src/edge-token.ts': GATEWAY_TOKEN,
        'src/server.ts': `import express from 'express';
import { checkEdgeToken } from './edge-token';
const app = express();
app.use((req, _res, next) => { checkEdgeToken(req.get('x-edge-token')); next(); });
app.get('/stock/:sku', (req, res) => { res.json({ sku: req.params.sku }); });
app.listen(8080);
`,
      },
      { TM1: 'FAIL', TM3: 'FAIL', TM7: 'FAIL', TM2: 'N/A' },
    );
  });

  it('minted once in a client constructor: TM2 FAIL; minted on every call: TM2 N/A', async () => {
    const client = (perCall: boolean) => `import axios, { type AxiosInstance } from 'axios';
import { mintEdgeToken } from './edge-token';
export class StockClient {
  private readonly http: AxiosInstance;
  constructor() {
    ${perCall ? '' : "const token = mintEdgeToken('stock');"}
    this.http = axios.create({ baseURL: process.env.STOCK_URL, timeout: 2000${perCall ? '' : ', headers: { "x-internal-token": token }'} });
  }
  get(sku: string) {
    return this.http.get(\`/stock/\${sku}\`${perCall ? ", { headers: { 'x-internal-token': mintEdgeToken('stock') } }" : ''});
  }
}
`;
    await check(
      { 'src/edge-token.ts': GATEWAY_TOKEN, 'src/stock-client.ts': client(false) },
      { TM2: 'FAIL', TM1: 'FAIL' },
    );
    await check(
      { 'src/edge-token.ts': GATEWAY_TOKEN, 'src/stock-client.ts': client(true) },
      { TM2: 'N/A', TM1: 'FAIL' },
    );
  });

  it('TM1 names the token as the code makes it, not as a static secret', async () => {
    const ctx = await contextFor({
      'src/edge-token.ts': GATEWAY_TOKEN,
      'src/stock-client.ts': `import axios from 'axios';
import { mintEdgeToken } from './edge-token';
export function get(sku: string) {
  return axios.get(\`\${process.env.STOCK_URL}/stock/\${sku}\`, { headers: { 'x-internal-token': mintEdgeToken('stock') }, timeout: 2000 });
}
`,
    });
    const tm1 = runRule(RULES, ctx, 'TM1');
    assert.equal(tm1.status, 'FAIL');
    assert.match(tm1.why, /HS256 JWT signed with a shared secret/);
    assert.match(tm1.why, /no `exp` claim/);
    assert.doesNotMatch(tm1.why, /static/);
  });
});

describe('service credential: several credentials at once', () => {
  it('an expiring token for one upstream and a static key for another is PARTIAL', async () => {
    await check(
      {
        'src/clients.ts': `import axios from 'axios';
import jwt from 'jsonwebtoken';
import { readFileSync } from 'node:fs';
const signingKey = readFileSync('/run/keys/ledger-signing.pem');
export function post(entry: unknown) {
  const token = jwt.sign({ sub: 'checkout' }, signingKey, { algorithm: 'ES256', expiresIn: '2m', audience: 'ledger' });
  return axios.post(\`\${process.env.LEDGER_URL}/entries\`, entry, { headers: { authorization: \`Bearer \${token}\` }, timeout: 2000 });
}
export function reserve(sku: string) {
  return axios.post(\`\${process.env.STOCK_URL}/reserve\`, { sku }, { headers: { 'x-api-key': process.env.STOCK_API_KEY }, timeout: 2000 });
}
`,
      },
      { TM1: 'PARTIAL', TM3: 'PARTIAL', TM7: 'PARTIAL' },
    );
  });
});

/** An edge gateway: end users' JWTs verified against the IdP, an internal HS256 token minted. */
const EDGE_GATEWAY = {
  'src/session.ts': `import type { NextFunction, Request, Response } from 'express';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const keys = createRemoteJWKSet(new URL(process.env.IDP_JWKS_URL ?? ''));

export async function requireLogin(req: Request, res: Response, next: NextFunction) {
  const raw = req.get('authorization')?.replace(/^Bearer /, '');
  if (!raw) return res.status(401).end();
  try {
    const { payload } = await jwtVerify(raw, keys, { issuer: process.env.IDP_ISSUER, audience: 'storefront', algorithms: ['RS256'] });
    req.user = { id: String(payload.sub), email: String(payload.email) };
    next();
  } catch {
    res.status(401).end();
  }
}
`,
  'src/relay.ts': `import jwt from 'jsonwebtoken';
export function relayToken(user: { id: string }) {
  return jwt.sign({ sub: user.id, iss: 'edge' }, process.env.RELAY_SECRET ?? '');
}
`,
  'src/server.ts': `import express from 'express';
import axios from 'axios';
import { requireLogin } from './session';
import { relayToken } from './relay';
const app = express();
app.use(requireLogin);
app.get('/api/carts/:id', async (req, res) => {
  const { data } = await axios.get(\`\${process.env.CARTS_URL}/carts/\${req.params.id}\`, {
    headers: { 'x-internal-token': relayToken(req.user) },
    timeout: 2000,
  });
  res.json(data);
});
app.listen(8080);
`,
};

describe('SV7-SV13: which side of a service token each row judges', () => {
  it('a gateway that verifies only end users and mints HS256 relay tokens', async () => {
    await check(EDGE_GATEWAY, {
      SV7: { status: 'FAIL', file: 'src/relay.ts', line: 3 },
      SV8: 'N/A',
      SV9: 'FAIL',
      SV10: 'N/A',
      SV11: 'N/A',
      SV12: 'FAIL',
      SV13: 'N/A',
      SV19: 'FAIL',
    });
    const ctx = await contextFor(EDGE_GATEWAY);
    const sv12 = runRule(RULES, ctx, 'SV12');
    assert.match(sv12.why, /HS256 JWT signed with a shared secret/);
    assert.match(sv12.why, /no `exp` claim/);
    assert.match(runRule(RULES, ctx, 'SV9').why, /end user's id/);
    assert.match(runRule(RULES, ctx, 'SV10').why, /end users' tokens/);
  });

  it('a service that verifies service tokens (azp read) is judged on the verifier side', async () => {
    await check(
      {
        'src/server.ts': `import express from 'express';
import { createRemoteJWKSet, jwtVerify } from 'jose';
const keys = createRemoteJWKSet(new URL('https://idp.example.com/jwks'));
const app = express();
app.use(async (req, res, next) => {
  try {
    const { payload } = await jwtVerify(req.get('authorization')?.slice(7) ?? '', keys, {
      issuer: 'https://idp.example.com/', audience: 'ledger', algorithms: ['ES256'], maxTokenAge: '10m',
    });
    res.locals.client = payload.azp;
    next();
  } catch { res.status(401).end(); }
});
app.post('/entries', (_req, res) => { res.status(201).end(); });
app.listen(8080);
`,
      },
      {
        SV7: 'PASS',
        SV8: 'PASS',
        SV9: 'PASS',
        SV10: 'PASS',
        SV11: 'PASS',
        SV12: 'PASS',
        SV13: 'PASS',
        SV19: 'N/A',
      },
    );
  });

  it('a verifier that requires no exp, for tokens minted here without one, fails SV12 and SV13; maxAge passes SV13', async () => {
    const server = (options: string) => `import express from 'express';
import jwt from 'jsonwebtoken';
import { mintPeerToken } from './peer';
const app = express();
app.use((req, res, next) => {
  try {
    jwt.verify(req.get('x-peer-token') ?? '', process.env.PEER_SECRET ?? ''${options});
    next();
  } catch { res.status(401).end(); }
});
app.get('/peers', (_req, res) => { res.json({ token: mintPeerToken() }); });
app.listen(8080);
`;
    const peer = `import jwt from 'jsonwebtoken';
export const mintPeerToken = () => jwt.sign({ peer: 'billing' }, process.env.PEER_SECRET ?? '');
`;
    await check(
      { 'src/server.ts': server(''), 'src/peer.ts': peer },
      { SV12: 'FAIL', SV13: 'FAIL' },
    );
    await check(
      { 'src/server.ts': server(", { maxAge: '5m' }"), 'src/peer.ts': peer },
      { SV13: 'PASS' },
    );
  });

  it('a static shared header is no token: the claim rows are N/A and say so, TM1 fails', async () => {
    const ctx = await contextFor({
      'src/server.ts': `import express from 'express';
import { timingSafeEqual } from 'node:crypto';
const app = express();
app.use((req, res, next) => {
  const given = Buffer.from(req.get('x-service-key') ?? '');
  const expected = Buffer.from(process.env.SERVICE_KEY ?? '');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return res.status(401).end();
  next();
});
app.get('/reports', (_req, res) => { res.json([]); });
app.listen(8080);
`,
    });
    for (const id of ['SV7', 'SV9', 'SV12'] as const) {
      const result = runRule(RULES, ctx, id);
      assert.equal(result.status, 'N/A', `${id}: ${JSON.stringify(result)}`);
      assert.match(result.why, /static shared secret/);
    }
    assert.equal(runRule(RULES, ctx, 'SV19').status, 'FAIL');
    assert.equal(runRule(RULES, ctx, 'SV18').status, 'PASS');
  });

  it('@nestjs/jwt JwtService.sign options are read: sub names the service, exp in 5 minutes, HS256', async () => {
    await check(
      {
        'src/payments.client.ts': `import { Injectable } from '@nestjs/common';
import { HttpService } from '@nestjs/axios';
import { JwtService } from '@nestjs/jwt';
import { firstValueFrom } from 'rxjs';

@Injectable()
export class RefundsClient {
  constructor(private readonly http: HttpService, private readonly jwt: JwtService) {}

  private callerToken(): string {
    return this.jwt.sign({ scope: 'refunds:create' }, {
      secret: process.env.REFUNDS_SHARED_SECRET,
      algorithm: 'HS256',
      subject: 'checkout-service',
      audience: 'refunds-service',
      expiresIn: '5m',
    });
  }

  async refund(id: string) {
    const res = await firstValueFrom(
      this.http.post(\`\${process.env.REFUNDS_URL}/refunds\`, { id }, { headers: { authorization: \`Bearer \${this.callerToken()}\` } }),
    );
    return res.data;
  }
}
`,
      },
      { SV7: 'FAIL', SV9: 'PASS', SV12: 'PASS', SV19: 'FAIL' },
    );
  });
});

describe('SV14-SV19: HMAC signatures on queue messages', () => {
  const consumer = (compare: string) => `import { createHmac, timingSafeEqual } from 'node:crypto';
import amqp from 'amqplib';

export function authentic(msg: amqp.ConsumeMessage): boolean {
  const sent = String(msg.properties.headers?.['x-signature'] ?? '');
  const computed = createHmac('sha256', process.env.BUS_SIGNING_KEY ?? '').update(msg.content).digest('hex');
  return ${compare};
}

export async function consume() {
  const connection = await amqp.connect(process.env.AMQP_URL ?? '');
  const channel = await connection.createChannel();
  await channel.consume('invoices', (msg) => {
    if (msg === null) return;
    if (!authentic(msg)) return channel.nack(msg, false, false);
    channel.ack(msg);
  });
}
`;
  it('a digest compared with === over the message body, with no timestamp, and one key', async () => {
    await check(
      { 'src/consumer.ts': consumer('sent === computed') },
      { SV14: 'PASS', SV15: 'FAIL', SV16: 'FAIL', SV17: 'PASS', SV18: 'FAIL', SV19: 'FAIL' },
    );
  });
  it('the same check with timingSafeEqual passes SV18', async () => {
    await check(
      {
        'src/consumer.ts': consumer(
          'sent.length === computed.length && timingSafeEqual(Buffer.from(sent), Buffer.from(computed))',
        ),
      },
      { SV18: 'PASS' },
    );
  });
  it('a webhook signed by its one external sender passes SV19', async () => {
    await check(
      {
        'src/webhooks.ts': `import express from 'express';
import { createHmac, timingSafeEqual } from 'node:crypto';
const app = express();
app.post('/hooks/psp', express.raw({ type: '*/*' }), (req, res) => {
  const header = req.get('stripe-signature') ?? '';
  const expected = createHmac('sha256', process.env.PSP_WEBHOOK_SECRET ?? '').update(req.body).digest('hex');
  if (!timingSafeEqual(Buffer.from(header), Buffer.from(expected))) return res.status(400).end();
  res.status(204).end();
});
app.listen(8080);
`,
      },
      { SV19: 'PASS' },
    );
  });
});

describe('SV1-SV3: listeners and certificates', () => {
  const worker = (extra: string) => `import { createServer } from 'node:http';
import express from 'express';
const app = express();
app.get('/healthz', (_req, res) => { res.send('ok'); });
${extra}
app.listen(9000);
`;
  it('a worker whose only listener answers probes has no service calls to authenticate (SV1 N/A)', async () => {
    await check({ 'src/health.ts': worker('') }, { SV1: 'N/A' });
    await check(
      { 'src/health.ts': worker("app.post('/jobs', (_req, res) => { res.status(202).end(); });") },
      { SV1: 'FAIL' },
    );
  });

  const server = (material: string) => `import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import express from 'express';

function material() {
  return ${material};
}

const app = express();
app.use((req, res, next) => {
  const socket = req.socket as import('node:tls').TLSSocket;
  const peer = new X509Certificate(socket.getPeerCertificate().raw);
  if (!peer.subjectAltName?.includes('URI:spiffe://corp.internal/ns/shop/sa/checkout')) return res.status(403).end();
  next();
});
app.get('/balances', (_req, res) => { res.json([]); });
https.createServer({ ...material(), requestCert: true, rejectUnauthorized: true }, app).listen(8443);
`;
  it('a CA bundle spread from a loader function passes SV2; no ca fails it; X509Certificate SAN passes SV3', async () => {
    await check(
      {
        'src/server.ts': server(
          "{ cert: readFileSync('/tls/tls.crt'), key: readFileSync('/tls/tls.key'), ca: readFileSync('/tls/ca.crt') }",
        ),
      },
      { SV1: 'PASS', SV2: 'PASS', SV3: 'PASS' },
    );
    await check(
      {
        'src/server.ts': server(
          "{ cert: readFileSync('/tls/tls.crt'), key: readFileSync('/tls/tls.key') }",
        ),
      },
      { SV2: 'FAIL' },
    );
  });
});

describe('whose token a verifier checks: what the code builds from the claims', () => {
  const app = (build: string) => `import express from 'express';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
const keys = createRemoteJWKSet(new URL('https://login.example.com/jwks'));
function principalOf(claims: JWTPayload) {
  return ${build};
}
const app = express();
app.use(async (req, res, next) => {
  try {
    const { payload } = await jwtVerify(req.get('authorization')?.slice(7) ?? '', keys, { algorithms: ['RS256'] });
    res.locals.principal = principalOf(payload);
    next();
  } catch { res.status(401).end(); }
});
app.get('/orders', (_req, res) => { res.json([]); });
app.listen(8080);
`;
  it("a helper building a profile with an e-mail: end users' tokens, SV10/SV11 N/A", async () => {
    await check(
      { 'src/app.ts': app('{ id: String(claims.sub), email: String(claims.email) }') },
      { SV10: 'N/A', SV11: 'N/A', SV9: 'FAIL' },
    );
  });
  it("a helper taking the client id: a calling service's token, SV10/SV11 judged", async () => {
    await check(
      { 'src/app.ts': app('{ client: String(claims.azp) }') },
      { SV10: 'FAIL', SV11: 'FAIL' },
    );
  });
});

describe('TM4: tokens reach the logs', () => {
  const stream = (logger: string) => `import express from 'express';
${logger}
const app = express();
${logger === '' ? '' : 'app.use(pinoHttp());'}
app.get('/events', (req, res) => {
  const token = typeof req.query.access_token === 'string' ? req.query.access_token : undefined;
  if (!token) return res.status(401).end();
  res.json({ ok: true });
});
app.listen(8080);
`;
  it("a query-string token with pino-http writing each request's URL", async () => {
    await check(
      { 'src/app.ts': stream("import pinoHttp from 'pino-http';") },
      { TM4: { status: 'FAIL', file: 'src/app.ts', line: 4 }, TM5: 'FAIL' },
    );
    await check({ 'src/app.ts': stream('') }, { TM4: 'PASS', TM5: 'FAIL' });
  });

  const guard = (
    log: string,
  ) => `import { CanActivate, ExecutionContext, Injectable, Logger } from '@nestjs/common';
@Injectable()
export class PartnerKeyGuard implements CanActivate {
  private readonly logger = new Logger(PartnerKeyGuard.name);
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest();
    const presented = request.headers['x-api-key'];
    if (presented !== process.env.PARTNER_KEY) {
      ${log}
      return false;
    }
    return true;
  }
}
`;
  it('a NestJS guard logging the credential header it read from getRequest()', async () => {
    await check(
      {
        'src/partner.guard.ts': guard(
          'this.logger.warn(`bad partner key ${presented} from ${request.ip}`);',
        ),
      },
      { TM4: { status: 'FAIL', file: 'src/partner.guard.ts', line: 9 } },
    );
    await check(
      { 'src/partner.guard.ts': guard('this.logger.warn(`bad partner key from ${request.ip}`);') },
      { TM4: 'PASS' },
    );
  });
});

describe('TM6 and TM8 judge the tokens this service accepts', () => {
  /** Verifies end users' JWTs, and itself mints a 5-minute token with scopes for an upstream. */
  const files = (verify: string) => ({
    'src/app.ts': `import express from 'express';
import jwt from 'jsonwebtoken';
import { readFileSync } from 'node:fs';
import axios from 'axios';
const idpKey = readFileSync('/keys/idp.pem');
const ownKey = readFileSync('/keys/own.pem');
const app = express();
app.use((req, res, next) => {
  try {
    res.locals.claims = ${verify};
    next();
  } catch { res.status(401).end(); }
});
app.post('/carts/:id/checkout', async (req, res) => {
  const token = jwt.sign({ sub: 'cart-service', scope: 'payments:charge' }, ownKey, { algorithm: 'ES256', expiresIn: '5m', audience: 'payments' });
  await axios.post(\`\${process.env.PAYMENTS_URL}/charges\`, { id: req.params.id }, { headers: { authorization: \`Bearer \${token}\` }, timeout: 2000 });
  res.status(202).end();
});
app.listen(8080);
`,
  });
  it('scopes requested for tokens it sends do not make up for checking none on tokens it accepts', async () => {
    await check(
      {
        ...files(
          "jwt.verify(req.get('authorization')?.slice(7) ?? '', idpKey, { algorithms: ['RS256'] })",
        ),
      },
      { TM6: 'FAIL', TM8: 'FAIL' },
    );
  });
  it('a scope checked on the accepted token passes TM6', async () => {
    const verify =
      "(() => { const c = jwt.verify(req.get('authorization')?.slice(7) ?? '', idpKey, { algorithms: ['RS256'] }) as { scope?: string }; if (!c.scope?.split(' ').includes('carts:write')) throw new Error('scope'); return c; })()";
    await check(files(verify), { TM6: 'PASS' });
  });
});

describe('SV4: certificates that live hours are the alternative to revocation', () => {
  const deployment = (duration: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ledger
spec:
  template:
    spec:
      volumes:
        - name: svid
          csi:
            driver: spiffe.csi.cert-manager.io
            readOnly: true
            volumeAttributes:
              spiffe.csi.cert-manager.io/duration: "${duration}"
`;
  const server = `import https from 'node:https';
import { readFileSync } from 'node:fs';
https
  .createServer({ cert: readFileSync('/svid/tls.crt'), key: readFileSync('/svid/tls.key'), ca: readFileSync('/svid/ca.crt'), requestCert: true }, (_req, res) => res.end('ok'))
  .listen(8443);
`;
  it('a 1-hour SVID from csi-driver-spiffe is PARTIAL; a 90-day one still fails', async () => {
    await check(
      { 'src/server.ts': server, 'deploy/deployment.yaml': deployment('1h') },
      { SV4: { status: 'PARTIAL', file: 'deploy/deployment.yaml', line: 14 } },
    );
    await check(
      { 'src/server.ts': server, 'deploy/deployment.yaml': deployment('2160h') },
      { SV4: 'FAIL' },
    );
  });
});

describe('confidence where a service-token row rests on an assumption', () => {
  const app = (use: string) => `import express from 'express';
import { createRemoteJWKSet, jwtVerify } from 'jose';
const keys = createRemoteJWKSet(new URL('https://idp.example.com/jwks'));
const app = express();
app.use(async (req, res, next) => {
  try {
    const { payload } = await jwtVerify(req.get('authorization')?.slice(7) ?? '', keys, { algorithms: ['ES256'] });
    ${use}
    next();
  } catch { res.status(401).end(); }
});
app.get('/stock', (_req, res) => { res.json([]); });
app.listen(8080);
`;
  it('a verifier whose token holder nothing tells is judged as a service token, with medium confidence', async () => {
    const ctx = await contextFor({ 'src/app.ts': app('res.locals.claims = payload;') });
    const sv10 = runRule(RULES, ctx, 'SV10');
    assert.equal(sv10.status, 'FAIL');
    assert.equal(sv10.confidence, 'medium');
    assert.match(sv10.confidenceReason ?? '', /judged as service tokens/);
  });
  it('a verifier that reads the client id is a service token; the rule states no doubt', async () => {
    const ctx = await contextFor({ 'src/app.ts': app('res.locals.client = payload.azp;') });
    const sv10 = runRule(RULES, ctx, 'SV10');
    assert.equal(sv10.status, 'FAIL');
    assert.equal(sv10.confidence, undefined);
  });
});
