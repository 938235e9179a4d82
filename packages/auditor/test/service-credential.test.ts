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
