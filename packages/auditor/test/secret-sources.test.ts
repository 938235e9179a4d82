import { contextFor, expectOutcomes, removeTempProjects, runRule } from './support/project.ts';
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { secretSourceModel } from '../src/analysis/secrets/provenance.ts';
import { isSecretVariable } from '../src/analysis/secrets/model.ts';
import { networkRules } from '../src/rules/network.ts';
import { secretsRules } from '../src/rules/secrets.ts';

after(removeTempProjects);

const check = (
  files: Record<string, string>,
  expect: Parameters<typeof expectOutcomes>[2],
): Promise<void> => expectOutcomes(secretsRules, files, expect);

describe('secret variable names', () => {
  const cases: [string, boolean][] = [
    ['JWT_SECRET', true],
    ['DB_PASSWORD', true],
    ['GITHUB_TOKEN', true],
    ['GATEWAY_JWT_TOKEN', true],
    ['SLACK_BOT_TOKEN', true],
    ['OIDC_TOKEN_URL', false],
    ['SECRETS_REFRESH_SECONDS', false],
    ['JWT_SECRET_FILE', false],
    ['PASSWORD_HASH', false],
    ['LOG_LEVEL', false],
  ];
  for (const [name, secret] of cases) {
    it(`${name}: ${secret ? 'a secret' : 'not a secret'}`, () => {
      assert.equal(isSecretVariable(name), secret);
    });
  }
});

describe('SM1/SM3: secrets read through helpers and schemas are environment secrets', () => {
  it('a required(name) helper reading process.env[name] is an env read (SM1 FAIL, SM3 FAIL)', () =>
    check(
      {
        'src/env.ts': `export function mustGet(key: string): string {\n  const v = process.env[key];\n  if (v === undefined) throw new Error(key + ' missing');\n  return v;\n}\n`,
        'src/settings.ts': `import { mustGet } from './env';\n\nexport const settings = {\n  sessionToken: mustGet('SESSION_SIGNING_TOKEN'),\n};\n`,
      },
      {
        SM1: 'FAIL',
        SM3: { status: 'FAIL', file: 'src/settings.ts', line: 4 },
        SM7: 'FAIL',
      },
    ));

  it('a helper that reads nothing from the environment is not an env read', () =>
    check(
      {
        'src/settings.ts': `const table: Record<string, string> = { A: 'x' };\nfunction lookup(key: string): string | undefined {\n  return table[key];\n}\nexport const v = lookup('WEBHOOK_SECRET');\n`,
      },
      { SM1: 'N/A', SM3: 'N/A' },
    ));

  it('a zod schema parsed from process.env lists env secrets; numeric settings are not secrets', () =>
    check(
      {
        'src/config.ts': `import { z } from 'zod';\n\nexport const env = z\n  .object({\n    PORT: z.coerce.number().default(3000),\n    STRIPE_API_KEY: z.string().min(1),\n    CACHE_REFRESH_SECONDS: z.coerce.number().default(60),\n  })\n  .parse(process.env);\n`,
      },
      { SM3: { status: 'FAIL', file: 'src/config.ts', line: 6 } },
    ));

  it('envalid cleanEnv(process.env, spec) lists env secrets', () =>
    check(
      {
        'src/config.js': `const { cleanEnv, str } = require('envalid');\nmodule.exports = cleanEnv(process.env, {\n  NODE_ENV: str(),\n  COOKIE_SECRET: str(),\n});\n`,
      },
      { SM3: { status: 'FAIL', file: 'src/config.js', line: 4 } },
    ));

  it("NestJS configService.get('X') reads the environment", () =>
    check(
      {
        'src/auth.module.ts': `import { ConfigService } from '@nestjs/config';\nexport const jwtOptions = (config: ConfigService) => ({\n  secret: config.get<string>('JWT_SIGNING_SECRET'),\n});\n`,
      },
      { SM1: 'FAIL', SM3: { status: 'FAIL', file: 'src/auth.module.ts', line: 3 } },
    ));

  it('a project readSecret() that reads env or a *_FILE is not a secrets manager', async () => {
    const files = {
      'src/secret.ts': `import { readFileSync } from 'node:fs';\nexport function readSecret(name: string): string | undefined {\n  const path = process.env[\`\${name}_FILE\`];\n  if (path) return readFileSync(path, 'utf8').trim();\n  return process.env[name];\n}\n`,
      'src/config.ts': `import { readSecret } from './secret';\nexport const config = {\n  apiKey: readSecret('PARTNER_API_KEY'),\n  hmac: readSecret('WEBHOOK_HMAC_KEY'),\n};\n`,
    };
    await check(files, { SM1: 'FAIL', SM3: 'FAIL' });
    // The deployment mounts one as a file and sets the other from a Kubernetes Secret.
    await check(
      {
        ...files,
        'k8s/deployment.yaml': `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: partner-sync\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: partner-sync:1\n          env:\n            - name: PARTNER_API_KEY_FILE\n              value: /var/run/secrets/partner/api-key\n            - name: WEBHOOK_HMAC_KEY\n              valueFrom:\n                secretKeyRef:\n                  name: webhook\n                  key: hmac\n`,
      },
      { SM1: 'FAIL', SM3: { status: 'PARTIAL', file: 'src/config.ts', line: 4 } },
    );
  });

  it('the same helper wrapping a secrets-manager client is a fetch (SM1 PASS)', () =>
    check(
      {
        'src/secret.ts': `import { SecretClient } from '@azure/keyvault-secrets';\nimport { DefaultAzureCredential } from '@azure/identity';\nconst client = new SecretClient(process.env.KEY_VAULT_URL ?? '', new DefaultAzureCredential());\nexport async function readSecret(name: string): Promise<string | undefined> {\n  return (await client.getSecret(name)).value;\n}\n`,
        'src/config.ts': `import { readSecret } from './secret';\nexport const apiKey = () => readSecret('partner-api-key');\n`,
      },
      { SM1: 'PASS', SM3: 'PASS' },
    ));
});

describe('SM2: literal fallbacks of environment secrets', () => {
  it('process.env.X || a placeholder-looking literal is still the production secret when X is unset', () =>
    check(
      {
        'src/config.ts': `export const config = {\n  port: Number(process.env.PORT ?? 3000),\n  sessionSecret: process.env.SESSION_SECRET || 'replace-me-in-prod',\n};\n`,
      },
      { SM2: { status: 'FAIL', file: 'src/config.ts', line: 3 } },
    ));

  it('a token-named variable with a literal fallback fails too', () =>
    check(
      { 'src/config.ts': `export const jwtToken = process.env.JWT_TOKEN ?? 'local-jwt';\n` },
      { SM2: { status: 'FAIL', file: 'src/config.ts', line: 1 } },
    ));

  it('an empty fallback, or a fallback only in a development branch, is not a finding', async () => {
    await check(
      { 'src/config.ts': `export const secret = process.env.SESSION_SECRET ?? '';\n` },
      { SM2: 'PASS' },
    );
    await check(
      {
        'src/config.ts': `const dev = process.env.NODE_ENV !== 'production';\nexport const secret = dev ? process.env.SESSION_SECRET || 'dev-only' : process.env.SESSION_SECRET;\n`,
      },
      { SM2: 'PASS' },
    );
  });

  it('a zod .default() on a secret is a literal fallback', () =>
    check(
      {
        'src/env.ts': `import { z } from 'zod';\nexport const env = z.object({\n  API_TOKEN: z.string().default('token-for-local-runs'),\n}).parse(process.env);\n`,
      },
      { SM2: { status: 'FAIL', file: 'src/env.ts', line: 3 } },
    ));
});

describe('SM3 from the deployment: what compose and Kubernetes give the service', () => {
  const SERVER = `import http from 'node:http';\nhttp.createServer((_q, s) => s.end('ok')).listen(8080);\n`;

  it('a compose deployment passing a secret as an environment variable fails SM3', () =>
    check(
      {
        'src/server.ts': SERVER,
        'docker-compose.yml': `services:\n  api:\n    build: .\n    environment:\n      PAYMENT_PROVIDER_TOKEN: \${PAYMENT_PROVIDER_TOKEN}\n      LOG_LEVEL: info\n`,
      },
      { SM1: 'FAIL', SM3: { status: 'FAIL', file: 'docker-compose.yml', line: 5 } },
    ));

  it('a compose secret mounted as a file (*_FILE) passes SM3 and is PARTIAL for SM1', () =>
    check(
      {
        'src/server.ts': SERVER,
        'docker-compose.yml': `services:\n  api:\n    build: .\n    environment:\n      PAYMENT_PROVIDER_TOKEN_FILE: /run/secrets/provider_token\n    secrets:\n      - provider_token\nsecrets:\n  provider_token:\n    file: ./provider_token.txt\n`,
      },
      { SM1: 'PARTIAL', SM3: 'PASS' },
    ));

  it("another container's settings (a database image) are not the service's secrets", async () => {
    const ctx = await contextFor({
      'src/server.ts': SERVER,
      'docker-compose.yml': `services:\n  api:\n    build: .\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: \${POSTGRES_PASSWORD}\n`,
    });
    assert.deepEqual(secretSourceModel(ctx).environment, []);
  });
});

describe('SM4: CI files only', () => {
  it('a compose file is not CI configuration: SM4 N/A', () =>
    check(
      {
        'docker-compose.yml': `services:\n  api:\n    image: api\n    environment:\n      LOG_LEVEL: info\n`,
      },
      { SM4: 'N/A' },
    ));
});

describe('SM8: the secrets manager audit trail', () => {
  it('secrets from the environment: N/A (no manager to audit), not FAIL', () =>
    check({ 'src/config.ts': `export const k = process.env.PARTNER_API_KEY;\n` }, { SM8: 'N/A' }));
});

describe('SM5: secrets reaching the logs', () => {
  it('a request logger writes URLs that carry a credential accepted in the query string', () =>
    check(
      {
        'src/app.ts': `import express from 'express';\nimport morgan from 'morgan';\nconst app = express();\napp.use(morgan('combined'));\napp.get('/events', (req, res) => {\n  const key = req.query.api_key;\n  res.json({ ok: key !== undefined });\n});\napp.listen(3000);\n`,
      },
      { SM5: { status: 'FAIL', file: 'src/app.ts', line: 4 } },
    ));

  it('no credential in the query, or a logger that drops the URL, is not a finding', async () => {
    await check(
      {
        'src/app.ts': `import express from 'express';\nimport morgan from 'morgan';\nconst app = express();\napp.use(morgan('combined'));\napp.get('/items', (req, res) => {\n  res.json({ page: req.query.page });\n});\napp.listen(3000);\n`,
      },
      { SM5: 'PASS' },
    );
    await check(
      {
        'src/app.ts': `import express from 'express';\nimport pinoHttp from 'pino-http';\nconst app = express();\napp.use(pinoHttp({ redact: ['req.url', 'req.headers.authorization'] }));\napp.get('/events', (req, res) => {\n  res.json({ ok: req.query.access_token !== undefined });\n});\napp.listen(3000);\n`,
      },
      { SM5: 'PASS' },
    );
  });

  it('a credential header logged from a request obtained from the framework context', () =>
    check(
      {
        'src/api-key.guard.ts': `export class ApiKeyGuard {\n  private readonly logger = console;\n  canActivate(context: { switchToHttp(): { getRequest(): any } }): boolean {\n    const req = context.switchToHttp().getRequest();\n    const presented = req.headers['x-api-key'];\n    if (presented !== process.env.PARTNER_API_KEY) {\n      this.logger.warn(\`rejected key \${presented}\`);\n      return false;\n    }\n    return true;\n  }\n}\n`,
      },
      { SM5: { status: 'FAIL', file: 'src/api-key.guard.ts', line: 7 } },
    ));

  it('logging a variable the deployment fills from a Secret (a URL with its password)', async () => {
    const files = {
      'src/queue.ts': `import { logger } from './logger';\nexport const url = process.env.BROKER_URL ?? 'amqp://localhost';\nlogger.info({ broker: process.env.BROKER_URL }, 'connecting');\n`,
      'src/logger.ts': `import pino from 'pino';\nexport const logger = pino();\n`,
    };
    await check(files, { SM5: 'PASS' });
    await check(
      {
        ...files,
        'k8s/deployment.yaml': `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: queue\nspec:\n  template:\n    spec:\n      containers:\n        - name: queue\n          image: queue:1\n          env:\n            - name: BROKER_URL\n              valueFrom:\n                secretKeyRef:\n                  name: broker\n                  key: url\n`,
      },
      { SM5: { status: 'FAIL', file: 'src/queue.ts', line: 3 } },
    );
  });
});

describe('SM6: a secret read by a shared workspace package', () => {
  const workspace = (users: readonly string[]) => ({
    'package.json': JSON.stringify({
      name: 'acme',
      private: true,
      workspaces: ['apps/*', 'libs/*'],
    }),
    'libs/service-auth/package.json': JSON.stringify({ name: '@acme/service-auth' }),
    'libs/service-auth/src/index.ts': `import jwt from 'jsonwebtoken';\nexport const verifyCaller = (token: string) => jwt.verify(token, process.env.SERVICE_AUTH_SECRET ?? '');\n`,
    ...Object.fromEntries(
      users.flatMap((app) => [
        [
          `apps/${app}/package.json`,
          JSON.stringify({ name: `@acme/${app}`, dependencies: { '@acme/service-auth': '*' } }),
        ],
        [
          `apps/${app}/src/server.ts`,
          `import { verifyCaller } from '@acme/service-auth';\nexport const check = verifyCaller;\n`,
        ],
      ]),
    ),
  });

  it('several packages depending on it: one secret for all of them (FAIL)', () =>
    check(workspace(['billing', 'shipping']), {
      SM6: { status: 'FAIL', file: 'libs/service-auth/src/index.ts', line: 2 },
    }));

  it('a library only one package uses is no evidence of sharing (N/A)', () =>
    check(workspace(['billing']), { SM6: 'N/A' }));
});

describe('SM4: values that say they are not secrets', () => {
  it('a CI test job with a value named for testing passes', () =>
    check(
      {
        '.github/workflows/ci.yml': `name: ci\non: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    env:\n      OAUTH_CLIENT_SECRET: test-only-not-a-secret\n    steps:\n      - run: npm test\n`,
      },
      { SM4: 'PASS' },
    ));

  it('a real-looking value in the same place still fails', () =>
    check(
      {
        '.github/workflows/ci.yml': `name: ci\non: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    env:\n      OAUTH_CLIENT_SECRET: q8Zr1x-Lm29vB7tK\n    steps:\n      - run: npm test\n`,
      },
      { SM4: { status: 'FAIL', file: '.github/workflows/ci.yml', line: 7 } },
    ));
});

describe('Python services feed the same secret model', () => {
  const SETTINGS = `from pydantic_settings import BaseSettings\n\n\nclass Settings(BaseSettings):\n    LEDGER_URL: str = "http://ledger:9000"\n    PARTNER_API_KEY: str\n\n\nsettings = Settings()\n`;

  it('a pydantic settings secret is an environment secret (SM7 FAIL); a URL default is an address', async () => {
    const ctx = await contextFor({
      'pyproject.toml': `[project]\nname = "ledger-client"\ndependencies = ["pydantic-settings"]\n`,
      'app/config.py': SETTINGS,
    });
    const model = secretSourceModel(ctx);
    assert.deepEqual(
      model.environment.map((e) => [e.name, e.evidence[0]?.file, e.evidence[0]?.line]),
      [['PARTNER_API_KEY', 'app/config.py', 6]],
    );
    assert.equal(runRule(secretsRules, ctx, 'SM7').status, 'FAIL');
    assert.equal(runRule(networkRules, ctx, 'NW5').status, 'PASS');
    assert.equal(runRule(networkRules, ctx, 'NW1').status, 'PARTIAL');
  });

  it('settings without secrets: nothing in the model', async () => {
    const ctx = await contextFor({
      'pyproject.toml': `[project]\nname = "ledger-client"\n`,
      'app/config.py': `from pydantic_settings import BaseSettings\n\n\nclass Settings(BaseSettings):\n    LOG_LEVEL: str = "info"\n`,
    });
    assert.deepEqual(secretSourceModel(ctx).environment, []);
    assert.equal(runRule(secretsRules, ctx, 'SM7').status, 'N/A');
  });
});

describe('confidence of SM1 decided from an absence', () => {
  it('no secrets-manager client found: FAIL with medium confidence and the reason', async () => {
    const ctx = await contextFor({
      'src/config.ts': `export const k = process.env.PARTNER_API_KEY;\n`,
    });
    const result = runRule(secretsRules, ctx, 'SM1');
    assert.equal(result.status, 'FAIL');
    assert.equal(result.confidence, 'medium');
    assert.match(result.confidenceReason ?? '', /absence of secrets-manager clients/);
  });
});

describe('SM7: secrets re-read from the manager while running', () => {
  const STORE = `import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';\nconst client = new SecretsManagerClient({});\nconst values = new Map<string, string>();\nasync function load(id: string) {\n  const out = await client.send(new GetSecretValueCommand({ SecretId: id }));\n  values.set(id, out.SecretString ?? '');\n}\nexport function start(ids: string[]) {\n  setInterval(() => ids.forEach((id) => void load(id)), 300_000);\n}\n`;
  it('a timer re-reading them and a documented rotation schedule pass', () =>
    check(
      {
        'src/secrets.ts': STORE,
        'docs/secrets.md': `# Secrets\n\nSecrets Manager rotates the database password every 30 days.\n`,
      },
      { SM7: { status: 'PASS', file: 'src/secrets.ts', line: 9 } },
    ));
  it('without a documented rotation it stays PARTIAL', () =>
    check({ 'src/secrets.ts': STORE }, { SM7: 'PARTIAL' }));
});
