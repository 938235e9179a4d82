import {
  expectOutcomes,
  removeTempProjects,
  type Expectation,
  type Files,
} from './support/project.ts';
import { after, describe, it } from 'node:test';
import type { CheckId } from '../src/model.ts';
import type { RuleSet } from '../src/rules/rule.ts';
import { serviceClientRules } from '../src/rules/service-client.ts';

after(removeTempProjects);

const RULES: RuleSet = { ...serviceClientRules };

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
