import { contextFor, expectOutcomes, removeTempProjects, runRule } from './support/project.ts';
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { networkRules } from '../src/rules/network.ts';

after(removeTempProjects);

const check = (
  files: Record<string, string>,
  expect: Parameters<typeof expectOutcomes>[2],
): Promise<void> => expectOutcomes(networkRules, files, expect);

const SERVER = `import http from 'node:http';\nhttp.createServer((_q, s) => s.end('ok')).listen(3000);\n`;

/** A stack where the audited service (`build: .`) shares the default network with the rest. */
const FLAT_STACK = `services:
  api:
    build: .
    environment:
      BILLING_URL: http://billing:4000
  billing:
    image: acme/billing:2
  postgres:
    image: postgres:16
`;

describe('NW2/NW3/NW4/NW7: a compose file that deploys the service is read', () => {
  it('every container on the default network fails NW2, NW3, NW4 and NW7 at the service', () =>
    check(
      { 'src/server.ts': SERVER, 'docker-compose.yml': FLAT_STACK },
      {
        NW2: { status: 'FAIL', file: 'docker-compose.yml', line: 2 },
        NW3: { status: 'FAIL', file: 'docker-compose.yml', line: 2 },
        NW4: 'FAIL',
        NW7: 'FAIL',
      },
    ));

  it('networks that separate the service pass NW2; internal-only networks pass NW3/NW4', () =>
    check(
      {
        'src/server.ts': SERVER,
        'docker-compose.yml': `services:\n  api:\n    build: .\n    networks: [backend]\n  billing:\n    image: acme/billing:2\n    networks: [backend]\n  admin-ui:\n    image: acme/admin-ui:1\n    networks: [frontend]\nnetworks:\n  backend:\n    internal: true\n  frontend: {}\n`,
      },
      { NW2: 'PASS', NW3: 'PASS', NW4: 'PASS', NW7: 'PARTIAL' },
    ));

  it('a compose file headed "local development only" decides nothing', async () => {
    const ctx = await contextFor({
      'src/server.ts': SERVER,
      'docker-compose.yml': `# Local development only: dependencies for npm run dev.\n${FLAT_STACK}`,
    });
    for (const id of ['NW2', 'NW3', 'NW4', 'NW7'] as const) {
      const result = runRule(networkRules, ctx, id);
      assert.equal(result.status, 'N/A', id);
      assert.match(result.why, /local development/);
    }
  });

  it('compose beside Kubernetes manifests is local: the manifests decide', () =>
    check(
      {
        'src/server.ts': SERVER,
        'docker-compose.yml': `services:\n  api:\n    build: .\n    ports:\n      - "3000:3000"\n`,
        'k8s/deployment.yaml': `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: api:1\n`,
      },
      { NW6: 'PASS', NW2: 'FAIL' },
    ));
});

describe('NW6: the service in its own compose deployment', () => {
  it('a service the other containers call, published on the host, fails', () =>
    check(
      {
        'src/server.ts': SERVER,
        'docker-compose.yml': `services:\n  api:\n    build: .\n    ports:\n      - "3000:3000"\n  worker:\n    image: acme/worker:1\n    environment:\n      API_URL: http://api:3000\n`,
      },
      { NW6: { status: 'FAIL', file: 'docker-compose.yml', line: 5 } },
    ));

  it('the entry point published with nothing in front is PARTIAL; a gateway is PASS', async () => {
    await check(
      {
        'src/server.ts': SERVER,
        'docker-compose.yml': `services:\n  api:\n    build: .\n    ports:\n      - "3000:3000"\n    environment:\n      BILLING_URL: http://billing:4000\n  billing:\n    image: acme/billing:2\n`,
      },
      { NW6: 'PARTIAL' },
    );
    await check(
      {
        'src/server.ts': SERVER,
        'docker-compose.yml': `services:\n  edge-proxy:\n    build: .\n    ports:\n      - "443:8443"\n  billing:\n    image: acme/billing:2\n`,
      },
      { NW6: 'PASS' },
    );
  });
});

describe('NW1/NW5: the addresses the service is configured with', () => {
  it('plain URLs the compose deployment sets fail NW1 at the value', () =>
    check(
      {
        'src/server.ts': SERVER,
        'docker-compose.yml': `services:\n  api:\n    build: .\n    environment:\n      LEDGER_URL: https://ledger:8443\n      CACHE_URL: redis://cache:6379\n      CORS_ORIGINS: http://admin.example.com\n  ledger:\n    image: acme/ledger:1\n`,
      },
      { NW1: { status: 'FAIL', file: 'docker-compose.yml', line: 6 }, NW5: 'PASS' },
    ));

  it('a committed Secret holding a plain database URL fails NW1; sslmode=require does not', async () => {
    const deployment = (url: string) => ({
      'src/server.ts': SERVER,
      'k8s/app.yaml': `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: app:1\n          env:\n            - name: DATABASE_URL\n              valueFrom:\n                secretKeyRef:\n                  name: db\n                  key: url\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  url: ${url}\n`,
    });
    await check(deployment('postgres://app:pw@pg.data.svc.cluster.local:5432/app'), {
      NW1: { status: 'FAIL', file: 'k8s/app.yaml', line: 23 },
    });
    await check(
      deployment('postgres://app:pw@pg.data.svc.cluster.local:5432/app?sslmode=require'),
      { NW1: 'N/A' },
    );
  });

  it('code defaults name the backends: plain defaults are PARTIAL for NW1, internal names pass NW5', () =>
    check(
      {
        'src/config.ts': `export const config = {\n  search: process.env.SEARCH_URL ?? 'http://search:9200',\n  events: process.env.EVENTS_URL ?? 'nats://nats:4222',\n};\n`,
      },
      {
        NW1: { status: 'PARTIAL', file: 'src/config.ts', line: 2 },
        NW5: { status: 'PASS', file: 'src/config.ts', line: 2 },
      },
    ));

  it('an internal service under a public domain is PARTIAL for NW5; an external API is not counted', async () => {
    await check(
      {
        'src/config.ts': `export const config = {\n  billing: process.env.BILLING_URL ?? 'https://billing.internal.acme-corp.com',\n  search: process.env.SEARCH_URL ?? 'https://search:9200',\n};\n`,
      },
      { NW5: { status: 'PARTIAL', file: 'src/config.ts', line: 2 } },
    );
    await check(
      {
        'src/config.ts': `export const config = {\n  stripe: process.env.STRIPE_URL ?? 'https://api.stripe.com',\n  search: process.env.SEARCH_URL ?? 'https://search:9200',\n};\n`,
      },
      { NW5: 'PASS', NW1: 'N/A' },
    );
  });
});

describe('the service directory: a service in a subdirectory finds its compose entry', () => {
  const files = (build: string) => ({
    'api/pyproject.toml': `[project]\nname = "orders-api"\n`,
    'api/app/main.py': `from fastapi import FastAPI\n\napp = FastAPI()\n`,
    'docker-compose.yml': `services:\n  orders:\n    build: ${build}\n  cache:\n    image: redis:7\n`,
  });

  it('compose building ./api deploys the Python service in api/', () =>
    check(files('./api'), { NW2: { status: 'FAIL', file: 'docker-compose.yml', line: 2 } }));

  it('compose building another directory does not', () => check(files('./worker'), { NW2: 'N/A' }));
});

describe('confidence of decisions taken from a compose file', () => {
  it('compose-based findings are medium confidence with the reason; manifests decide with no note', async () => {
    const ctx = await contextFor({ 'src/server.ts': SERVER, 'docker-compose.yml': FLAT_STACK });
    const result = runRule(networkRules, ctx, 'NW2');
    assert.equal(result.confidence, 'medium');
    assert.match(result.confidenceReason ?? '', /compose file taken for the deployment/);
    const k8s = await contextFor({
      'k8s/deployment.yaml': `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: api:1\n`,
    });
    assert.equal(runRule(networkRules, k8s, 'NW2').confidence, undefined);
  });
});

describe('NW4: an egress policy with a rule open to everywhere', () => {
  const policy = (egress: string) =>
    `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: api\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n${egress}`;
  it('port 443 to 0.0.0.0/0 is PARTIAL, evidence at the rule', () =>
    check(
      {
        'k8s/policy.yaml': policy(
          `    - to:\n        - podSelector: { matchLabels: { app: db } }\n    - to:\n        - ipBlock: { cidr: 0.0.0.0/0 }\n      ports:\n        - port: 443\n`,
        ),
      },
      { NW4: { status: 'PARTIAL', file: 'k8s/policy.yaml', line: 11 } },
    ));
  it('only named destinations pass', () =>
    check(
      {
        'k8s/policy.yaml': policy(
          `    - to:\n        - podSelector: { matchLabels: { app: db } }\n`,
        ),
      },
      { NW4: 'PASS' },
    ));
});
